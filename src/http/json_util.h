#pragma once
// Reading request bodies and query parameters, with 400 answers that name what is wrong.

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "http/api.h"

namespace http {

// Parses the body as a JSON object into `out`; otherwise the 400 to answer.
std::optional<response> parse_object(const request& req, boost::json::object& out);

// An integer query parameter within [min, max], `fallback` when absent; otherwise a 400
// naming the parameter.
struct int_param {
  int64_t value = 0;
  std::optional<response> bad;
};
int_param query_int(const request& req, std::string_view name, int64_t fallback, int64_t min,
                    int64_t max);
// An integer path parameter (a partition number).
int_param path_int(const request& req, std::string_view name, int64_t min, int64_t max);

// A 400 naming the field and what it must be.
response bad_field(std::string_view field, std::string_view must_be);

std::string to_json(const boost::json::value& v);

}  // namespace http
