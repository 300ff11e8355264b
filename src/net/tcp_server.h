#pragma once
// A TCP listener on every shard (SO_REUSEPORT: the kernel spreads connections over
// the shards) that hands each accepted socket to a connection coroutine on the shard
// that accepted it, and tracks open connections for a draining shutdown.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "net/asio.h"
#include "net/shard.h"

namespace net {

struct listen_address {
  std::string host;
  uint16_t port = 0;
  // "HOST:PORT" (HOST may be an IPv4 address, [IPv6] or a name resolving locally).
  static std::optional<listen_address> parse(std::string_view text);
  std::string to_string() const;
};

class tcp_server {
 public:
  // Called on the accepting shard; the coroutine owns the socket.
  using handler = std::function<task<void>(tcp::socket, unsigned shard)>;

  // Listens on the first `listen_shards` shards (all when 0).
  tcp_server(shard_set& shards, listen_address addr, handler h, unsigned listen_shards = 0);
  ~tcp_server();

  // Binds and listens on every shard; returns the bound port (useful with port 0).
  base::result<uint16_t> start();
  // Stops accepting (existing connections are left to the handler's own shutdown).
  void stop();

 private:
  struct per_shard;
  task<void> accept_loop(per_shard& ps);

  shard_set& shards_;
  listen_address addr_;
  handler handler_;
  unsigned listen_shards_;
  std::vector<std::unique_ptr<per_shard>> listeners_;
};

}  // namespace net
