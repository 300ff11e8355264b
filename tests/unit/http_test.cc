// The HTTP front door's pure parts: routing, query strings, base64, UTF-8, gzip bounds,
// stream positions, and the consumer protocol the HTTP consumers speak to groups.

#include <gtest/gtest.h>

#include "broker/consumer_protocol.h"
#include "http/encoding.h"
#include "http/gzip.h"
#include "http/router.h"
#include "http/stream.h"
#include "http/webhooks.h"

namespace {

TEST(HttpRouter, MatchesPatternsAndDecodesPathParameters) {
  auto r = http::make_router();
  auto m = r.find("GET", "/v1/topics/my%20topic/partitions/3/records");
  ASSERT_NE(m.found, nullptr);
  EXPECT_EQ(m.found->pattern, "/v1/topics/{topic}/partitions/{partition}/records");
  EXPECT_EQ(m.params.at("topic"), "my topic");
  EXPECT_EQ(m.params.at("partition"), "3");
  // HEAD is served by GET routes.
  EXPECT_NE(r.find("HEAD", "/v1/topics").found, nullptr);
}

TEST(HttpRouter, NamesTheMethodsAPathHasWhenTheMethodIsWrong) {
  auto r = http::make_router();
  auto m = r.find("PUT", "/v1/topics");
  EXPECT_EQ(m.found, nullptr);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "POST"}));
  auto none = r.find("GET", "/v1/nothing/here");
  EXPECT_EQ(none.found, nullptr);
  EXPECT_TRUE(none.allowed.empty());
}

TEST(HttpRouter, RefusesEscapesThatHideSlashesOrAreMalformed) {
  EXPECT_FALSE(http::split_path("/v1/topics/a%2Fb").has_value());
  EXPECT_FALSE(http::split_path("/v1/topics/a%00").has_value());
  EXPECT_FALSE(http::split_path("/v1/topics/%zz").has_value());
  EXPECT_FALSE(http::split_path("/v1/topics/%4").has_value());
  EXPECT_EQ(http::make_router().find("GET", "/v1/topics/a%2Fb").found, nullptr);
}

TEST(HttpRouter, EveryRouteHasAHandlerAndASummary) {
  auto r = http::make_router();
  for (const auto& route : r.routes()) {
    EXPECT_NE(route.fn, nullptr) << route.pattern;
    EXPECT_FALSE(route.summary.empty()) << route.pattern;
    // A route is found by its own pattern (with sample parameters).
    std::string path;
    bool in_param = false;
    for (char c : route.pattern) {
      if (c == '{') {
        in_param = true;
        path += '1';
      } else if (c == '}') {
        in_param = false;
      } else if (!in_param) {
        path += c;
      }
    }
    auto m = r.find(route.method, path);
    ASSERT_NE(m.found, nullptr) << route.method << " " << path;
  }
}

TEST(HttpQuery, ParsesPairsAndPlusAndEscapes) {
  auto q = http::parse_query("a=1&b=two+words&c=%41%42&flag&=x");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("a"), "1");
  EXPECT_EQ(q->at("b"), "two words");
  EXPECT_EQ(q->at("c"), "AB");
  EXPECT_EQ(q->at("flag"), "");
  EXPECT_FALSE(http::parse_query("a=%G1").has_value());
}

TEST(HttpEncoding, Base64RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes.push_back(static_cast<char>(i * 37));
    auto back = http::base64_decode(http::base64_encode(bytes));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(http::base64_encode("hello"), "aGVsbG8=");
}

TEST(HttpEncoding, Base64RefusesWhatIsNotStrictBase64) {
  for (const char* bad : {"a", "abc", "ab=c", "a===", "====", "ab!d", "aGVsbG8",
                          "aGVs bG8=", "aGVsbG8=aGVs", "QR==", "QUJ="}) {
    EXPECT_FALSE(http::base64_decode(bad).has_value()) << bad;
  }
  EXPECT_EQ(http::base64_decode(""), std::string());
}

