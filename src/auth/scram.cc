#include "auth/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

#include "base/base64.h"

namespace auth {
namespace {

const EVP_MD* digest(scram_mechanism m) {
  return m == scram_mechanism::sha256 ? EVP_sha256() : EVP_sha512();
}

std::string hmac(scram_mechanism m, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(digest(m), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string hash(scram_mechanism m, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, digest(m), nullptr);
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("the system's random source failed");
  }
  return out;
}

bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The attributes "k=v" of a SCRAM message, in order.
std::vector<std::pair<char, std::string_view>> attributes(std::string_view s) {
  std::vector<std::pair<char, std::string_view>> out;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const std::string_view part = s.substr(0, comma);
    if (part.size() < 2 || part[1] != '=') return {};
    out.emplace_back(part[0], part.substr(2));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed.
std::optional<std::string> decode_name(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
    } else if (s.substr(i, 3) == "=2C") {
      out += ',';
      i += 2;
    } else if (s.substr(i, 3) == "=3D") {
      out += '=';
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

sasl_step fail(std::string why) {
  sasl_step s;
  s.failed = true;
  s.error = std::move(why);
  return s;
}

}  // namespace

std::optional<scram_mechanism> parse_scram_mechanism(std::string_view name) {
  if (name == "SCRAM-SHA-256") return scram_mechanism::sha256;
  if (name == "SCRAM-SHA-512") return scram_mechanism::sha512;
  return std::nullopt;
}

std::string_view to_string(scram_mechanism m) {
  return m == scram_mechanism::sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512";
}

std::string salted_password(scram_mechanism m, std::string_view password, std::string_view salt,
                            int32_t iterations) {
  std::string out(static_cast<size_t>(EVP_MD_get_size(digest(m))), '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, digest(m),
                    static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

scram_credential credential_from_salted(scram_mechanism m, std::string salt, int32_t iterations,
                                        std::string_view salted) {
  scram_credential c;
  c.salt = std::move(salt);
  c.iterations = iterations;
  c.stored_key = hash(m, hmac(m, salted, "Client Key"));
  c.server_key = hmac(m, salted, "Server Key");
  return c;
}

scram_credential make_credential(scram_mechanism m, std::string_view password, int32_t iterations) {
  std::string salt = random_bytes(32);
  const std::string salted = salted_password(m, password, salt, iterations);
  return credential_from_salted(m, std::move(salt), iterations, salted);
}

bool check_password(scram_mechanism m, const scram_credential& c, std::string_view password) {
  const std::string salted = salted_password(m, password, c.salt, c.iterations);
  return same(hash(m, hmac(m, salted, "Client Key")), c.stored_key);
}

std::string password_digest(scram_mechanism m, const scram_credential& c,
                            std::string_view password) {
  // Length-prefixed fields: no two different inputs give the same bytes.
  std::string in;
  for (std::string_view part :
       {to_string(m), std::string_view(c.salt), std::string_view(c.stored_key),
        std::string_view(c.server_key), password}) {
    in += std::to_string(part.size());
    in += ':';
    in += part;
  }
  in += std::to_string(c.iterations);
  return hash(scram_mechanism::sha256, in);
}

scram_server::scram_server(scram_mechanism m, credential_lookup lookup, std::string server_nonce)
    : mech_(m), lookup_(std::move(lookup)), server_nonce_(std::move(server_nonce)) {}

sasl_step scram_server::next(std::string_view message) {
  switch (stage_++) {
    case 0:
      return first(message);
    case 1:
      return final(message);
    default:
      return fail("the SCRAM exchange is over");
  }
}

// client-first: gs2-header ("n,," or "y,,", an optional "a=authzid") + "n=user,r=nonce".
sasl_step scram_server::first(std::string_view message) {
  const size_t c1 = message.find(',');
  const size_t c2 = c1 == std::string_view::npos ? c1 : message.find(',', c1 + 1);
  if (c2 == std::string_view::npos) return fail("malformed SCRAM client-first message");
  const std::string_view flag = message.substr(0, c1);
  if (flag != "n" && flag != "y") return fail("SCRAM channel binding is not supported");
  const std::string_view authzid = message.substr(c1 + 1, c2 - c1 - 1);
  gs2_header_ = std::string(message.substr(0, c2 + 1));
  client_first_bare_ = std::string(message.substr(c2 + 1));
  const auto attrs = attributes(client_first_bare_);
  if (attrs.size() < 2 || attrs[0].first != 'n' || attrs[1].first != 'r' ||
      attrs[1].second.empty()) {
    return fail("malformed SCRAM client-first message");
  }
  for (size_t i = 2; i < attrs.size(); ++i) {
    // Extensions: Kafka's delegation tokens ("tokenauth") are not offered.
    if (attrs[i].first == 'm') return fail("SCRAM mandatory extensions are not supported");
  }
  auto user = decode_name(attrs[0].second);
  if (!user) return fail("malformed SCRAM user name");
  if (!authzid.empty() && authzid != "a=" + std::string(attrs[0].second)) {
    return fail("the SCRAM authorization id must be the user name");
  }
  auto cred = lookup_(*user, mech_);
  if (!cred) return fail("authentication failed: unknown user or wrong password");
  user_ = std::move(*user);
  cred_ = std::move(*cred);
  nonce_ = std::string(attrs[1].second) +
           (server_nonce_.empty() ? base::base64_encode(random_bytes(18)) : server_nonce_);
  server_first_ = "r=" + nonce_ + ",s=" + base::base64_encode(cred_.salt) +
                  ",i=" + std::to_string(cred_.iterations);
  sasl_step s;
  s.reply = server_first_;
  return s;
}

// client-final: "c=base64(gs2-header),r=nonce,p=base64(proof)".
sasl_step scram_server::final(std::string_view message) {
  const size_t p = message.rfind(",p=");
  if (p == std::string_view::npos) return fail("malformed SCRAM client-final message");
  const std::string_view without_proof = message.substr(0, p);
  const auto attrs = attributes(without_proof);
  if (attrs.size() < 2 || attrs[0].first != 'c' || attrs[1].first != 'r') {
    return fail("malformed SCRAM client-final message");
  }
  if (attrs[0].second != base::base64_encode(gs2_header_)) {
    return fail("SCRAM channel binding does not match the client-first message");
  }
  // The nonce must end with ours: librdkafka (through 2.0 at least) sends its own nonce
  // again in front of the combined one, and Kafka accepts that the same way.
  if (!attrs[1].second.ends_with(nonce_)) return fail("SCRAM nonce does not match");
  const auto proof = base::base64_decode(message.substr(p + 3));
  const std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  const std::string signature = hmac(mech_, cred_.stored_key, auth_message);
  if (!proof || proof->size() != signature.size()) {
    return fail("authentication failed: unknown user or wrong password");
  }
  std::string client_key(signature.size(), '\0');
  for (size_t i = 0; i < signature.size(); ++i) client_key[i] = (*proof)[i] ^ signature[i];
  if (!same(hash(mech_, client_key), cred_.stored_key)) {
    return fail("authentication failed: unknown user or wrong password");
  }
  sasl_step s;
  s.reply = "v=" + base::base64_encode(hmac(mech_, cred_.server_key, auth_message));
  s.done = true;
  s.user = user_;
  return s;
}

sasl_step plain_authenticate(std::string_view message, const password_check& check) {
  const size_t a = message.find('\0');
  const size_t b = a == std::string_view::npos ? a : message.find('\0', a + 1);
  if (b == std::string_view::npos) return fail("malformed PLAIN message");
  const std::string_view authzid = message.substr(0, a);
  const std::string user(message.substr(a + 1, b - a - 1));
  if (user.empty()) return fail("malformed PLAIN message: no user name");
  if (!authzid.empty() && authzid != user) {
    return fail("the PLAIN authorization id must be the user name");
  }
  if (!check(user, message.substr(b + 1))) {
    return fail("authentication failed: unknown user or wrong password");
  }
  sasl_step s;
  s.done = true;
  s.user = user;
  return s;
}

}  // namespace auth
