#include "http/record_json.h"

#include <fmt/format.h>

#include "http/encoding.h"

namespace http {
namespace {

namespace bj = boost::json;

// Puts `bytes` under `name` in `f`, falling back to base64 (and saying so).
void put_field(bj::object& o, std::string_view name, const std::optional<std::string>& bytes,
               format f) {
  if (!bytes) {
    o[name] = nullptr;
    return;
  }
  if (f == format::json) {
    boost::system::error_code ec;
    bj::value v = bj::parse(*bytes, ec);
    if (!ec) {
      o[name] = std::move(v);
      return;
    }
  }
  if (f != format::binary && valid_utf8(*bytes)) {
    o[name] = bj::string_view(*bytes);
    return;
  }
  o[name] = base64_encode(*bytes);
  if (f != format::binary) o[fmt::format("{}_encoding", name)] = "base64";
}

}  // namespace

std::optional<format> parse_format(std::string_view s) {
  if (s == "json") return format::json;
  if (s == "text") return format::text;
  if (s == "binary") return format::binary;
  return std::nullopt;
}

bj::object record_to_json(const broker::record& r, int32_t partition, format f) {
  bj::object o{{"partition", partition}, {"offset", r.offset}, {"timestamp", r.timestamp}};
  put_field(o, "key", r.key, f);
  put_field(o, "value", r.value, f);
  bj::array headers;
  for (const auto& h : r.headers) {
    bj::object ho{{"key", h.key}};
    put_field(ho, "value", h.value, f == format::json ? format::text : f);
    headers.push_back(std::move(ho));
  }
  o["headers"] = std::move(headers);
  return o;
}

}  // namespace http
