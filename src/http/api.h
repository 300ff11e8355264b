#pragma once
// The plain types every HTTP route works with: a parsed request, the response it
// answers, and the route table entry that describes both (for routing, 405 answers and
// the OpenAPI document). No Beast here: routes compile without it; only server.cc
// speaks HTTP on the wire.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/request_identity.h"
#include "net/task.h"

namespace http {

struct request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, percent-decoded per segment
  std::map<std::string, std::string, std::less<>> query;
  std::map<std::string, std::string, std::less<>> params;   // from the route's {names}
  std::map<std::string, std::string, std::less<>> headers;  // names in lower case
  std::string body;  // decompressed when the client sent Content-Encoding: gzip
  std::string request_id;
  broker::request_identity who;

  const std::string* header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? nullptr : &it->second;
  }
  const std::string* query_param(std::string_view name) const {
    auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
  }
  // The media type of Content-Type, lower case, without parameters ("" if none).
  std::string content_type() const;
};

class event_stream;

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // An error: the server renders the body as
  //   {"error_code": 40401, "error": "unknown_topic", "message": "...", "request_id": "..."}
  // (error_code as the REST Proxy gives it: the status, then a number for the case).
  std::string error;  // the stable name; empty: not an error
  int error_code = 0;
  // A stream of events the server pushes instead of a body: over the WebSocket the
  // request asked to upgrade to when `websocket`, else as Server-Sent Events.
  std::shared_ptr<event_stream> stream;
  bool websocket = false;
};

// An error answer; `code` 0: status * 100.
response error(int status, std::string_view name, std::string message, int code = 0);
// A JSON body with the status given.
response json(int status, std::string body);

struct route_param {
  std::string name;
  std::string in;    // "path" or "query"
  std::string type;  // "string", "integer", "boolean"
  std::string description;
  bool required = false;
};

class server_context;

using handler = net::task<response> (*)(server_context& ctx, request& req);

struct route {
  std::string method{};
  std::string pattern{};  // "/v1/topics/{topic}/records"
  handler fn = nullptr;
  std::string summary{};
  std::string tag{};
  std::vector<route_param> query{};          // query parameters (path ones come from the pattern)
  std::string request_body{};                // a JSON schema (as JSON text) or "" for none
  std::vector<std::string> content_types{};  // accepted request media types ("" : any)
  std::vector<int> statuses{};               // documented answers besides 200
};

}  // namespace http
