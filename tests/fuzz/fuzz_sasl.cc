// libFuzzer target for what a client sends before it has authenticated and for the users
// file: SCRAM client-first and client-final messages (the input split at its first
// newline), PLAIN messages, and users.json. Besides "no crash, no out-of-bounds read", it
// checks that no input authenticates without the password: the credential is made from a
// password the fuzzer never sees.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "auth/scram.h"
#include "auth/users.h"

namespace {

const auth::scram_credential& credential(auth::scram_mechanism m) {
  static const auth::scram_credential c256 =
      auth::make_credential(auth::scram_mechanism::sha256, "not-in-any-input-7f3a9c");
  static const auth::scram_credential c512 =
      auth::make_credential(auth::scram_mechanism::sha512, "not-in-any-input-7f3a9c");
  return m == auth::scram_mechanism::sha256 ? c256 : c512;
}

std::optional<auth::scram_credential> lookup(const std::string&, auth::scram_mechanism m) {
  return credential(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
    case 1: {
      const auto m =
          data[0] % 4 == 0 ? auth::scram_mechanism::sha256 : auth::scram_mechanism::sha512;
      auth::scram_server s(m, lookup);
      const size_t nl = in.find('\n');
      auto first = s.next(in.substr(0, nl));
      if (first.done) std::abort();
      if (!first.failed && nl != std::string_view::npos) {
        if (s.next(in.substr(nl + 1)).done) std::abort();  // a proof without the password
      }
      break;
    }
    case 2:
      // The password check refuses all: PLAIN must never answer done past it.
      if (auth::plain_authenticate(in, [](const std::string&, std::string_view) {
            return false;
          }).done) {
        std::abort();
      }
      break;
    case 3: {
      std::string why;
      if (auto t = auth::decode_users(in, &why)) {
        // What decodes encodes to a file that decodes to the same users.
        auto again = auth::decode_users(auth::encode_users(*t), &why);
        if (!again || again->size() != t->size()) std::abort();
      } else if (why.empty()) {
        std::abort();
      }
      break;
    }
  }
  return 0;
}
