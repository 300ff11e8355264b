#pragma once
// The Kafka listener: framing with limits, pipelined requests answered in request
// order, one memory account per shard (request bodies reserved before they are read,
// their decoded structures, responses until the client has read them), a per-connection
// share of it beyond which the connection is not read (backpressure), connection caps,
// deadlines on request bodies and response writes, an idle timeout, and a shutdown that
// drains in-flight requests.

#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include "broker/broker.h"
#include "kafka/server/request_context.h"
#include "kafka/server/sasl.h"
#include "net/tcp_server.h"

namespace kafka {

struct kafka_server_options {
  net::listen_address listen;
  server_info info;
  uint32_t max_request_bytes = 100u << 20;
  // Requests, their decoded form and unsent responses on one shard. One connection may
  // hold an eighth of it before it is no longer read; one request may decode into at
  // most an eighth of it.
  uint64_t shard_memory_budget = 256ull << 20;
  uint32_t max_in_flight_per_connection = 256;
  std::chrono::milliseconds idle_timeout{600'000};
  // Once a request's size prefix has arrived, its body must arrive within this long.
  std::chrono::milliseconds request_timeout{30'000};
  // A response not taken by the client within this long closes the connection.
  std::chrono::milliseconds write_timeout{60'000};
  uint32_t max_connections = 10'000;        // open at once, whole broker
  uint32_t max_connections_per_ip = 1'000;  // open at once from one client address
  sasl_options sasl;  // mechanisms offered (none: clients are not authenticated)
  // Largest frame a connection may send before it has authenticated (as Kafka's
  // sasl.server.max.receive.size).
  uint32_t max_unauthenticated_request_bytes = 512u << 10;
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
  struct connection_counts;  // per client address, shared by the shards
  std::unique_ptr<connection_counts> counts_;
  uint64_t connections_gauge_ = 0;
  uint64_t memory_gauge_ = 0;
};

}  // namespace kafka