TEST(HttpEncoding, Utf8ChecksOverlongsSurrogatesAndTruncation) {
  EXPECT_TRUE(http::valid_utf8("plain"));
  EXPECT_TRUE(http::valid_utf8("\xe4\xb8\xad\xe6\x96\x87"));  // 中文
  EXPECT_TRUE(http::valid_utf8("\xf0\x9f\x98\x80"));          // an emoji
  EXPECT_FALSE(http::valid_utf8("\xc0\xaf"));                 // overlong '/'
  EXPECT_FALSE(http::valid_utf8("\xed\xa0\x80"));             // a surrogate
  EXPECT_FALSE(http::valid_utf8("\xe4\xb8"));                 // cut short
  EXPECT_FALSE(http::valid_utf8("\xff"));
  EXPECT_FALSE(http::valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(HttpGzip, InflatesWithinTheBoundAndRefusesBombs) {
  const std::string text(100000, 'x');
  const std::string packed = http::gzip(text);
  EXPECT_LT(packed.size(), 1000u);
  EXPECT_EQ(http::gunzip(packed, 100000), text);
  EXPECT_FALSE(http::gunzip(packed, 99999).has_value());  // one byte over the bound
  EXPECT_FALSE(http::gunzip(packed.substr(0, packed.size() / 2), 1 << 20).has_value());
  EXPECT_FALSE(http::gunzip("not gzip at all", 1 << 20).has_value());
}

TEST(HttpStream, PositionsRoundTripAndRefuseNonsense) {
  std::map<int32_t, int64_t> p = {{0, 15}, {1, 7}, {12, 0}};
  EXPECT_EQ(http::format_positions(p), "0:15,1:7,12:0");
  EXPECT_EQ(http::parse_positions("0:15,1:7,12:0"), p);
  for (const char* bad : {"", "0", "0:", ":1", "0:-1", "-1:0", "a:b", "0:1,,1:2", "0:1x"}) {
    EXPECT_FALSE(http::parse_positions(bad).has_value()) << bad;
  }
}

TEST(ConsumerProtocol, SubscriptionAndAssignmentRoundTrip) {
  const std::vector<std::string> topics = {"orders", "payments"};
  EXPECT_EQ(broker::decode_subscription(broker::encode_subscription(topics)), topics);
  const broker::partition_assignment a = {{"orders", {0, 1}}, {"payments", {3}}};
  EXPECT_EQ(broker::decode_assignment(broker::encode_assignment(a)), a);
  EXPECT_EQ(broker::decode_assignment({}), broker::partition_assignment{});
}

TEST(ConsumerProtocol, ReadsTheVersionsKafkaClientsSend) {
  // A version 1 subscription (owned partitions after the user data), as the Java client
  // sends it: topics ["t"], null user data, owned [("t", [2])].
  const std::vector<uint8_t> v1 = {0, 1, 0, 0, 0, 1,   0, 1, 't', 0xff, 0xff, 0xff, 0xff, 0,
                                   0, 0, 1, 0, 1, 't', 0, 0, 0,   1,    0,    0,    0,    2};
  EXPECT_EQ(broker::decode_subscription(v1), (std::vector<std::string>{"t"}));
}

TEST(ConsumerProtocol, GarbageDoesNotParse) {
  const std::vector<uint8_t> huge_count = {0, 0, 0x7f, 0xff, 0xff, 0xff};
  EXPECT_FALSE(broker::decode_subscription(huge_count).has_value());
  EXPECT_FALSE(broker::decode_assignment(huge_count).has_value());
  const std::vector<uint8_t> cut = {0, 0, 0, 0, 0, 1, 0, 5, 'a'};
  EXPECT_FALSE(broker::decode_subscription(cut).has_value());
  EXPECT_FALSE(broker::decode_assignment(cut).has_value());
}

TEST(ConsumerProtocol, RangeAssignorSplitsLikeKafkaClients) {
  // 5 partitions over 2 members: the first (by member id) gets 3, the second 2.
  auto a =
      broker::assign_range({{"b-member", {"t"}}, {"a-member", {"t", "u"}}}, {{"t", 5}, {"u", 2}});
  EXPECT_EQ(a["a-member"]["t"], (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(a["b-member"]["t"], (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(a["a-member"]["u"], (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(a["b-member"].count("u"), 0u);
  // More members than partitions: the last ones get nothing, but are in the answer.
  auto b = broker::assign_range({{"m1", {"t"}}, {"m2", {"t"}}, {"m3", {"t"}}}, {{"t", 2}});
  EXPECT_EQ(b.size(), 3u);
  EXPECT_TRUE(b["m3"].empty());
}

}  // namespace

TEST(HttpWebhooks, UrlsAreHttpWithAHostAndAPort) {
  auto u = http::parse_webhook_url("http://hooks.example:8080/in/x?y=1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "hooks.example");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/in/x?y=1");
  u = http::parse_webhook_url("http://h");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  std::string why;
  for (const char* bad : {"https://h/", "ftp://h/", "http://", "http://:80/", "http://h:0/",
                          "http://h:65536/", "http://h:8a/", "http://u@h/", "h:80"}) {
    EXPECT_FALSE(http::parse_webhook_url(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(HttpWebhooks, SignaturesAreHmacSha256InHex) {
  // RFC 4231 test case 2.
  EXPECT_EQ(http::webhook_signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
