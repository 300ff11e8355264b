#pragma once
// The HTTP admin listener: /metrics (Prometheus text format), /healthz (the process
// serves HTTP) and /readyz (the data directory is open, the Kafka listener is up and no
// partition was made read-only by an I/O error).
// Runs on shard 0; metrics owned by other shards are gathered from them per scrape.

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "broker/broker.h"
#include "net/tcp_server.h"

namespace http {

class admin_server {
 public:
  admin_server(broker::broker& b, net::listen_address addr);
  ~admin_server();

  base::result<uint16_t> start();
  void stop();
  void set_ready(bool ready) { ready_.store(ready); }

 private:
  net::task<void> serve(net::tcp::socket socket);
  net::task<std::string> render_metrics();
  // JSON objects naming each read-only partition and its error, comma-separated.
  net::task<std::string> read_only_partitions();

  broker::broker& broker_;
  net::listen_address addr_;
  std::unique_ptr<net::tcp_server> tcp_;
  std::atomic<bool> ready_{false};
};

}  // namespace http
