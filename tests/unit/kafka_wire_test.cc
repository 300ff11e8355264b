#include "kafka/protocol/wire.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kafka/protocol/generated/api_table.h"
#include "kafka/protocol/generated/api_versions_request.h"
#include "kafka/protocol/generated/api_versions_response.h"
#include "kafka/protocol/generated/metadata_request.h"
#include "kafka/protocol/generated/produce_request.h"
#include "kafka/protocol/generated/request_header.h"
#include "kafka/protocol/generated/response_header.h"
#include "test_dir.h"

namespace {

using namespace kafka::protocol;
using bytes = std::vector<uint8_t>;

bytes linear(const base::iobuf& b) {
  auto v = b.linearize();
  EXPECT_TRUE(v.has_value());
  return v ? *v : bytes{};
}

template <typename F>
bytes written(F&& write) {
  base::iobuf out;
  writer w(out);
  write(w);
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.written(), out.size());
  return linear(out);
}

template <typename T>
bytes encoded(const T& message, int16_t version) {
  return written([&](writer& w) { message.encode(w, version); });
}

// ---- reader primitives ----

TEST(KafkaWire, ReadsBigEndianIntegers) {
  const bytes in = {0x81, 0x01, 0x02, 0x80, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff,
                    0xff, 0xff, 0xff, 0xfe, 0xfe, 0xdc, 0xba, 0x98, 0x01, 0x00};
  reader r(in);
  EXPECT_EQ(r.read_int8(), -127);
  EXPECT_EQ(r.read_int16(), 0x0102);
  EXPECT_EQ(r.read_int32(), static_cast<int32_t>(0x80000001u));
  EXPECT_EQ(r.read_int64(), -2);
  EXPECT_EQ(r.read_uint32(), 0xfedcba98u);
  EXPECT_EQ(r.position(), 19u);
  EXPECT_TRUE(r.read_bool());
  EXPECT_FALSE(r.read_bool());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(KafkaWire, WritesWhatItReads) {
  uuid id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i + 1);
  const bytes out = written([&](writer& w) {
    w.write_int8(-5);
    w.write_int16(-300);
    w.write_uint16(0xfeed);
    w.write_int32(0x01020304);
    w.write_uint32(0xdeadbeef);
    w.write_int64(INT64_MIN);
    w.write_float64(-1.25);
    w.write_bool(true);
    w.write_uuid(id);
  });
  ASSERT_EQ(out.size(), 1u + 2 + 2 + 4 + 4 + 8 + 8 + 1 + 16);
  EXPECT_EQ(out[5], 0x01);
  EXPECT_EQ(out[8], 0x04);
  reader r(out);
  EXPECT_EQ(r.read_int8(), -5);
  EXPECT_EQ(r.read_int16(), -300);
  EXPECT_EQ(r.read_uint16(), 0xfeed);
  EXPECT_EQ(r.read_int32(), 0x01020304);
  EXPECT_EQ(r.read_uint32(), 0xdeadbeefu);
  EXPECT_EQ(r.read_int64(), INT64_MIN);
  EXPECT_EQ(r.read_float64(), -1.25);
  EXPECT_TRUE(r.read_bool());
  EXPECT_EQ(r.read_uuid(), id);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(KafkaWire, Varints) {
  const bytes out = written([](writer& w) {
    w.write_unsigned_varint(300);
    w.write_varint(-1);
    w.write_varlong(INT64_MIN);
    w.write_unsigned_varint(UINT32_MAX);
  });
  EXPECT_EQ(out[0], 0xac);
  EXPECT_EQ(out[1], 0x02);
  EXPECT_EQ(out[2], 0x01);
  reader r(out);
  EXPECT_EQ(r.read_unsigned_varint(), 300u);
  EXPECT_EQ(r.read_varint(), -1);
  EXPECT_EQ(r.read_varlong(), INT64_MIN);
  EXPECT_EQ(r.read_unsigned_varint(), UINT32_MAX);
  EXPECT_TRUE(r.ok());

  // Six bytes are too many for a 32-bit varint even when the value would be small.
  const bytes too_long = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  reader r2(too_long);
  EXPECT_EQ(r2.read_unsigned_varint(), 0u);
  EXPECT_FALSE(r2.ok());
  // A fifth byte may only carry the top four bits.
  const bytes overflow = {0xff, 0xff, 0xff, 0xff, 0x1f};
  reader r3(overflow);
  r3.read_unsigned_varint();
  EXPECT_FALSE(r3.ok());
  const bytes truncated = {0x80};
  reader r4(truncated);
  r4.read_varint();
  EXPECT_FALSE(r4.ok());
}

TEST(KafkaWire, ClassicAndCompactStrings) {
  const bytes out = written([](writer& w) {
    w.write_string("abc");
    w.write_nullable_string(std::nullopt);
    w.write_compact_string("abc");
    w.write_compact_nullable_string(std::nullopt);
    w.write_compact_string("");
  });
  const bytes expected = {0x00, 0x03, 'a', 'b', 'c', 0xff, 0xff, 0x04, 'a', 'b', 'c', 0x00, 0x01};
  EXPECT_EQ(out, expected);
  reader r(out);
  EXPECT_EQ(r.read_string(), "abc");
  EXPECT_EQ(r.read_nullable_string(), std::nullopt);
  EXPECT_EQ(r.read_compact_string(), "abc");
  EXPECT_EQ(r.read_compact_nullable_string(), std::nullopt);
  EXPECT_EQ(r.read_compact_nullable_string(), std::optional<std::string>(""));
  EXPECT_TRUE(r.ok());
}

TEST(KafkaWire, NullMarkerWhereNotNullableFails) {
  const bytes classic = {0xff, 0xff};
  reader r1(classic);
  EXPECT_EQ(r1.read_string(), "");
  EXPECT_FALSE(r1.ok());
  const bytes compact = {0x00};
  reader r2(compact);
  r2.read_compact_bytes();
  EXPECT_FALSE(r2.ok());
  const bytes null_bytes = {0xff, 0xff, 0xff, 0xff};
  reader r3(null_bytes);
  r3.read_bytes();
  EXPECT_FALSE(r3.ok());
}

TEST(KafkaWire, NegativeLengthsOtherThanNullFail) {
  const bytes minus_two = {0xff, 0xfe, 'a', 'b'};
  reader r1(minus_two);
  r1.read_nullable_string();
  EXPECT_FALSE(r1.ok());
  const bytes bytes_minus_two = {0xff, 0xff, 0xff, 0xfe};
  reader r2(bytes_minus_two);
  r2.read_nullable_bytes();
  EXPECT_FALSE(r2.ok());
  reader r3(bytes_minus_two);
  r3.read_records();
  EXPECT_FALSE(r3.ok());
  reader r4(bytes_minus_two);
  r4.read_array_count();
  EXPECT_FALSE(r4.ok());
}

TEST(KafkaWire, LengthBeyondInputFails) {
  const bytes in = {0x00, 0x05, 'a', 'b'};
  reader r(in);
  EXPECT_EQ(r.read_string(), "");
  EXPECT_FALSE(r.ok());
  const bytes compact = {0x06, 'a', 'b'};
  reader r2(compact);
  r2.read_compact_string();
  EXPECT_FALSE(r2.ok());
}

TEST(KafkaWire, FailureIsSticky) {
  const bytes in = {0x00, 0x01, 0x02};
  reader r(in);
  EXPECT_EQ(r.read_int32(), 0);  // only three bytes
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.read_int8(), 0);  // a byte is there, but the reader has failed
  EXPECT_EQ(r.read_int16(), 0);
  EXPECT_EQ(r.read_compact_string(), "");
  EXPECT_EQ(r.read_raw(1).size(), 0u);
  EXPECT_FALSE(r.ok());
}

