#pragma once
// The HTTP admin listener: /metrics (Prometheus text format), /healthz (the process
// serves HTTP) and /readyz (the data directory is open and the Kafka listener is up).
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

  broker::broker& broker_;
  net::listen_address addr_;
  std::unique_ptr<net::tcp_server> tcp_;
  std::atomic<bool> ready_{false};
};

}  // namespace http
