#include "kafka/server/kafka_server.h"

#include <deque>

#include <fmt/format.h>
#include <future>
#include <thread>

#include "base/logging.h"
#include "base/metrics.h"
#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/api_table.h"
#include "kafka/protocol/generated/request_header.h"
#include "kafka/protocol/generated/response_header.h"
#include "kafka/server/api_table.h"
#include "net/send.h"

namespace kafka {

using net::asio::as_tuple;
using net::asio::use_awaitable;

// Memory reserved by request bodies on one shard; waiting readers are woken by a
// timer cancel whenever memory is released.
struct kafka_server::shard_state {
  explicit shard_state(net::asio::io_context& io) : released(io) {
    released.expires_at(std::chrono::steady_clock::time_point::max());
  }
  uint64_t used = 0;
  net::asio::steady_timer released;
  std::list<std::weak_ptr<connection>> connections;
  bool stopping = false;
};

namespace {

// Per-API request counters and latency histograms, looked up once.
struct api_metrics {
  base::metrics::counter* requests = nullptr;
  base::metrics::histogram* latency = nullptr;
};

const api_metrics& metrics_for(int16_t key) {
  static const auto table = [] {
    std::array<api_metrics, 128> t{};
    auto& reg = base::metrics::registry::global();
    for (const auto& api : supported_apis()) {
      const base::metrics::labels l = {{"api", std::string(api.name)}};
      t[static_cast<size_t>(api.key)] = {
          &reg.get_counter("riptide_kafka_requests_total", "Kafka requests handled, by API", l),
          &reg.get_histogram("riptide_kafka_request_seconds",
                             "Time from a request's arrival to its response being ready", l)};
    }
    return t;
  }();
  return table[static_cast<size_t>(key) & 127];
}

std::atomic<int64_t> g_open_connections{0};

}  // namespace

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(net::tcp::socket s, unsigned shard, broker::broker& b,
             const kafka_server_options& opts, kafka_server::shard_state& st)
      : socket_(std::move(s)),
        shard_(shard),
        broker_(b),
        opts_(opts),
        state_(st),
        wake_(socket_.get_executor()),
        idle_(socket_.get_executor()),
        cuts_seen_(b.faults().cut_connections.load(std::memory_order_relaxed)) {
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
    boost::system::error_code ec;
    auto peer = socket_.remote_endpoint(ec);
    if (!ec) peer_host_ = fmt::format("/{}", peer.address().to_string());
  }

  net::task<void> run();
  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(net::tcp::socket::shutdown_receive, ignored);
  }

 private:
  struct slot {
    int32_t correlation_id = 0;
    int16_t response_header_version = 0;
    bool done = false;
    handler_result result;
    uint64_t reserved = 0;
  };

  net::task<void> read_loop();
  net::task<void> write_loop();
  net::task<void> handle(std::shared_ptr<slot> s, const api_entry* api, request_context ctx);
  net::task<bool> reserve(uint64_t bytes);
  void release(uint64_t bytes);
  void wake() { wake_.cancel(); }
  void warn(std::string_view what);

  net::tcp::socket socket_;
  unsigned shard_;
  broker::broker& broker_;
  const kafka_server_options& opts_;
  kafka_server::shard_state& state_;
  std::deque<std::shared_ptr<slot>> slots_;  // in request order
  net::asio::steady_timer wake_;
  net::asio::steady_timer idle_;
  uint64_t cuts_seen_;  // the fault switch's count when this connection opened
  std::string peer_host_;
  bool reading_done_ = false;
  bool closing_ = false;
};

void connection::warn(std::string_view what) {
  static base::log_rate_limiter limiter(10, std::chrono::seconds(10));
  if (auto note = limiter.allow()) {
    boost::system::error_code ec;
    auto peer = socket_.remote_endpoint(ec);
    base::logger("kafka")->warn("closing connection from {}:{}: {}{}",
                                ec ? "?" : peer.address().to_string(), ec ? 0 : peer.port(), what,
                                *note);
  }
}

net::task<bool> connection::reserve(uint64_t bytes) {
  // A single request larger than the whole budget still gets through alone.
  while (state_.used > 0 && state_.used + bytes > opts_.shard_memory_budget) {
    co_await state_.released.async_wait(as_tuple(use_awaitable));
    if (state_.stopping) co_return false;
  }
  state_.used += bytes;
  co_return true;
}

void connection::release(uint64_t bytes) {
  state_.used -= bytes;
  state_.released.cancel();
  state_.released.expires_at(std::chrono::steady_clock::time_point::max());
}

