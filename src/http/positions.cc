#include "http/positions.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace http {
namespace {

template <typename T>
std::optional<T> number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<int64_t> parse_int64(std::string_view text) {
  return number<int64_t>(text);
}

std::string format_positions(const std::map<int32_t, int64_t>& positions) {
  std::string out;
  for (const auto& [p, o] : positions) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}:{}", p, o);
  }
  return out;
}

std::optional<std::map<int32_t, int64_t>> parse_positions(std::string_view text) {
  std::map<int32_t, int64_t> out;
  size_t i = 0;
  while (i <= text.size()) {
    const size_t end = std::min(text.find(',', i), text.size());
    const std::string_view one = text.substr(i, end - i);
    const size_t colon = one.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto p = number<int32_t>(one.substr(0, colon));
    auto o = number<int64_t>(one.substr(colon + 1));
    if (!p || !o || *p < 0 || *o < 0) return std::nullopt;
    out[*p] = *o;
    i = end + 1;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace http