TEST(KafkaWire, ArrayCounts) {
  const bytes in = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02};
  reader r(in);
  EXPECT_EQ(r.read_array_count(), -1);
  EXPECT_EQ(r.read_array_count(1), 2);
  EXPECT_TRUE(r.ok());
  // Two elements of at least two bytes each do not fit in the two bytes left.
  reader r2(in);
  r2.read_array_count();
  EXPECT_EQ(r2.read_array_count(2), 0);
  EXPECT_FALSE(r2.ok());

  const bytes compact = {0x00, 0x03, 0xaa, 0xbb};
  reader r3(compact);
  EXPECT_EQ(r3.read_compact_array_count(), -1);
  EXPECT_EQ(r3.read_compact_array_count(), 2);
  EXPECT_TRUE(r3.ok());
}

TEST(KafkaWire, HugeArrayCountWithTinyBufferFailsWithoutAllocating) {
  // Produce v3: null transactional id, acks, timeout, then a topic count of INT32_MAX.
  const bytes in = {0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe8, 0x7f, 0xff, 0xff, 0xff, 0x00};
  produce_request p;
  reader r(in);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.decode(r, 3));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(p.topic_data.capacity(), 0u);

  // The same in a flexible version: compact count UINT32_MAX.
  const bytes flex = {0x00, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff, 0x0f};
  produce_request p2;
  reader r2(flex);
  EXPECT_FALSE(p2.decode(r2, 9));
  EXPECT_EQ(p2.topic_data.capacity(), 0u);

  // A huge string length fails the same way.
  const bytes str = {0xff, 0xff, 0xff, 0xff, 0x0f, 'x'};
  reader r3(str);
  EXPECT_EQ(r3.read_compact_string(), "");
  EXPECT_FALSE(r3.ok());
}

