#include "http/json_util.h"

#include <fmt/format.h>

#include <charconv>

namespace http {
namespace {

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

int_param check(std::optional<int64_t> v, std::string_view kind, std::string_view name, int64_t min,
                int64_t max) {
  if (!v || *v < min || *v > max) {
    return {0, error(400, "invalid_parameter",
                     fmt::format("{} parameter '{}' must be an integer from {} to {}", kind, name,
                                 min, max))};
  }
  return {*v, std::nullopt};
}

}  // namespace

std::optional<response> parse_object(const request& req, boost::json::object& out) {
  if (req.body.empty()) return error(400, "invalid_json", "the request needs a JSON object body");
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 64;
  boost::json::value v = boost::json::parse(req.body, ec, {}, opts);
  if (ec) {
    return error(400, "invalid_json", fmt::format("the body is not valid JSON: {}", ec.message()));
  }
  if (!v.is_object()) return error(400, "invalid_json", "the body must be a JSON object");
  out = std::move(v.as_object());
  return std::nullopt;
}

int_param query_int(const request& req, std::string_view name, int64_t fallback, int64_t min,
                    int64_t max) {
  const std::string* s = req.query_param(name);
  if (!s) return {fallback, std::nullopt};
  return check(parse_int(*s), "query", name, min, max);
}

int_param path_int(const request& req, std::string_view name, int64_t min, int64_t max) {
  auto it = req.params.find(name);
  return check(it == req.params.end() ? std::nullopt : parse_int(it->second), "path", name, min,
               max);
}

response bad_field(std::string_view field, std::string_view must_be) {
  return error(400, "invalid_field", fmt::format("field '{}' must be {}", field, must_be));
}

std::string to_json(const boost::json::value& v) {
  return boost::json::serialize(v);
}

}  // namespace http
