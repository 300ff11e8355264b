#include "net/tcp_server.h"

#include <sys/socket.h>

#include <charconv>
#include <future>

#include "base/logging.h"

namespace net {

struct tcp_server::per_shard {
  explicit per_shard(shard& s) : sh(s), acceptor(s.io()) {}
  shard& sh;
  tcp::acceptor acceptor;
};

std::optional<listen_address> listen_address::parse(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535 || port.empty()) {
    return std::nullopt;
  }
  boost::system::error_code bad;
  asio::ip::make_address(std::string(host), bad);
  if (bad && host != "localhost") return std::nullopt;
  return listen_address{std::string(host), static_cast<uint16_t>(p)};
}

std::string listen_address::to_string() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

tcp_server::tcp_server(shard_set& shards, listen_address addr, handler h, unsigned listen_shards)
    : shards_(shards),
      addr_(std::move(addr)),
      handler_(std::move(h)),
      listen_shards_(listen_shards == 0 ? shards.size() : std::min(listen_shards, shards.size())) {}

tcp_server::~tcp_server() {
  stop();
}

base::result<uint16_t> tcp_server::start() {
  const auto host = addr_.host == "localhost" ? std::string("127.0.0.1") : addr_.host;
  uint16_t port = addr_.port;
  if (port != 0) {
    // SO_REUSEPORT would let this process share a port another process (of the same
    // user) already listens on, splitting its clients between the two. A plain bind
    // first turns that into the usual "address in use".
    boost::system::error_code ec;
    tcp::endpoint ep(asio::ip::make_address(host, ec), port);
    if (ec) return std::error_code(ec.value(), std::system_category());
    tcp::acceptor probe(shards_[0].io());
    probe.open(ep.protocol(), ec);
    if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) probe.bind(ep, ec);
    if (ec) return std::error_code(ec.value(), std::system_category());
    probe.close(ec);
  }
  for (unsigned i = 0; i < listen_shards_; ++i) {
    auto ps = std::make_unique<per_shard>(shards_[i]);
    boost::system::error_code ec;
    tcp::endpoint ep(asio::ip::make_address(host, ec), port);
    if (ec) return std::error_code(ec.value(), std::system_category());
    ps->acceptor.open(ep.protocol(), ec);
    if (!ec) ps->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(ps->acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) !=
          0) {
        return base::last_system_error();
      }
      ps->acceptor.bind(ep, ec);
    }
    if (!ec) ps->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return std::error_code(ec.value(), std::system_category());
    port = ps->acceptor.local_endpoint().port();  // the port 0 picked, for the others
    listeners_.push_back(std::move(ps));
  }
  addr_.port = port;
  for (auto& ps : listeners_) {
    asio::co_spawn(ps->sh.io(), accept_loop(*ps), asio::detached);
  }
  return port;
}

task<void> tcp_server::accept_loop(per_shard& ps) {
  for (;;) {
    auto [ec, socket] = co_await ps.acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !ps.acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors and the like: say so (rarely), back off, keep serving.
      static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
      if (auto note = limiter.allow()) {
        base::logger("net")->warn("accept on {} failed: {}{}", addr_.to_string(), ec.message(),
                                  *note);
      }
      asio::steady_timer t(ps.sh.io(), std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(ps.sh.io(), handler_(std::move(socket), ps.sh.id()), asio::detached);
  }
}

void tcp_server::stop() {
  for (auto& ps : listeners_) {
    std::promise<void> done;
    asio::post(ps->sh.io(), [&] {
      boost::system::error_code ignored;
      ps->acceptor.close(ignored);
      done.set_value();
    });
    done.get_future().wait();
  }
  listeners_.clear();
}

}  // namespace net
