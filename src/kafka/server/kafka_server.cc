#include "kafka/server/kafka_server.h"

#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

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

// One shard's memory account (request bodies, their decoded structures, responses not
// yet taken by their clients) and its connections. Readers waiting for memory are woken
// by a timer cancel whenever some is released.
struct kafka_server::shard_state {
  explicit shard_state(net::asio::io_context& io) : released(io) {
    released.expires_at(std::chrono::steady_clock::time_point::max());
  }
  uint64_t used = 0;
  net::asio::steady_timer released;
  std::list<connection*> connections;  // each removes itself when it is destroyed
  bool stopping = false;
};

// Open connections per client address, for the per-address cap (touched on accept and
// close only).
struct kafka_server::connection_counts {
  std::mutex mu;
  std::unordered_map<std::string, uint32_t> by_address;
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
std::atomic<uint64_t> g_memory_used{0};  // every shard's account, for /metrics

base::metrics::counter& refused_counter(std::string_view reason) {
  return base::metrics::registry::global().get_counter(
      "riptide_kafka_connections_refused_total",
      "Kafka connections closed at once because a connection cap was reached",
      {{"limit", std::string(reason)}});
}

base::metrics::counter& closed_counter(std::string_view reason) {
  return base::metrics::registry::global().get_counter(
      "riptide_kafka_connections_closed_total",
      "Kafka connections the broker closed because a client broke a limit",
      {{"reason", std::string(reason)}});
}

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
        sasl_(&opts.sasl),
        wake_(socket_.get_executor()),
        idle_(socket_.get_executor()),
        write_deadline_(socket_.get_executor()),
        auth_deadline_(socket_.get_executor()),
        cuts_seen_(b.faults().cut_connections.load(std::memory_order_relaxed)) {
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
    boost::system::error_code ec;
    auto peer = socket_.remote_endpoint(ec);
    if (!ec) peer_host_ = fmt::format("/{}", peer.address().to_string());
    listed_ = state_.connections.insert(state_.connections.end(), this);
  }
  ~connection() { state_.connections.erase(listed_); }

  net::task<void> run();
  // Stops reading requests; responses still go out.
  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(net::tcp::socket::shutdown_receive, ignored);
  }
  // Ends the connection, responses included (a client that does not read them).
  void abort() {
    boost::system::error_code ignored;
    socket_.shutdown(net::tcp::socket::shutdown_both, ignored);
  }

 private:
  struct slot {
    int32_t correlation_id = 0;
    int16_t response_header_version = 0;
    bool done = false;
    handler_result result;
    uint64_t reserved = 0;             // the request's bytes, until it is handled
    protocol::decode_account decoded;  // its decoded structures, until it is handled
    uint64_t response_bytes = 0;       // its response, until the client has taken it
    bool raw = false;                  // a raw SASL token: framed by its size alone
  };

  net::task<void> read_loop();
  net::task<void> write_loop();
  net::task<void> handle(std::shared_ptr<slot> s, const api_entry* api, request_context ctx);
  net::task<bool> reserve(uint64_t bytes);
  // A raw SASL token (after a v0 SaslHandshake): answered in line; false ends the
  // connection (the exchange failed).
  bool raw_sasl_token(std::span<const uint8_t> token, uint64_t size);
  // Charges memory the shard already uses (decoded structures, built responses).
  void charge(uint64_t bytes) {
    state_.used += bytes;
    g_memory_used.fetch_add(bytes, std::memory_order_relaxed);
  }
  void release(uint64_t bytes);
  void wake() { wake_.cancel(); }
  void warn(std::string_view what);
  uint64_t connection_limit() const { return std::max<uint64_t>(opts_.shard_memory_budget / 8, 1); }

  net::tcp::socket socket_;
  unsigned shard_;
  broker::broker& broker_;
  const kafka_server_options& opts_;
  kafka_server::shard_state& state_;
  sasl_session sasl_;
  std::deque<std::shared_ptr<slot>> slots_;  // in request order
  net::asio::steady_timer wake_;
  net::asio::steady_timer idle_;
  net::asio::steady_timer write_deadline_;
  net::asio::steady_timer auth_deadline_;
  uint64_t cuts_seen_;  // the fault switch's count when this connection opened
  std::string peer_host_;
  std::list<connection*>::iterator listed_;
  uint64_t held_ = 0;  // request bytes and unsent responses of this connection
  bool reading_done_ = false;
  bool closing_ = false;
  bool writer_done_ = false;
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
  charge(bytes);
  co_return true;
}

