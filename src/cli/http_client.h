#pragma once
// A small HTTP/1.1 client over plain sockets for the verbs that talk to a broker's HTTP
// listener (`riptide http`, `riptide queue`): one request per connection, a deadline on
// all of it, errors that name the listener and the fix. No Asio in cli/.

#include <cstdint>
#include <string>
#include <string_view>

namespace cli {

struct endpoint {
  std::string host;
  std::string port;
  std::string text() const {
    return "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  }
};

// "http://HOST:PORT", "HOST:PORT" or "[::1]:PORT"; a usage error naming --url otherwise.
endpoint parse_url(std::string url);

struct http_answer {
  int status = 0;
  std::string status_line;
  std::string body;
};

// `method` `path` with a JSON `body` (none for GET and DELETE); fails with exit code 3 when
// nothing answers within `timeout_ms`.
http_answer http_call(const endpoint& e, std::string_view method, const std::string& path,
                      const std::string& body, int64_t timeout_ms);
// GET `path`; the body of a 200 answer, a failure naming the status otherwise.
std::string http_get(const endpoint& e, const std::string& path, int64_t timeout_ms);

// The listener named by --url, else $RIPTIDE_HTTP_URL, else http://127.0.0.1:9644.
std::string default_http_url(const std::string& flag);

}  // namespace cli
