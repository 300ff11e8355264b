#pragma once
// SASL mechanisms the Kafka listener accepts: SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802,
// RFC 7677, with Kafka's conventions) and PLAIN (RFC 4616) checked against the same
// stored SCRAM credentials. A credential keeps the salt, the iteration count and the two
// keys derived from the salted password, never the password itself.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace auth {

enum class scram_mechanism { sha256, sha512 };
// "SCRAM-SHA-256" / "SCRAM-SHA-512"; nullopt for any other name.
std::optional<scram_mechanism> parse_scram_mechanism(std::string_view name);
std::string_view to_string(scram_mechanism m);

constexpr int32_t kMinIterations = 4096;  // as Kafka: fewer are refused
constexpr int32_t kMaxIterations = 16384;

struct scram_credential {
  std::string salt;
  int32_t iterations = kMinIterations;
  std::string stored_key;  // H(HMAC(salted password, "Client Key"))
  std::string server_key;  // HMAC(salted password, "Server Key")

  bool operator==(const scram_credential&) const = default;
};

// PBKDF2 of the password with the mechanism's hash (what a client sends to
// AlterUserScramCredentials).
std::string salted_password(scram_mechanism m, std::string_view password, std::string_view salt,
                            int32_t iterations);
scram_credential credential_from_salted(scram_mechanism m, std::string salt, int32_t iterations,
                                        std::string_view salted);
// A new credential for `password` with a random salt.
scram_credential make_credential(scram_mechanism m, std::string_view password,
                                 int32_t iterations = kMinIterations);
// Whether `password` is the one `c` was made from (PLAIN).
bool check_password(scram_mechanism m, const scram_credential& c, std::string_view password);

// SHA-256 of the whole credential (mechanism, salt, iterations, keys) and `password`: a
// key to remember a successful check by that does not reveal the password, and that no
// longer matches once any part of the credential changes.
std::string password_digest(scram_mechanism m, const scram_credential& c,
                            std::string_view password);

// The user's credential for a mechanism, if the user has one.
using credential_lookup =
    std::function<std::optional<scram_credential>(const std::string& user, scram_mechanism m)>;

// What one step of an exchange answers.
struct sasl_step {
  std::string reply;  // the bytes to send back (may be empty)
  bool done = false;  // authenticated as `user`
  bool failed = false;
  std::string error;  // why it failed, for the client and the log
  std::string user;
};

// The server side of one SCRAM exchange: client-first, then client-final.
class scram_server {
 public:
  // `server_nonce`: the server's part of the nonce (empty: random; fixed only in tests).
  scram_server(scram_mechanism m, credential_lookup lookup, std::string server_nonce = {});
  sasl_step next(std::string_view message);

 private:
  sasl_step first(std::string_view message);
  sasl_step final(std::string_view message);

  scram_mechanism mech_;
  credential_lookup lookup_;
  int stage_ = 0;
  std::string user_;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string server_nonce_;
  std::string nonce_;  // the client's nonce and ours
  scram_credential cred_;
};

// Whether `password` is the user's (unknown users: false).
using password_check = std::function<bool(const std::string& user, std::string_view password)>;

// PLAIN: "authzid NUL user NUL password", the password checked by `check` (against the
// user's SCRAM credential: check_user_password in users.h).
sasl_step plain_authenticate(std::string_view message, const password_check& check);

}  // namespace auth
