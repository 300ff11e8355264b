#pragma once
// Pushing an event_stream to a client: Server-Sent Events on the HTTP connection, or a
// WebSocket after the upgrade. Internal to http/ (Beast types): server.cc hands over
// the connection when a route answers with a stream.

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>

#include "http/server.h"
#include "http/stream.h"

namespace http {

// Writes the SSE response headers (plus `headers`), then every event as it comes, a
// comment line as a ping when idle, until the stream ends or the client goes.
net::task<void> serve_sse(boost::beast::tcp_stream stream, std::shared_ptr<event_stream> events,
                          server_options opts,
                          std::vector<std::pair<std::string, std::string>> headers);

// Completes the WebSocket handshake for `upgrade`, then sends each event as a text
// message and feeds the client's messages (credit) to the stream. Takes the bare socket:
// every move of a tcp_stream allocates a new state and the moved-from one stays in its
// frame, which an idle subscriber would carry for its whole life.
net::task<void> serve_websocket(
    net::tcp::socket socket, boost::beast::http::request<boost::beast::http::string_body> upgrade,
    std::shared_ptr<event_stream> events, server_options opts);

// Open streams and what they pushed, for /metrics.
struct stream_counters {
  static void opened(bool websocket);
  static void closed(bool websocket);
};

}  // namespace http
