#pragma once
// Stream positions as an SSE event id and Last-Event-ID carry them: "0:15,1:7"
// (partition:offset, the next offset to read in each partition).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace http {

// A whole decimal integer; nullopt otherwise.
std::optional<int64_t> parse_int64(std::string_view text);

std::string format_positions(const std::map<int32_t, int64_t>& positions);
// nullopt unless every entry is "P:O" with P, O >= 0 and there is at least one.
std::optional<std::map<int32_t, int64_t>> parse_positions(std::string_view text);

}  // namespace http