net::task<void> connection::run() {
  auto self = shared_from_this();
  net::asio::co_spawn(socket_.get_executor(), write_loop(), net::asio::detached);
  co_await read_loop();
  reading_done_ = true;
  wake();
}

net::task<void> connection::read_loop() {
  auto self = shared_from_this();
  for (;;) {
    // Idle timeout: close a connection that sends nothing for too long.
    idle_.expires_after(opts_.idle_timeout);
    idle_.async_wait([self](boost::system::error_code ec) {
      if (!ec) {
        self->warn("idle timeout");
        self->close();
      }
    });
    uint8_t size_bytes[4];
    auto [ec, n] = co_await net::asio::async_read(socket_, net::asio::buffer(size_bytes),
                                                  as_tuple(use_awaitable));
    idle_.cancel();
    if (ec) co_return;  // closed by the client or by shutdown
    const uint32_t size = (uint32_t{size_bytes[0]} << 24) | (uint32_t{size_bytes[1]} << 16) |
                          (uint32_t{size_bytes[2]} << 8) | size_bytes[3];
    if (size < 8 || size > opts_.max_request_bytes) {
      warn(fmt::format("request size {} outside [8, {}]", size, opts_.max_request_bytes));
      co_return;
    }
    while (slots_.size() >= opts_.max_in_flight_per_connection) {
      co_await wake_.async_wait(as_tuple(use_awaitable));
      wake_.expires_at(std::chrono::steady_clock::time_point::max());
    }
    if (!co_await reserve(size)) co_return;
    // Not zero-filled: the read overwrites every byte (zeroing was 6-8% of the broker's
    // CPU under small-record produce load).
    std::shared_ptr<uint8_t[]> buffer = std::make_shared_for_overwrite<uint8_t[]>(size);
    // The body must follow its size promptly: a client that sends prefixes and stops
    // would otherwise hold the shard's request memory for as long as it likes.
    idle_.expires_after(opts_.request_timeout);
    idle_.async_wait([self, size, timeout = opts_.request_timeout](boost::system::error_code e) {
      if (!e) {
        self->warn(
            fmt::format("the body of a {}-byte request did not arrive within {} ms "
                        "(kafka.request_timeout); closing the connection",
                        size, timeout.count()));
        self->close();
      }
    });
    auto [rec, rn] = co_await net::asio::async_read(socket_, net::asio::buffer(buffer.get(), size),
                                                    as_tuple(use_awaitable));
    idle_.cancel();
    const std::shared_ptr<const uint8_t[]> frame = std::move(buffer);
    const std::span<const uint8_t> bytes(frame.get(), size);
    if (rec) {
      release(size);
      co_return;
    }
    protocol::reader r(bytes);
    const int16_t api_key = r.read_int16();
    const int16_t api_version = r.read_int16();
    const api_entry* api = find_api(api_key);
    if (!api) {
      release(size);
      warn(fmt::format("unknown API key {}", api_key));
      co_return;
    }
    const bool supported = api_version >= api->min_version && api_version <= api->max_version;
    const bool api_versions = api_key == 18;
    if (!supported && !api_versions) {
      release(size);
      warn(fmt::format("unsupported {} version {}", api->name, api_version));
      co_return;
    }
    protocol::reader hr(bytes);
    protocol::request_header header;
    // An ApiVersions request newer than we know is parsed with the v2 header, whose
    // client id stays readable by any broker; its body is ignored.
    const int16_t header_version =
        protocol::request_header_version(api_key, supported ? api_version : api->max_version);
    if (!header.decode(hr, header_version)) {
      release(size);
      warn("malformed request header");
      co_return;
    }
    auto s = std::make_shared<slot>();
    s->correlation_id = header.correlation_id;
    s->reserved = size;
    slots_.push_back(s);
    if (!supported) {
      s->response_header_version = 0;
      s->result = handler_result{handlers::api_versions_unsupported(), false};
      s->done = true;
      release(size);
      s->reserved = 0;
      wake();
      continue;
    }
    s->response_header_version = protocol::response_header_version(api_key, api_version);
    request_context ctx{broker_,
                        opts_.info,
                        shard_,
                        api_key,
                        api_version,
                        header.correlation_id,
                        header.client_id,
                        peer_host_,
                        frame,
                        protocol::reader(hr.rest())};
    net::asio::co_spawn(socket_.get_executor(), handle(s, api, std::move(ctx)),
                        net::asio::detached);
  }
}

