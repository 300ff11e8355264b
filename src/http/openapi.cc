// /v1/openapi.json: the OpenAPI 3 document, generated from the route table.

#include <fmt/format.h>

#include "http/json_util.h"
#include "http/server.h"

namespace http {
namespace {

namespace bj = boost::json;

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No content";
    case 400:
      return "Invalid request (the error names the field)";
    case 403:
      return "Forbidden";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 408:
      return "The request did not arrive in time";
    case 409:
      return "Conflict";
    case 413:
      return "Too large";
    case 415:
      return "Unsupported media type";
    case 416:
      return "Offset out of range";
    case 429:
      return "Too many requests";
    case 503:
      return "Unavailable; retry later";
    case 507:
      return "The disk is full";
    default:
      return "See the error body";
  }
}

bj::object error_schema() {
  return bj::object{{"type", "object"},
                    {"properties", bj::object{{"error_code", bj::object{{"type", "integer"}}},
                                              {"error", bj::object{{"type", "string"}}},
                                              {"message", bj::object{{"type", "string"}}},
                                              {"request_id", bj::object{{"type", "string"}}}}}};
}

bj::object build(const router& r) {
  bj::object paths;
  for (const auto& route : r.routes()) {
    bj::object op{{"summary", route.summary}, {"tags", bj::array{bj::string(route.tag)}}};
    bj::array params;
    // Path parameters from the pattern's {names}.
    size_t i = 0;
    while ((i = route.pattern.find('{', i)) != std::string::npos) {
      const size_t end = route.pattern.find('}', i);
      const std::string name = route.pattern.substr(i + 1, end - i - 1);
      params.push_back(
          bj::object{{"name", name},
                     {"in", "path"},
                     {"required", true},
                     {"schema", bj::object{{"type", name == "partition" ? "integer" : "string"}}}});
      i = end;
    }
    for (const auto& q : route.query) {
      params.push_back(bj::object{{"name", q.name},
                                  {"in", q.in},
                                  {"required", q.required},
                                  {"description", q.description},
                                  {"schema", bj::object{{"type", q.type}}}});
    }
    if (!params.empty()) op["parameters"] = std::move(params);
    if (!route.request_body.empty()) {
      bj::object content;
      for (const auto& ct : route.content_types) {
        content[ct] = bj::object{{"schema", bj::parse(route.request_body)}};
      }
      op["requestBody"] = bj::object{{"required", true}, {"content", std::move(content)}};
    }
    bj::object responses;
    bool has_ok = false;
    for (int s : route.statuses) has_ok = has_ok || (s >= 200 && s < 300);
    if (!has_ok) responses["200"] = bj::object{{"description", reason(200)}};
    for (int s : route.statuses) {
      bj::object resp{{"description", reason(s)}};
      if (s >= 400) {
        resp["content"] = bj::object{{"application/json", bj::object{{"schema", error_schema()}}}};
      }
      responses[std::to_string(s)] = std::move(resp);
    }
    op["responses"] = std::move(responses);
    std::string method = route.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto& path = paths[route.pattern];
    if (!path.is_object()) path = bj::object{};
    path.as_object()[method] = std::move(op);
  }
  return bj::object{{"openapi", "3.0.3"},
                    {"info", bj::object{{"title", "Riptide HTTP API"}, {"version", "1"}}},
                    {"paths", std::move(paths)}};
}

net::task<response> get_openapi(server_context& ctx, request&) {
  co_return json(200, to_json(build(ctx.routes)));
}

}  // namespace

void add_openapi_route(router& r) {
  r.add({.method = "GET",
         .pattern = "/v1/openapi.json",
         .fn = get_openapi,
         .summary = "This document",
         .tag = "system"});
}

}  // namespace http