void connection::release(uint64_t bytes) {
  if (bytes == 0) return;
  state_.used -= bytes;
  g_memory_used.fetch_sub(bytes, std::memory_order_relaxed);
  state_.released.cancel();
  state_.released.expires_at(std::chrono::steady_clock::time_point::max());
}

bool connection::raw_sasl_token(std::span<const uint8_t> token, uint64_t size) {
  const auto step =
      sasl_.step(std::string_view(reinterpret_cast<const char*>(token.data()), token.size()));
  handlers::count_sasl_outcome(sasl_, step, peer_host_);
  release(size);
  held_ -= size;
  if (step.failed) return false;  // as Kafka: a raw exchange that fails is closed
  auto s = std::make_shared<slot>();
  s->raw = true;
  s->done = true;
  base::iobuf body;
  body.append(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(step.reply.data()),
                                       step.reply.size()));
  s->result.body = std::move(body);
  s->response_bytes = s->result.body->size();
  charge(s->response_bytes);
  held_ += s->response_bytes;
  slots_.push_back(std::move(s));
  wake();
  return true;
}

net::task<void> connection::run() {
  auto self = shared_from_this();
  net::asio::co_spawn(socket_.get_executor(), write_loop(), net::asio::detached);
  if (sasl_.required()) {
    // A client that does not authenticate in time is closed: it cannot hold a connection
    // slot forever by sending ApiVersions now and then.
    auth_deadline_.expires_after(opts_.request_timeout);
    auth_deadline_.async_wait([self](boost::system::error_code ec) {
      if (ec || self->sasl_.authenticated()) return;
      self->warn(fmt::format("not authenticated within {} ms (kafka.request_timeout)",
                             self->opts_.request_timeout.count()));
      closed_counter("authentication_timeout").add();
      self->abort();
    });
  }
  co_await read_loop();
  auth_deadline_.cancel();
  reading_done_ = true;
  wake();
}