net::task<void> connection::handle(std::shared_ptr<slot> s, const api_entry* api,
                                   request_context ctx) {
  auto self = shared_from_this();
  const auto started = std::chrono::steady_clock::now();
  try {
    s->result = co_await api->handler(ctx);
  } catch (const std::exception& e) {
    base::logger("kafka")->error("{} v{} handler failed: {}", api->name, ctx.api_version, e.what());
    s->result = handler_result::close();
  }
  const auto& m = metrics_for(api->key);
  if (m.requests) {
    m.requests->add();
    m.latency->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  s->done = true;
  release(s->reserved);
  s->reserved = 0;
  wake();
}

net::task<void> connection::write_loop() {
  auto self = shared_from_this();
  for (;;) {
    while (!slots_.empty() && slots_.front()->done) {
      auto s = std::move(slots_.front());
      slots_.pop_front();
      wake();  // room for the reader
      if (s->result.close_connection) {
        closing_ = true;
        break;
      }
      if (!s->result.body) continue;  // acks=0: no response at all
      if (broker_.faults().cut_connections.load(std::memory_order_relaxed) != cuts_seen_) {
        // Fault injection: the connection dies with this response unsent.
        closing_ = true;
        break;
      }
      base::iobuf frame;
      {
        base::iobuf header;
        protocol::writer w(header);
        protocol::response_header h;
        h.correlation_id = s->correlation_id;
        h.encode(w, s->response_header_version);
        const uint32_t size = static_cast<uint32_t>(header.size() + s->result.body->size());
        const uint8_t be[4] = {static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
                               static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)};
        frame.append(std::span<const uint8_t>(be, 4));
        frame.append(std::move(header));
        frame.append(std::move(*s->result.body));
      }
      if (auto ec = co_await net::send_iobuf(socket_, frame)) {
        closing_ = true;
        break;
      }
    }
    if (closing_ || (reading_done_ && slots_.empty())) break;
    co_await wake_.async_wait(as_tuple(use_awaitable));
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
  }
  // Wait for in-flight handlers before the socket goes away (they hold `self`).
  boost::system::error_code ignored;
  socket_.shutdown(net::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

kafka_server::kafka_server(broker::broker& b, kafka_server_options opts)
    : broker_(b), opts_(std::move(opts)) {
  connections_gauge_ = base::metrics::registry::global().add_gauge(
      "riptide_kafka_connections", "Open Kafka client connections", [](auto& out) {
        out.push_back({{}, static_cast<double>(g_open_connections.load())});
      });
  for (unsigned i = 0; i < b.shards().size(); ++i) {
    shards_.push_back(std::make_unique<shard_state>(b.shards()[i].io()));
  }
}

kafka_server::~kafka_server() {
  stop();
}

base::result<uint16_t> kafka_server::start() {
  tcp_ = std::make_unique<net::tcp_server>(
      broker_.shards(), opts_.listen,
      [this](net::tcp::socket s, unsigned shard) { return serve(std::move(s), shard); });
  auto port = tcp_->start();
  if (port && opts_.info.advertised_port == 0) opts_.info.advertised_port = *port;
  return port;
}

net::task<void> kafka_server::serve(net::tcp::socket socket, unsigned shard) {
  auto& st = *shards_[shard];
  if (st.stopping) co_return;
  auto c = std::make_shared<connection>(std::move(socket), shard, broker_, opts_, st);
  g_open_connections.fetch_add(1, std::memory_order_relaxed);
  st.connections.remove_if([](const auto& w) { return w.expired(); });
  st.connections.push_back(c);
  co_await c->run();
  g_open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void kafka_server::stop() {
  if (!tcp_) return;
  tcp_->stop();
  for (unsigned i = 0; i < shards_.size(); ++i) {
    std::promise<void> done;
    broker_.shards()[i].post([&, i] {
      auto& st = *shards_[i];
      st.stopping = true;
      st.released.cancel();
      handlers::end_long_polls();
      for (auto& w : st.connections) {
        if (auto c = w.lock()) c->close();
      }
      done.set_value();
    });
    done.get_future().wait();
  }
  // Drain: in-flight requests finish and their responses go out; the connections
  // then end (their coroutines refer to the per-shard state, which must outlive them).
  for (int attempt = 0; attempt < 400; ++attempt) {
    size_t open = 0;
    for (unsigned i = 0; i < shards_.size(); ++i) {
      std::promise<size_t> n;
      // A connection is gone once its last coroutine (reader, writer, handlers) ended.
      broker_.shards()[i].post([&, i] {
        auto& conns = shards_[i]->connections;
        conns.remove_if([](const auto& w) { return w.expired(); });
        n.set_value(conns.size());
      });
      open += n.get_future().get();
    }
    if (open == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  tcp_.reset();
}

}  // namespace kafka
