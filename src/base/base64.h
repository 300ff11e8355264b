#pragma once
// Base64 (RFC 4648, the standard alphabet, with padding).

#include <optional>
#include <string>
#include <string_view>

namespace base {

std::string base64_encode(std::string_view in);
// Strict: the standard alphabet, padded to a multiple of 4, unused bits zero (whitespace
// not allowed); nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace base