net::task<void> connection::read_loop() {
  auto self = shared_from_this();
  for (;;) {
    // Backpressure: a connection that holds its share of the shard's memory (requests
    // being handled, responses it has not read) is not read until it holds less.
    while (held_ > connection_limit() && !closing_) {
      co_await wake_.async_wait(as_tuple(use_awaitable));
      wake_.expires_at(std::chrono::steady_clock::time_point::max());
    }
    if (closing_) co_return;
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
    const bool raw_token = sasl_.raw_tokens();
    const uint32_t max_size =
        sasl_.authenticated() ? opts_.max_request_bytes : opts_.max_unauthenticated_request_bytes;
    if (size < (raw_token ? 0u : 8u) || size > max_size) {
      warn(fmt::format("request size {} outside [{}, {}]{}", size, raw_token ? 0 : 8, max_size,
                       sasl_.authenticated() ? "" : " (before SASL authentication)"));
      co_return;
    }
    while (slots_.size() >= opts_.max_in_flight_per_connection && !closing_) {
      co_await wake_.async_wait(as_tuple(use_awaitable));
      wake_.expires_at(std::chrono::steady_clock::time_point::max());
    }
    if (closing_) co_return;
    if (!co_await reserve(size)) co_return;
    held_ += size;
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
      held_ -= size;
      co_return;
    }
    if (raw_token) {
      if (!raw_sasl_token(bytes, size)) co_return;
      continue;
    }
    protocol::reader r(bytes);
    const int16_t api_key = r.read_int16();
    const int16_t api_version = r.read_int16();
    const api_entry* api = find_api(api_key);
    if (!api) {
      release(size);
      held_ -= size;
      warn(fmt::format("unknown API key {}", api_key));
      co_return;
    }
    const bool supported = api_version >= api->min_version && api_version <= api->max_version;
    const bool api_versions = api_key == 18;
    if (!supported && !api_versions) {
      release(size);
      held_ -= size;
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
      held_ -= size;
      warn("malformed request header");
      co_return;
    }
    const bool sasl_api = api_key == 17 || api_key == 36;
    if (!sasl_.authenticated() && !sasl_api && !api_versions) {
      release(size);
      held_ -= size;
      warn(fmt::format("{} request before SASL authentication", api->name));
      closed_counter("unauthenticated").add();
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
      held_ -= size;
      s->reserved = 0;
      wake();
      continue;
    }
    s->response_header_version = protocol::response_header_version(api_key, api_version);
    request_context ctx{
        broker_,
        opts_.info,
        shard_,
        api_key,
        api_version,
        header.correlation_id,
        broker::request_identity{sasl_.principal(), header.client_id, peer_host_, "kafka"},
        frame,
        protocol::reader(hr.rest(), &s->decoded)};
    s->decoded.limit = connection_limit();
    s->decoded.shared = &state_.used;
    if (sasl_api) {
      // In line: the next request must see the outcome (who the connection is).
      ctx.sasl = &sasl_;
      co_await handle(s, api, std::move(ctx));
      if (!sasl_.authenticated() && !sasl_.expecting_token() && api_key == 36) {
        co_return;  // the exchange failed: its answer goes out, then the connection closes
      }
      continue;
    }
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
  if (s->decoded.over_limit) {
    warn(
        fmt::format("a {} request would decode into more than {} bytes (an eighth of "
                    "kafka.memory_budget)",
                    api->name, s->decoded.limit));
    closed_counter("decoded_size").add();
  }
  s->done = true;
  g_memory_used.fetch_add(s->decoded.charged, std::memory_order_relaxed);  // via `shared`
  release(s->reserved + s->decoded.charged);
  held_ -= s->reserved;
  s->reserved = 0;
  s->decoded.charged = 0;
  // The response is held until the client has taken it.
  if (s->result.body && !writer_done_) {
    s->response_bytes = s->result.body->size();
    charge(s->response_bytes);
    held_ += s->response_bytes;
  }
  wake();
}

