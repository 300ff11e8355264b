#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "auth/scram.h"
#include "auth/users.h"
#include "base/base64.h"
#include "base/file.h"
#include "test_dir.h"

namespace {

using auth::scram_mechanism;

// RFC 7677, section 3: user "user", password "pencil".
constexpr const char* kSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr const char* kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

auth::scram_credential rfc_credential() {
  const std::string salt = *base::base64_decode(kSalt);
  return auth::credential_from_salted(
      scram_mechanism::sha256, salt, 4096,
      auth::salted_password(scram_mechanism::sha256, "pencil", salt, 4096));
}

auth::credential_lookup only(const std::string& name, auth::scram_credential c) {
  return [name, c](const std::string& user,
                   scram_mechanism m) -> std::optional<auth::scram_credential> {
    if (user != name || m != scram_mechanism::sha256) return std::nullopt;
    return c;
  };
}

TEST(Scram, ServerFollowsTheRfc7677Exchange) {
  auth::scram_server s(scram_mechanism::sha256, only("user", rfc_credential()), kServerNonce);
  auto first = s.next(kClientFirst);
  ASSERT_FALSE(first.failed) << first.error;
  EXPECT_EQ(first.reply, kServerFirst);
  auto final = s.next(kClientFinal);
  ASSERT_FALSE(final.failed) << final.error;
  EXPECT_TRUE(final.done);
  EXPECT_EQ(final.user, "user");
  EXPECT_EQ(final.reply, kServerFinal);
  EXPECT_TRUE(s.next("more").failed);  // the exchange is over
}

TEST(Scram, WrongProofUnknownUserAndAlteredMessagesFail) {
  {
    // A proof made from another password.
    auto other = rfc_credential();
    other.stored_key[0] ^= 1;
    auth::scram_server s(scram_mechanism::sha256, only("user", other), kServerNonce);
    ASSERT_FALSE(s.next(kClientFirst).failed);
    auto r = s.next(kClientFinal);
    EXPECT_TRUE(r.failed);
    EXPECT_FALSE(r.done);
  }
  {
    auth::scram_server s(scram_mechanism::sha256, only("someone", rfc_credential()), kServerNonce);
    EXPECT_TRUE(s.next(kClientFirst).failed);
  }
  {
    // A nonce that does not end with the server's.
    auth::scram_server s(scram_mechanism::sha256, only("user", rfc_credential()), kServerNonce);
    ASSERT_FALSE(s.next(kClientFirst).failed);
    EXPECT_TRUE(
        s.next("c=biws,r=rOprNGfwEbeRWgbNEkqOx,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .failed);
  }
  {
    // Channel binding that does not match the client-first message.
    auth::scram_server s(scram_mechanism::sha256, only("user", rfc_credential()), kServerNonce);
    ASSERT_FALSE(s.next(kClientFirst).failed);
    EXPECT_TRUE(s.next("c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                       "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
                    .failed);
  }
  for (const char* bad :
       {"", "n", "n,,", "p=tls-unique,,n=user,r=abc", "n,,r=abc,n=user", "n,,n=user",
        "n,,n=us=er,r=abc", "n,,n=user,r=abc,m=ext", "n,a=other,n=user,r=abc"}) {
    auth::scram_server s(scram_mechanism::sha256, only("user", rfc_credential()));
    EXPECT_TRUE(s.next(bad).failed) << bad;
  }
}

TEST(Scram, NamesWithCommasAndEqualsAreDecoded) {
  auth::scram_server s(scram_mechanism::sha256, only("a,b=c", rfc_credential()));
  EXPECT_FALSE(s.next("n,,n=a=2Cb=3Dc,r=abc").failed);
}

TEST(Scram, PlainChecksThePasswordAgainstTheStoredCredential) {
  const auto c = auth::make_credential(scram_mechanism::sha256, "s3cret");
  EXPECT_TRUE(auth::check_password(scram_mechanism::sha256, c, "s3cret"));
  EXPECT_FALSE(auth::check_password(scram_mechanism::sha256, c, "s3cret2"));
  const auto check = [&c](const std::string& user, std::string_view pw) {
    return user == "alice" && auth::check_password(scram_mechanism::sha256, c, pw);
  };
  auto ok = auth::plain_authenticate(std::string("\0alice\0s3cret", 13), check);
  EXPECT_TRUE(ok.done);
  EXPECT_EQ(ok.user, "alice");
  EXPECT_TRUE(auth::plain_authenticate(std::string("alice\0alice\0s3cret", 18), check).done);
  EXPECT_TRUE(auth::plain_authenticate(std::string("\0alice\0wrong", 12), check).failed);
  EXPECT_TRUE(auth::plain_authenticate(std::string("\0bob\0s3cret", 11), check).failed);
  EXPECT_TRUE(auth::plain_authenticate(std::string("bob\0alice\0s3cret", 16), check).failed);
  EXPECT_TRUE(auth::plain_authenticate("alice", check).failed);
  EXPECT_TRUE(auth::plain_authenticate(std::string("\0\0pw", 4), check).failed);
}

TEST(Users, PasswordChecksAreRememberedAndFollowChangedCredentials) {
  riptide::testing::temp_dir dir;
  auth::user_store s(dir.path() / "users.json");
  ASSERT_TRUE(s.load());
  ASSERT_TRUE(s.upsert(
      "dan", {{scram_mechanism::sha256, auth::make_credential(scram_mechanism::sha256, "one")}}));
  EXPECT_TRUE(auth::check_user_password(s, "dan", "one"));
  EXPECT_TRUE(auth::check_user_password(s, "dan", "one"));  // remembered
  EXPECT_FALSE(auth::check_user_password(s, "dan", "two"));
  EXPECT_FALSE(auth::check_user_password(s, "nobody", "one"));
  // A new password: the old one no longer passes, though it passed before.
  ASSERT_TRUE(s.upsert(
      "dan", {{scram_mechanism::sha256, auth::make_credential(scram_mechanism::sha256, "two")}}));
  EXPECT_FALSE(auth::check_user_password(s, "dan", "one"));
  EXPECT_TRUE(auth::check_user_password(s, "dan", "two"));
  // SHA-512 is preferred when the user has both.
  ASSERT_TRUE(s.upsert(
      "dan", {{scram_mechanism::sha512, auth::make_credential(scram_mechanism::sha512, "three")}}));
  EXPECT_TRUE(auth::check_user_password(s, "dan", "three"));
  EXPECT_FALSE(auth::check_user_password(s, "dan", "two"));
  // The same keys under another salt (as AlterUserScramCredentials can set): the remembered
  // success does not carry over, and the password is checked afresh (and fails).
  auto moved = *s.find("dan", scram_mechanism::sha512);
  moved.salt += "x";
  ASSERT_TRUE(s.upsert("dan", {{scram_mechanism::sha512, moved}}));
  EXPECT_FALSE(auth::check_user_password(s, "dan", "three"));
  // Failed guesses do not push out a remembered success.
  ASSERT_TRUE(s.upsert(
      "dan", {{scram_mechanism::sha512, auth::make_credential(scram_mechanism::sha512, "four")}}));
  EXPECT_TRUE(auth::check_user_password(s, "dan", "four"));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(auth::check_user_password(s, "dan", "guess"));
  EXPECT_TRUE(auth::check_user_password(s, "dan", "four"));
}

TEST(Users, StoreKeepsNoPasswordAndSurvivesReopening) {
  riptide::testing::temp_dir dir;
  const auto file = dir.path() / "users.json";
  {
    auth::user_store s(file);
    ASSERT_TRUE(s.load());  // no file yet: no users
    EXPECT_TRUE(s.snapshot()->empty());
    ASSERT_TRUE(
        s.upsert("alice", {{scram_mechanism::sha512,
                            auth::make_credential(scram_mechanism::sha512, "correct horse")}}));
    ASSERT_TRUE(s.upsert(
        "bob", {{scram_mechanism::sha256, auth::make_credential(scram_mechanism::sha256, "pw")}}));
  }
  const std::string text = *base::read_whole_file(file);
  EXPECT_EQ(text.find("correct horse"), std::string::npos);
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  auth::user_store s(file);
  ASSERT_TRUE(s.load());
  auto c = s.find("alice", scram_mechanism::sha512);
  ASSERT_TRUE(c);
  EXPECT_TRUE(auth::check_password(scram_mechanism::sha512, *c, "correct horse"));
  EXPECT_FALSE(s.find("alice", scram_mechanism::sha256));
  EXPECT_EQ(*s.remove("bob", std::nullopt), true);
  EXPECT_EQ(*s.remove("bob", std::nullopt), false);
  EXPECT_EQ(*s.remove("alice", scram_mechanism::sha256), false);
  EXPECT_EQ(s.snapshot()->size(), 1u);
}

TEST(Users, AnotherWriterIsSeenWithoutReopening) {
  riptide::testing::temp_dir dir;
  const auto file = dir.path() / "users.json";
  auth::user_store broker(file);
  ASSERT_TRUE(broker.load());
  EXPECT_FALSE(broker.find("carol", scram_mechanism::sha256));
  auth::user_store cli(file);
  ASSERT_TRUE(cli.load());
  ASSERT_TRUE(cli.upsert(
      "carol", {{scram_mechanism::sha256, auth::make_credential(scram_mechanism::sha256, "pw")}}));
  // Looked at again at most once a second.
  std::optional<auth::scram_credential> seen;
  for (int i = 0; i < 40 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = broker.find("carol", scram_mechanism::sha256);
  }
  EXPECT_TRUE(seen);
}

TEST(Users, MalformedFilesAreRefusedWithAReason) {
  std::string why;
  EXPECT_TRUE(auth::decode_users(R"({"version":1,"users":{}})", &why));
  for (
      const char* bad :
      {"", "[]", R"({"users":{}})", R"({"version":2,"users":{}})", R"({"version":1})",
       R"({"version":1,"users":{"a":1}})", R"({"version":1,"users":{"a":{"SCRAM-SHA-1":{}}}})",
       R"({"version":1,"users":{"a":{"SCRAM-SHA-256":{"iterations":10,"salt":"","stored_key":"","server_key":""}}}})",
       R"({"version":1,"users":{"a":{"SCRAM-SHA-256":{"iterations":4096,"salt":"!","stored_key":"","server_key":""}}}})",
       R"({"version":1,"users":{"":{}}})"}) {
    why.clear();
    EXPECT_FALSE(auth::decode_users(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  riptide::testing::temp_dir dir;
  const std::string junk = "not json";
  ASSERT_TRUE(base::write_file_atomically(
      dir.path() / "users.json",
      std::span(reinterpret_cast<const uint8_t*>(junk.data()), junk.size())));
  auth::user_store s(dir.path() / "users.json");
  EXPECT_FALSE(s.load());
  EXPECT_NE(s.error().find("users.json"), std::string::npos);
}

}  // namespace
