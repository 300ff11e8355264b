#pragma once
// The HTTP listener: Riptide's own API under /v1, the OpenAPI document, /metrics,
// /healthz and /readyz, on every shard (the kernel spreads connections over them). Each
// connection reads one request at a time (keep-alive and pipelining), within limits on
// headers, body and time; request bodies are charged to the shard's memory account
// while they are handled. Routes are the router's; this file alone speaks HTTP on the
// wire (Beast).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "auth/users.h"
#include "base/result.h"
#include "broker/broker.h"
#include "http/router.h"
#include "net/tcp_server.h"

namespace http {

class webhook_dispatcher;

struct server_options {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 8u << 20;
  // A request's headers and body must arrive within this of its first byte.
  std::chrono::milliseconds request_timeout{30000};
  // A keep-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{60000};
  // Longest a client may take to read one response.
  std::chrono::milliseconds write_timeout{60000};
  // Per shard: request bodies being handled (decompressed included). Over it, 503.
  uint64_t shard_memory_budget = 64ull << 20;
  uint32_t max_connections = 10000;
  // Origins allowed by CORS: empty (off), "*" or a comma-separated list.
  std::string cors_origins;
  bool access_log = true;
  // Longest wait a read may ask for (timeout_ms).
  std::chrono::milliseconds max_wait{30000};
  // Streams (SSE, WebSocket): bytes a client may leave unread (past them the stream waits
  // for it to read, and disconnects it as too slow, WebSocket close 1008, when it stays
  // behind for write_timeout), and how often an idle stream is pinged.
  size_t stream_send_buffer = 1u << 20;
  // HTTP consumers (group members the broker keeps for HTTP clients), over all shards,
  // and how long one lives without a poll.
  size_t max_consumers = 1000;
  std::chrono::milliseconds consumer_timeout{300000};
  std::chrono::milliseconds stream_ping{15000};
  // HTTP basic authentication against the SCRAM users (none: every client is anonymous).
  // /healthz, /readyz and CORS preflights stay open.
  bool basic_auth = false;
  std::shared_ptr<auth::user_store> users;
};

// What a route sees of the server.
class server_context {
 public:
  server_context(broker::broker& b, const server_options& o, const router& r)
      : broker(b), options(o), routes(r) {}
  broker::broker& broker;
  const server_options& options;
  const router& routes;
  std::atomic<bool> ready{false};
};

class server {
 public:
  server(broker::broker& b, net::listen_address addr, server_options opts = {});
  ~server();

  base::result<uint16_t> start();
  void stop();
  void set_ready(bool ready) { ctx_.ready.store(ready); }

 private:
  struct shard_state;
  net::task<void> serve(net::tcp::socket socket, unsigned shard);

  server_options opts_;
  router router_;
  server_context ctx_;
  net::listen_address addr_;
  std::unique_ptr<net::tcp_server> tcp_;
  std::vector<std::unique_ptr<shard_state>> shards_;
  std::vector<std::unique_ptr<webhook_dispatcher>> webhooks_;  // index: shard
  std::atomic<uint32_t> connections_{0};
};

}  // namespace http