net::task<void> connection::write_loop() {
  auto self = shared_from_this();
  for (;;) {
    while (!slots_.empty() && slots_.front()->done) {
      auto s = std::move(slots_.front());
      slots_.pop_front();
      const uint64_t response_bytes = std::exchange(s->response_bytes, 0);
      if (s->result.close_connection) {
        release(response_bytes);
        held_ -= response_bytes;
        closing_ = true;
        break;
      }
      if (!s->result.body) {  // acks=0: no response at all
        wake();               // room for the reader
        continue;
      }
      if (broker_.faults().cut_connections.load(std::memory_order_relaxed) != cuts_seen_) {
        // Fault injection: the connection dies with this response unsent.
        release(response_bytes);
        held_ -= response_bytes;
        closing_ = true;
        break;
      }
      base::iobuf frame;
      {
        base::iobuf header;
        protocol::writer w(header);
        if (!s->raw) {
          protocol::response_header h;
          h.correlation_id = s->correlation_id;
          h.encode(w, s->response_header_version);
        }
        const uint64_t size = header.size() + s->result.body->size();
        if (size > static_cast<uint64_t>(INT32_MAX)) {
          base::logger("kafka")->error(
              "a response of {} bytes cannot be framed; closing the connection", size);
          release(response_bytes);
          held_ -= response_bytes;
          closing_ = true;
          break;
        }
        const uint8_t be[4] = {static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
                               static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)};
        frame.append(std::span<const uint8_t>(be, 4));
        frame.append(std::move(header));
        frame.append(std::move(*s->result.body));
      }
      // A client that does not take its responses is cut off: what they hold is freed.
      write_deadline_.expires_after(opts_.write_timeout);
      write_deadline_.async_wait(
          [self, timeout = opts_.write_timeout, bytes = frame.size()](boost::system::error_code e) {
            if (!e) {
              self->warn(
                  fmt::format("a {}-byte response was not read within {} ms (kafka.write_timeout)",
                              bytes, timeout.count()));
              closed_counter("write_timeout").add();
              self->abort();
            }
          });
      auto ec = co_await net::send_iobuf(socket_, frame);
      write_deadline_.cancel();
      frame.clear();
      s.reset();
      release(response_bytes);
      held_ -= response_bytes;
      wake();  // room for the reader
      if (ec) {
        closing_ = true;
        break;
      }
    }
    if (closing_ || (reading_done_ && slots_.empty())) break;
    co_await wake_.async_wait(as_tuple(use_awaitable));
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
  }
  closing_ = true;
  writer_done_ = true;
  // Responses built but never to be sent give their memory back.
  for (auto& s : slots_) {
    const uint64_t response_bytes = std::exchange(s->response_bytes, 0);
    release(response_bytes);
    held_ -= response_bytes;
  }
  wake();  // a reader waiting for room sees closing_
  // Wait for in-flight handlers before the socket goes away (they hold `self`).
  boost::system::error_code ignored;
  socket_.shutdown(net::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

kafka_server::kafka_server(broker::broker& b, kafka_server_options opts)
    : broker_(b), opts_(std::move(opts)), counts_(std::make_unique<connection_counts>()) {
  auto& reg = base::metrics::registry::global();
  connections_gauge_ =
      reg.add_gauge("riptide_kafka_connections", "Open Kafka client connections", [](auto& out) {
        out.push_back({{}, static_cast<double>(g_open_connections.load())});
      });
  memory_gauge_ = reg.add_gauge(
      "riptide_kafka_memory_bytes",
      "Memory held by Kafka requests, their decoded form and unsent responses (all shards)",
      [](auto& out) {
        out.push_back({{}, static_cast<double>(g_memory_used.load())});
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
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;  // already gone
  const std::string address = peer.address().to_string();
  // Connection caps: over one, the connection is closed at once (as Kafka does).
  const char* refused = nullptr;
  uint32_t from_address = 0;
  {
    std::lock_guard lock(counts_->mu);
    auto& n = counts_->by_address[address];
    if (g_open_connections.load(std::memory_order_relaxed) >= opts_.max_connections) {
      refused = "kafka.max_connections";
    } else if (n >= opts_.max_connections_per_ip) {
      refused = "kafka.max_connections_per_ip";
    } else {
      ++n;
      g_open_connections.fetch_add(1, std::memory_order_relaxed);
    }
    from_address = n;
    if (n == 0) counts_->by_address.erase(address);
  }
  if (refused) {
    refused_counter(refused).add();
    static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
    if (auto note = limiter.allow()) {
      base::logger("kafka")->warn(
          "refusing a connection from {}: {} connection(s) open from it, {} in all; the "
          "limit is {} = {}{}",
          address, from_address, g_open_connections.load(), refused,
          refused == std::string_view("kafka.max_connections") ? opts_.max_connections
                                                               : opts_.max_connections_per_ip,
          *note);
    }
    socket.close(ec);
    co_return;
  }
  {
    auto c = std::make_shared<connection>(std::move(socket), shard, broker_, opts_, st);
    co_await c->run();
  }
  g_open_connections.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard lock(counts_->mu);
  if (auto it = counts_->by_address.find(address);
      it != counts_->by_address.end() && --it->second == 0) {
    counts_->by_address.erase(it);
  }
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
      for (auto* c : st.connections) c->close();
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
      broker_.shards()[i].post([&, i] { n.set_value(shards_[i]->connections.size()); });
      open += n.get_future().get();
    }
    if (open == 0) break;
    if (attempt == 200) {
      // Five seconds on: what is left are responses no client reads. Cut them.
      for (unsigned i = 0; i < shards_.size(); ++i) {
        std::promise<void> done;
        broker_.shards()[i].post([&, i] {
          for (auto* c : shards_[i]->connections) c->abort();
          done.set_value();
        });
        done.get_future().wait();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  tcp_.reset();
}

}  // namespace kafka
