#pragma once
// Byte encodings of the JSON API: base64 (RFC 4648, with padding) and UTF-8 checks.

#include <optional>
#include <string>
#include <string_view>

namespace http {

std::string base64_encode(std::string_view in);
// Strict: the standard alphabet, padded to a multiple of 4, unused bits zero (whitespace
// not allowed); nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view in);
// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace http