TEST(KafkaWire, RecordsViewPointsIntoInput) {
  const bytes in = {0x00, 0x00, 0x00, 0x03, 0x0a, 0x0b, 0x0c,
                    0xff, 0xff, 0xff, 0xff, 0x00, 0x02, 0x09};
  reader r(in);
  records a = r.read_records();
  EXPECT_FALSE(a.is_null);
  EXPECT_EQ(a.view.data(), in.data() + 4);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_TRUE(a.data.empty());
  records b = r.read_records();
  EXPECT_TRUE(b.is_null);
  records c = r.read_compact_records();
  EXPECT_TRUE(c.is_null);
  records d = r.read_compact_records();
  EXPECT_EQ(d.view.data(), in.data() + 13);
  EXPECT_EQ(d.size(), 1u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(KafkaWire, RecordsDataKeepsFileRanges) {
  riptide::testing::temp_dir dir;
  auto f = base::file::open(dir.path() / "segment", base::file::mode::create_read_write);
  ASSERT_TRUE(f);
  const bytes content = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE((*f)->pwrite_all(content, 0));

  records rec;
  rec.data.append_file_range(*f, 2, 5);
  rec.view = content;  // ignored: data wins
  base::iobuf out;
  writer w(out);
  w.write_records(rec);
  w.write_compact_records(rec);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(out.size(), 4u + 5 + 1 + 5);
  size_t file_fragments = 0;
  for (const auto& frag : out.fragments()) {
    file_fragments += std::holds_alternative<base::file_fragment>(frag) ? 1 : 0;
  }
  EXPECT_EQ(file_fragments, 2u);
  EXPECT_EQ(rec.data.size(), 5u);  // the source stays intact
  const bytes expected = {0, 0, 0, 5, 3, 4, 5, 6, 7, 6, 3, 4, 5, 6, 7};
  EXPECT_EQ(linear(out), expected);
}

TEST(KafkaWire, RecordsEquality) {
  const bytes content = {1, 2, 3};
  records a;
  a.view = content;
  records b;
  b.data.append(std::span<const uint8_t>(content));
  EXPECT_TRUE(a == b);
  const bytes other = {1, 2, 4};
  records c;
  c.view = other;
  EXPECT_FALSE(a == c);
  records null;
  null.is_null = true;
  EXPECT_FALSE(null == records{});
}

TEST(KafkaWire, WriterRejectsUnrepresentableValues) {
  base::iobuf out;
  writer w(out);
  w.write_string(std::string(40000, 'x'));
  EXPECT_FALSE(w.ok());
  // The bad value became an empty string so the frame stays parseable.
  const bytes expected = {0x00, 0x00};
  EXPECT_EQ(linear(out), expected);
}

TEST(KafkaWire, SubReaderAndTaggedSkip) {
  // Two tagged fields: tag 1 with 3 bytes, tag 40 with 0 bytes; then one more byte.
  const bytes in = {0x02, 0x01, 0x03, 0xaa, 0xbb, 0xcc, 0x28, 0x00, 0x7e};
  reader r(in);
  r.skip_tagged_fields();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.read_int8(), 0x7e);

  const bytes short_field = {0x01, 0x01, 0x05, 0xaa};
  reader r2(short_field);
  r2.skip_tagged_fields();
  EXPECT_FALSE(r2.ok());

  reader r3(in);
  reader sub = r3.sub_reader(4);
  EXPECT_EQ(sub.remaining(), 4u);
  EXPECT_EQ(r3.position(), 4u);
  reader too_far = r3.sub_reader(100);
  EXPECT_FALSE(too_far.ok());
  EXPECT_FALSE(r3.ok());
}

// ---- generated messages: versions, nullability, tagged fields ----

TEST(KafkaWire, RequestHeaderVersions) {
  request_header h;
  h.request_api_key = 18;
  h.request_api_version = 3;
  h.correlation_id = 7;
  h.client_id = "kcat";
  // v2 keeps the int16-length client id, then an empty tagged-field section.
  const bytes v2 = {0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07,
                    0x00, 0x04, 'k',  'c',  'a',  't',  0x00};
  EXPECT_EQ(encoded(h, 2), v2);
  const bytes v1(v2.begin(), v2.end() - 1);
  EXPECT_EQ(encoded(h, 1), v1);
  const bytes v0(v2.begin(), v2.begin() + 8);
  EXPECT_EQ(encoded(h, 0), v0);

  request_header d;
  reader r(v2);
  ASSERT_TRUE(d.decode(r, 2));
  EXPECT_EQ(d, h);
  h.client_id = std::nullopt;
  const bytes null_id = {0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 0xff, 0xff};
  EXPECT_EQ(encoded(h, 1), null_id);
}

TEST(KafkaWire, HeaderVersionRules) {
  EXPECT_EQ(request_header_version(18, 3), 2);
  EXPECT_EQ(request_header_version(18, 2), 1);
  EXPECT_EQ(request_header_version(18, 4), 2);  // newer than we know: still flexible
  EXPECT_EQ(request_header_version(0, 8), 1);
  EXPECT_EQ(request_header_version(0, 9), 2);
  EXPECT_EQ(request_header_version(3, 9), 2);
  EXPECT_EQ(request_header_version(7, 0), 0);  // ControlledShutdown v0
  EXPECT_EQ(request_header_version(7, 1), 1);
  EXPECT_EQ(request_header_version(17, 1), 1);  // SaslHandshake is never flexible
  EXPECT_EQ(response_header_version(0, 9), 1);
  EXPECT_EQ(response_header_version(0, 8), 0);
  EXPECT_EQ(response_header_version(1, 12), 1);
  // ApiVersions responses always use header v0, even for flexible v3.
  EXPECT_EQ(response_header_version(18, 3), 0);
  EXPECT_EQ(response_header_version(18, 0), 0);

  response_header h;
  h.correlation_id = 1;
  EXPECT_EQ(encoded(h, 0), (bytes{0, 0, 0, 1}));
  EXPECT_EQ(encoded(h, 1), (bytes{0, 0, 0, 1, 0}));
}

TEST(KafkaWire, ApiTable) {
  auto apis = generated_apis();
  ASSERT_EQ(apis.size(), 34u);
  for (size_t i = 1; i < apis.size(); ++i) EXPECT_LT(apis[i - 1].key, apis[i].key);
  EXPECT_EQ(apis[0].key, 0);
  EXPECT_EQ(apis[0].name, "Produce");
  EXPECT_EQ(apis[0].first_flexible_version, produce_request::first_flexible_version);
  bool found = false;
  for (const auto& a : apis) {
    if (a.key != api_versions_request::api_key) continue;
    found = true;
    EXPECT_EQ(a.name, "ApiVersions");
    EXPECT_EQ(a.min_version, 0);
    EXPECT_EQ(a.max_version, api_versions_request::max_version);
    EXPECT_EQ(a.first_flexible_version, 3);
  }
  EXPECT_TRUE(found);
  for (const auto& a : apis) {
    if (a.name == "SaslHandshake") {
      EXPECT_EQ(a.first_flexible_version, -1);
    }
  }
}

TEST(KafkaWire, UnknownTaggedFieldsAreSkipped) {
  // ApiVersions response v3: error 0, one api key, throttle, then three tagged fields:
  // unknown tag 9 (2 bytes), known tag 1 (FinalizedFeaturesEpoch, int64) and unknown 200.
  const bytes in = {0x00, 0x00,                                      // error code
                    0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x03, 0x00,  // [ApiVersions 0-3]
                    0x00, 0x00, 0x00, 0x00,                          // throttle
                    0x03,                                            // three tags
                    0x09, 0x02, 0xde, 0xad,                          // tag 9
                    0x01, 0x08, 0,    0,    0,    0,    0,    0,    0x01, 0x02,  // tag 1
                    0xc8, 0x01, 0x00};                                           // tag 200, empty
  api_versions_response resp;
  reader r(in);
  ASSERT_TRUE(resp.decode(r, 3));
  EXPECT_EQ(r.remaining(), 0u);
  ASSERT_EQ(resp.api_keys.size(), 1u);
  EXPECT_EQ(resp.api_keys[0].api_key, 18);
  EXPECT_EQ(resp.api_keys[0].max_version, 3);
  EXPECT_EQ(resp.finalized_features_epoch, 0x0102);
  // Re-encoding keeps the known tag and drops the unknown ones.
  const bytes again = encoded(resp, 3);
  EXPECT_EQ(again.size(), in.size() - 4 - 3);

  // A known tag whose size does not match its content is malformed.
  bytes bad = in;
  bad[20] = 0x07;  // tag 1 claims 7 bytes, but an int64 needs 8
  api_versions_response resp2;
  reader r2(bad);
  EXPECT_FALSE(resp2.decode(r2, 3));
}

TEST(KafkaWire, TaggedFieldsWrittenOnlyWhenNotDefault) {
  api_versions_response resp;
  EXPECT_EQ(encoded(resp, 3), (bytes{0, 0, 0x01, 0, 0, 0, 0, 0x00}));
  resp.zk_migration_ready = true;
  resp.finalized_features_epoch = 5;
  const bytes out = encoded(resp, 3);
  // Tags in ascending order: 1 (epoch) before 3 (zk migration).
  const bytes tail = {0x02, 0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 5, 0x03, 0x01, 0x01};
  ASSERT_GE(out.size(), tail.size());
  EXPECT_EQ(bytes(out.end() - static_cast<ptrdiff_t>(tail.size()), out.end()), tail);
  // Versions before 3 have no tagged section at all.
  EXPECT_EQ(encoded(resp, 2).size(), 2u + 4 + 4);
}

TEST(KafkaWire, NullabilityFollowsTheVersion) {
  // Metadata v0: the topic array may not be null; from v1 null means "all topics".
  const bytes null_array = {0xff, 0xff, 0xff, 0xff};
  metadata_request m0;
  reader r0(null_array);
  EXPECT_FALSE(m0.decode(r0, 0));
  metadata_request m1;
  reader r1(null_array);
  ASSERT_TRUE(m1.decode(r1, 1));
  EXPECT_FALSE(m1.topics.has_value());
  // Encoding null where the version cannot express it sends an empty array instead.
  metadata_request none;
  none.topics = std::nullopt;
  EXPECT_EQ(encoded(none, 1), null_array);
  EXPECT_EQ(encoded(none, 0), (bytes{0, 0, 0, 0}));
  // Default-constructed: an empty (not null) array, as Kafka's default.
  EXPECT_EQ(encoded(metadata_request{}, 1), (bytes{0, 0, 0, 0}));
}

TEST(KafkaWire, FieldsAbsentInAVersionKeepDefaults) {
  metadata_request m;
  m.topics->emplace_back().name = "t";
  m.allow_auto_topic_creation = false;  // v4+
  const bytes v3 = encoded(m, 3);
  EXPECT_EQ(v3, (bytes{0, 0, 0, 1, 0, 1, 't'}));
  metadata_request back;
  reader r(v3);
  ASSERT_TRUE(back.decode(r, 3));
  EXPECT_TRUE(back.allow_auto_topic_creation);  // the schema's default
  EXPECT_EQ(encoded(m, 4).size(), v3.size() + 1);
}

TEST(KafkaWire, UnsupportedVersionFails) {
  const bytes in = {0, 0, 0, 0};
  metadata_request m;
  reader r(in);
  EXPECT_FALSE(m.decode(r, metadata_request::max_version + 1));
  EXPECT_FALSE(r.ok());
  base::iobuf out;
  writer w(out);
  m.encode(w, -1);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(out.size(), 0u);
}

}  // namespace
