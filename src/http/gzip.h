#pragma once
// gzip for HTTP bodies (Content-Encoding / Accept-Encoding), with zlib.

#include <optional>
#include <string>
#include <string_view>

namespace http {

// The gzip (or zlib) stream `in` inflated; nullopt when it is not valid or would pass
// `max_bytes` (inflation stops there: a bomb costs no more than the bound).
std::optional<std::string> gunzip(std::string_view in, size_t max_bytes);
std::string gzip(std::string_view in);

}  // namespace http
