#pragma once
// The SCRAM mechanism codes of DescribeUserScramCredentials and AlterUserScramCredentials
// (0 unknown, 1 SCRAM-SHA-256, 2 SCRAM-SHA-512).

#include <cstdint>
#include <optional>

#include "auth/scram.h"

namespace kafka::handlers {

inline int8_t scram_mechanism_code(auth::scram_mechanism m) {
  return m == auth::scram_mechanism::sha256 ? 1 : 2;
}

inline std::optional<auth::scram_mechanism> scram_mechanism_from_code(int8_t code) {
  if (code == 1) return auth::scram_mechanism::sha256;
  if (code == 2) return auth::scram_mechanism::sha512;
  return std::nullopt;
}

}  // namespace kafka::handlers
