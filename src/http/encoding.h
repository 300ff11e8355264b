#pragma once
// Byte encodings of the JSON API: base64 (RFC 4648, with padding) and UTF-8 checks.

#include <optional>
#include <string>
#include <string_view>

#include "base/base64.h"

namespace http {

using base::base64_decode;
using base::base64_encode;
// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace http
