#pragma once
// The route table: every HTTP route of the listener, matched by method and path pattern
// ("/v1/topics/{topic}"), and the source of the OpenAPI document (openapi.h).

#include <string_view>
#include <vector>

#include "http/api.h"

namespace http {

class router {
 public:
  void add(route r);
  const std::vector<route>& routes() const { return routes_; }

  struct match {
    const route* found = nullptr;  // null: no route for this method and path
    std::map<std::string, std::string, std::less<>> params;
    std::vector<std::string> allowed;  // methods the path has, when `found` is null
  };
  match find(std::string_view method, std::string_view path) const;

 private:
  std::vector<route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}, percent-decoding each; nullopt when a segment has
// an invalid escape or decodes to a '/' or NUL.
std::optional<std::vector<std::string>> split_path(std::string_view path);
// Percent-decodes (and '+' to space when `plus` is true); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus);
// Parses "a=1&b=two"; nullopt on a bad escape.
std::optional<std::map<std::string, std::string, std::less<>>> parse_query(std::string_view q);

// Every route the listener serves, in the order they are documented.
router make_router();

// Adds each group's routes (one function per source file).
void add_system_routes(router& r);
void add_topic_routes(router& r);
void add_record_routes(router& r);
void add_stream_routes(router& r);
void add_group_routes(router& r);
void add_rest_v2_routes(router& r);
void add_rest_v3_routes(router& r);
void add_queue_routes(router& r);
void add_openapi_route(router& r);

}  // namespace http
