#pragma once
// The Kafka listener: framing with limits, pipelined requests answered in request
// order, per-shard memory budget reserved before a body is read, idle timeout, and a
// shutdown that drains in-flight requests.

#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include "broker/broker.h"
#include "kafka/server/request_context.h"
#include "net/tcp_server.h"

namespace kafka {

struct kafka_server_options {
  net::listen_address listen;
  server_info info;
  uint32_t max_request_bytes = 100u << 20;
  uint64_t shard_memory_budget = 256ull << 20;
  uint32_t max_in_flight_per_connection = 256;
  std::chrono::milliseconds idle_timeout{600'000};
  // Once a request's size prefix has arrived, its body must arrive within this long.
  std::chrono::milliseconds request_timeout{30'000};
};

class connection;

class kafka_server {
 public:
  kafka_server(broker::broker& b, kafka_server_options opts);
  ~kafka_server();

  // Binds on every shard; returns the bound port.
  base::result<uint16_t> start();
  // Stops accepting, lets in-flight requests finish and closes connections.
  void stop();

  struct shard_state;  // per-shard connections and memory budget

 private:
  net::task<void> serve(net::tcp::socket socket, unsigned shard);

  broker::broker& broker_;
  kafka_server_options opts_;
  std::unique_ptr<net::tcp_server> tcp_;
  std::vector<std::unique_ptr<shard_state>> shards_;
  uint64_t connections_gauge_ = 0;
};

}  // namespace kafka
