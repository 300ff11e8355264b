// http_bench: load for Riptide's HTTP API. Four modes (`http_bench MODE --help`):
//
//   produce  keep-alive connections posting back-to-back requests of N records each
//            (one precomputed body); msgs/s, MB/s, requests/s and request latency.
//   ws-idle  N WebSocket subscriptions opened at a bounded rate and held idle; how many
//            open and stay open (bench/http_bench.py reads the broker's memory meanwhile).
//   fanout   N WebSocket subscribers and one paced producer, at one or more rates; records
//            delivered per second and producer -> subscriber latency (http_bench_fanout.cc),
//            against Riptide or against NATS core pub/sub over WebSocket (--nats).
//   queue    producers and WebSocket queue workers acking each record on its own; records
//            acknowledged per second and send -> ack latency (http_bench_queue.cc), the
//            queue workload of bench/peers/run.py.
//
// Each thread runs an io_context of its own; connections are spread over the threads.
// The last stdout line with --json is one JSON object (bench/http_bench.py parses it).

#include "http_bench.h"

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdio>

namespace http_bench {

namespace bhttp = boost::beast::http;

// ---- shared helpers ----------------------------------------------------------------

tcp::endpoint address::endpoint() const {
  const std::string h = host == "localhost" ? std::string("127.0.0.1") : host;
  return {asio::ip::make_address(h), port};
}

std::optional<address> parse_url(std::string_view url) {
  if (auto scheme = url.find("://"); scheme != std::string_view::npos)
    url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find('/'));
  const size_t colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  address a;
  a.host = std::string(url.substr(0, colon));
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  unsigned long p = 0;
  try {
    size_t used = 0;
    p = std::stoul(std::string(url.substr(colon + 1)), &used);
    if (used != url.size() - colon - 1) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (p == 0 || p > 65535) return std::nullopt;
  a.port = static_cast<uint16_t>(p);
  return a;
}

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t raise_descriptor_limit(uint64_t want) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want && lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max == RLIM_INFINITY ? want : std::min<rlim_t>(want, lim.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(lim.rlim_cur);
}

std::string stamped_value(size_t size, int64_t ns) {
  std::string v(std::max(size, kStampSize), 'x');
  std::copy(kStampMarker.begin(), kStampMarker.end(), v.begin());
  restamp(v.data(), ns);
  return v;
}

void restamp(char* value, int64_t ns) {
  auto u = static_cast<uint64_t>(ns < 0 ? 0 : ns);
  for (size_t i = kStampSize; i > kStampMarker.size(); --i) {
    value[i - 1] = static_cast<char>('0' + u % 10);
    u /= 10;
  }
}

io_threads::io_threads(int n) {
  for (int i = 0; i < std::max(n, 1); ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
  for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
}

io_threads::~io_threads() {
  stop();
}

void io_threads::stop() {
  guards_.clear();
  for (auto& c : contexts_) c->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void connection_counts::fail(const std::string& why) {
  failed.fetch_add(1);
  std::lock_guard lock(mu);
  if (first_error.empty()) first_error = why;
}

asio::awaitable<std::shared_ptr<ws_stream>> connect_ws(address addr, std::string target,
                                                       connection_counts* counts) {
  auto ex = co_await asio::this_coro::executor;
  counts->attempted.fetch_add(1);
  auto ws = std::make_shared<ws_stream>(ex);
  auto& low = beast::get_lowest_layer(*ws);
  low.expires_after(std::chrono::seconds(10));
  auto [cec] = co_await low.async_connect(addr.endpoint(), as_tuple(use_awaitable));
  if (cec) {
    counts->fail("connect: " + cec.message());
    co_return nullptr;
  }
  low.expires_never();
  low.socket().set_option(tcp::no_delay(true));
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  ws->set_option(t);
  ws->read_message_max(64u << 20);
  websocket::response_type res;
  auto [hec] = co_await ws->async_handshake(res, addr.host_port(), target, as_tuple(use_awaitable));
  if (hec) {
    std::string why = "handshake: " + hec.message();
    if (res.result_int() != 0) {
      why += " (HTTP " + std::to_string(res.result_int()) + " " + res.body().substr(0, 200) + ")";
    }
    counts->fail(why);
    co_return nullptr;
  }
  counts->opened.fetch_add(1);
  counts->open.fetch_add(1);
  co_return ws;
}

std::string why_closed(const ws_stream& ws, const boost::system::error_code& ec) {
  if (ec != websocket::error::closed) return "closed: " + ec.message();
  const auto& r = ws.reason();
  return "closed by the server with code " + std::to_string(r.code) + ": " +
         std::string(r.reason.data(), r.reason.size());
}

asio::awaitable<std::optional<uint64_t>> connect_plan::take() {
  const uint64_t i = next.fetch_add(1);
  if (i >= total) co_return std::nullopt;
  const int64_t due = start_ns + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate);
  if (due > steady_ns()) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::nanoseconds(due - steady_ns()));
    co_await timer.async_wait(as_tuple(use_awaitable));
  }
  co_return i;
}

std::string latency_json(const cli::bench::histogram& h) {
  using cli::bench::us;
  char out[256];
  std::snprintf(
      out, sizeof out,
      "{\"count\":%" PRIu64 ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}",
      h.count(), us(h.quantile(0.5)), us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()));
  return out;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::pair<unsigned, std::string> http_call(const address& addr, std::string_view verb,
                                           const std::string& target, const std::string& body) {
  try {
    asio::io_context io;
    tcp::socket sock(io);
    sock.connect(addr.endpoint());
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(verb), target, 11);
    req.set(bhttp::field::host, addr.host_port());
    req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    bhttp::write(sock, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(sock, buf, res);
    return {res.result_int(), res.body()};
  } catch (const std::exception& e) {
    return {0, e.what()};
  }
}

std::string create_topic(const address& addr, const std::string& topic, int partitions) {
  auto [status, body] = http_call(addr, "POST", "/v1/topics",
                                  "{\"name\":\"" + json_escape(topic) + "\",\"partitions\":" +
                                      std::to_string(partitions) + ",\"configs\":{}}");
  if (status == 200 || status == 201 || status == 409) return {};
  return "creating topic " + topic + ": " +
         (status ? "HTTP " + std::to_string(status) + " " : std::string()) + body;
}

std::optional<address> open_target(const std::string& url, const std::string& topic, int partitions,
                                   int& rc) {
  auto addr = parse_url(url);
  if (!addr) {
    std::fprintf(stderr, "http_bench: --url must be http://HOST:PORT, not %s\n", url.c_str());
    rc = 2;
    return std::nullopt;
  }
  if (partitions > 0) {
    if (auto err = create_topic(*addr, topic, partitions); !err.empty()) {
      std::fprintf(stderr, "http_bench: %s\n", err.c_str());
      rc = 1;
      return std::nullopt;
    }
  }
  return addr;
}

namespace {

// ---- produce ------------------------------------------------------------------------

struct produce_thread {
  cli::bench::histogram latency;  // request written -> response read
  std::atomic<uint64_t> requests{0}, records{0}, errors{0};
  std::atomic<int64_t> last_ns{0};
};

struct produce_run {
  address addr;
  std::string request;  // the whole HTTP request, sent as is each time
  int records = 0;
  int64_t end_ns = 0;
  std::atomic<int> running{0};
  connection_counts conns;
};

std::string produce_request(const produce_options& o, const address& a) {
  std::string body = "{\"format\":\"text\",\"records\":[";
  uint64_t x = 0x9e3779b97f4a7c15ull;
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (int i = 0; i < o.records_per_request; ++i) {
    body += i ? ",{\"value\":\"" : "{\"value\":\"";
    for (size_t j = 0; j < o.record_bytes; ++j) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      body += kAlphabet[x % (sizeof kAlphabet - 1)];
    }
    body += "\"}";
  }
  body += "]}";
  return "POST /v1/topics/" + o.topic + "/records HTTP/1.1\r\nHost: " + a.host_port() +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

asio::awaitable<void> produce_connection(produce_run* run, produce_thread* st) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer pause(ex);
  beast::flat_buffer buf;
  std::unique_ptr<tcp::socket> sock;
  while (steady_ns() < run->end_ns) {
    if (!sock) {
      sock = std::make_unique<tcp::socket>(ex);
      auto [cec] = co_await sock->async_connect(run->addr.endpoint(), as_tuple(use_awaitable));
      if (cec) {
        run->conns.fail("connect: " + cec.message());
        sock.reset();
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(as_tuple(use_awaitable));
        continue;
      }
      sock->set_option(tcp::no_delay(true));
      run->conns.opened.fetch_add(1);
      buf.clear();
    }
    const int64_t t0 = steady_ns();
    auto [wec, wn] =
        co_await asio::async_write(*sock, asio::buffer(run->request), as_tuple(use_awaitable));
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(16u << 20);
    boost::system::error_code rec;
    if (!wec) {
      auto [ec, rn] = co_await bhttp::async_read(*sock, buf, parser, as_tuple(use_awaitable));
      rec = ec;
    }
    if (wec || rec) {
      st->errors.fetch_add(1);
      run->conns.fail("request: " + (wec ? wec : rec).message());
      sock.reset();
      continue;
    }
    const int64_t t1 = steady_ns();
    const auto& res = parser.get();
    if (res.result_int() == 200) {
      st->latency.record(t1 - t0);
      st->requests.fetch_add(1, std::memory_order_relaxed);
      st->records.fetch_add(static_cast<uint64_t>(run->records), std::memory_order_relaxed);
      st->last_ns.store(t1, std::memory_order_relaxed);
    } else {
      st->errors.fetch_add(1);
      run->conns.fail("HTTP " + std::to_string(res.result_int()) + " " + res.body().substr(0, 300));
      if (res.result_int() == 503) {  // busy: the broker asks to retry shortly
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(as_tuple(use_awaitable));
      }
    }
    if (!res.keep_alive()) sock.reset();
  }
  run->running.fetch_sub(1);
}

}  // namespace

int run_produce(const produce_options& o) {
  int rc = 0;
  auto addr = open_target(o.url, o.topic, o.partitions, rc);
  if (!addr) return rc;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = o.threads > 0 ? o.threads : std::min(o.connections, cores);
  produce_run run;
  run.addr = *addr;
  run.request = produce_request(o, *addr);
  run.records = o.records_per_request;
  std::vector<std::unique_ptr<produce_thread>> stats;
  for (int i = 0; i < threads; ++i) stats.push_back(std::make_unique<produce_thread>());

  const int64_t start = steady_ns();
  run.end_ns = start + static_cast<int64_t>(o.seconds * 1e9);
  run.running = o.connections;
  {
    io_threads io(threads);
    for (int c = 0; c < o.connections; ++c) {
      const auto t = static_cast<size_t>(c % threads);
      asio::co_spawn(io.at(t), produce_connection(&run, stats[t].get()), asio::detached);
    }
    uint64_t last_records = 0;
    int64_t last = start;
    while (run.running.load() > 0 && steady_ns() < run.end_ns + 60'000'000'000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (const int64_t now = steady_ns(); now - last >= 1'000'000'000) {
        uint64_t records = 0;
        for (auto& s : stats) records += s->records.load();
        std::fprintf(
            stderr, "[%5.1fs] %9.0f records/s\n", static_cast<double>(now - start) / 1e9,
            static_cast<double>(records - last_records) * 1e9 / static_cast<double>(now - last));
        last_records = records, last = now;
      }
    }
    io.stop();
  }
  cli::bench::histogram latency;
  uint64_t requests = 0, records = 0, errors = 0;
  int64_t last_ns = start;
  for (auto& s : stats) {
    latency.merge(s->latency);
    requests += s->requests, records += s->records, errors += s->errors;
    last_ns = std::max(last_ns, s->last_ns.load());
  }
  const double secs = last_ns > start ? static_cast<double>(last_ns - start) / 1e9 : o.seconds;
  const double msgs = static_cast<double>(records) / secs;
  const double mb = msgs * static_cast<double>(o.record_bytes) / 1e6;
  const double rps = static_cast<double>(requests) / secs;
  if (o.json) {
    std::printf(
        "{\"mode\":\"produce\",\"topic\":\"%s\",\"connections\":%d,\"threads\":%d,"
        "\"records_per_request\":%d,\"record_bytes\":%zu,\"request_bytes\":%zu,"
        "\"seconds\":%.3f,\"requests\":%" PRIu64 ",\"records\":%" PRIu64 ",\"errors\":%" PRIu64
        ",\"first_error\":\"%s\",\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.2f,"
        "\"requests_per_sec\":%.1f,\"latency\":%s}\n",
        json_escape(o.topic).c_str(), o.connections, threads, o.records_per_request, o.record_bytes,
        run.request.size(), secs, requests, records, errors, json_escape(run.conns.error()).c_str(),
        msgs, mb, rps, latency_json(latency).c_str());
  } else {
    std::printf("\nHTTP produce: %d connection(s), %d records of %zu bytes per request\n",
                o.connections, o.records_per_request, o.record_bytes);
    std::printf("%12s %12s %12s %12s %12s\n", "msgs/s", "MB/s", "requests/s", "requests", "errors");
    std::printf("%12.0f %12.2f %12.0f %12" PRIu64 " %12" PRIu64 "\n", msgs, mb, rps, requests,
                errors);
    std::printf("request latency (ms): p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
                static_cast<double>(latency.quantile(0.5)) / 1e6,
                static_cast<double>(latency.quantile(0.99)) / 1e6,
                static_cast<double>(latency.quantile(0.999)) / 1e6,
                static_cast<double>(latency.max()) / 1e6);
    if (errors) std::printf("first error: %s\n", run.conns.error().c_str());
  }
  return requests > 0 ? 0 : 1;
}

// ---- ws-idle ------------------------------------------------------------------------

namespace {

struct idle_run {
  address addr;
  std::string target;
  connect_plan plan;
  connection_counts counts;
  std::atomic<bool> closing{false};
  std::atomic<int> openers{0};
  std::atomic<uint64_t> sessions{0};
  std::atomic<uint64_t> messages{0};
  // Per thread, touched only on that thread: the streams to close at the end.
  std::vector<std::vector<std::shared_ptr<ws_stream>>> held;
};

asio::awaitable<void> idle_session(std::shared_ptr<ws_stream> ws, idle_run* run) {
  beast::flat_buffer buf;
  for (;;) {
    auto [ec, n] = co_await ws->async_read(buf, as_tuple(use_awaitable));
    if (ec) {
      if (!run->closing.load()) {
        run->counts.dropped.fetch_add(1);
        std::lock_guard lock(run->counts.mu);
        if (run->counts.first_error.empty()) run->counts.first_error = why_closed(*ws, ec);
      }
      break;
    }
    run->messages.fetch_add(1, std::memory_order_relaxed);
    buf.consume(buf.size());
  }
  run->counts.open.fetch_sub(1);
  run->sessions.fetch_sub(1);
}

asio::awaitable<void> idle_opener(idle_run* run, size_t thread) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto i = co_await run->plan.take();
    if (!i) break;
    auto ws = co_await connect_ws(run->addr, run->target, &run->counts);
    if (!ws) continue;
    run->held[thread].push_back(ws);
    run->sessions.fetch_add(1);
    asio::co_spawn(ex, idle_session(std::move(ws), run), asio::detached);
  }
  run->openers.fetch_sub(1);
}

void close_held(std::vector<std::shared_ptr<ws_stream>>* held) {
  for (auto& ws : *held) beast::get_lowest_layer(*ws).close();
  held->clear();
}

}  // namespace

int run_ws_idle(const ws_idle_options& o) {
  int rc = 0;
  auto addr = open_target(o.url, o.topic, o.partitions, rc);
  if (!addr) return rc;
  const uint64_t limit = raise_descriptor_limit(o.subscribers + 64);
  if (limit < o.subscribers + 64) {
    std::fprintf(stderr,
                 "http_bench: the descriptor limit is %" PRIu64
                 " (hard limit reached): not all "
                 "%" PRIu64 " subscribers can open (ulimit -Hn)\n",
                 limit, o.subscribers);
  }
  const int threads = o.threads > 0
                          ? o.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  idle_run run;
  run.addr = *addr;
  run.target = "/v1/topics/" + o.topic + "/ws?from=latest&credit=" + std::to_string(o.credit);
  run.plan.total = o.subscribers;
  run.plan.rate = o.connect_rate;
  run.plan.start_ns = steady_ns();
  run.held.resize(static_cast<size_t>(threads));
  run.openers = threads * o.in_flight;

  io_threads io(threads);
  for (int t = 0; t < threads; ++t) {
    for (int k = 0; k < o.in_flight; ++k) {
      asio::co_spawn(io.at(static_cast<size_t>(t)), idle_opener(&run, static_cast<size_t>(t)),
                     asio::detached);
    }
  }
  while (run.openers.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double connect_s = static_cast<double>(steady_ns() - run.plan.start_ns) / 1e9;
  const uint64_t open = run.counts.open.load();
  if (o.json) {
    std::printf("{\"event\":\"open\",\"open\":%" PRIu64 ",\"failed\":%" PRIu64
                ",\"connect_seconds\":%.3f}\n",
                open, run.counts.failed.load(), connect_s);
  } else {
    std::printf("open: %" PRIu64 " of %" PRIu64 " subscribers in %.2f s (%" PRIu64
                " failed); holding %.0f s\n",
                open, o.subscribers, connect_s, run.counts.failed.load(), o.hold_seconds);
  }
  std::fflush(stdout);
  const int64_t hold_end = steady_ns() + static_cast<int64_t>(o.hold_seconds * 1e9);
  while (steady_ns() < hold_end) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const uint64_t still_open = run.counts.open.load();
  run.closing = true;
  for (int t = 0; t < threads; ++t) {
    asio::post(io.at(static_cast<size_t>(t)),
               [held = &run.held[static_cast<size_t>(t)]] { close_held(held); });
  }
  const int64_t close_deadline = steady_ns() + 30'000'000'000;
  while (run.sessions.load() > 0 && steady_ns() < close_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  io.stop();
  if (o.json) {
    std::printf("{\"mode\":\"ws-idle\",\"topic\":\"%s\",\"subscribers\":%" PRIu64
                ",\"credit\":%" PRIu64 ",\"open\":%" PRIu64 ",\"failed\":%" PRIu64
                ",\"connect_seconds\":%.3f,\"hold_seconds\":%.1f,\"open_after_hold\":%" PRIu64
                ",\"dropped\":%" PRIu64 ",\"messages\":%" PRIu64
                ",\"client_descriptor_limit\":%" PRIu64 ",\"first_error\":\"%s\"}\n",
                json_escape(o.topic).c_str(), o.subscribers, o.credit, open,
                run.counts.failed.load(), connect_s, o.hold_seconds, still_open,
                run.counts.dropped.load(), run.messages.load(), limit,
                json_escape(run.counts.error()).c_str());
  } else {
    std::printf("after %.0f s: %" PRIu64 " still open, %" PRIu64 " dropped by the server\n",
                o.hold_seconds, still_open, run.counts.dropped.load());
    if (!run.counts.error().empty()) std::printf("first error: %s\n", run.counts.error().c_str());
  }
  return open > 0 ? 0 : 1;
}

}  // namespace http_bench

// ---- command line --------------------------------------------------------------------

namespace {

std::vector<double> parse_rates(const std::string& text) {
  std::vector<double> out;
  size_t i = 0;
  while (i <= text.size()) {
    const size_t end = std::min(text.find(',', i), text.size());
    out.push_back(std::stod(text.substr(i, end - i)));
    if (out.back() <= 0) throw std::invalid_argument("rates must be positive");
    i = end + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace http_bench;
  CLI::App app{"Load for Riptide's HTTP API: produce, idle WebSocket subscribers, fan-out"};
  app.require_subcommand(1);

  produce_options po;
  auto* produce = app.add_subcommand("produce", "Keep-alive connections posting records");
  produce->add_option("--url", po.url, "Riptide's HTTP listener, http://HOST:PORT")->required();
  produce->add_option("--topic", po.topic, "Topic to produce to")->required();
  produce->add_option("--partitions", po.partitions, "Create the topic with this many partitions");
  produce->add_option("--connections", po.connections, "Keep-alive connections")
      ->capture_default_str();
  produce->add_option("--records-per-request", po.records_per_request, "Records per request")
      ->capture_default_str();
  produce->add_option("--record-bytes", po.record_bytes, "Bytes of each record's value (text)")
      ->capture_default_str();
  produce->add_option("--seconds", po.seconds, "How long to produce")->capture_default_str();
  produce->add_option("--threads", po.threads, "Threads (0: one per connection, up to the cores)");
  produce->add_flag("--json", po.json, "Print the result as one JSON object");

  ws_idle_options io;
  auto* idle = app.add_subcommand("ws-idle", "Open N WebSocket subscriptions and hold them idle");
  idle->add_option("--url", io.url, "Riptide's HTTP listener, http://HOST:PORT")->required();
  idle->add_option("--topic", io.topic, "Topic to subscribe to")->required();
  idle->add_option("--partitions", io.partitions, "Create the topic with this many partitions");
  idle->add_option("--subscribers", io.subscribers, "Subscriptions")->capture_default_str();
  idle->add_option("--credit", io.credit, "Initial credit of each (records)")
      ->capture_default_str();
  idle->add_option("--hold-seconds", io.hold_seconds, "How long to hold them open")
      ->capture_default_str();
  idle->add_option("--connect-rate", io.connect_rate, "Connects per second at most")
      ->capture_default_str();
  idle->add_option("--in-flight", io.in_flight, "Handshakes at once per thread")
      ->capture_default_str();
  idle->add_option("--threads", io.threads, "Threads (0: one per core)");
  idle->add_flag("--json", io.json, "Print JSON lines: an \"open\" event, then the result");

  fanout_options fo;
  std::string rates = "1000";
  auto* fan = app.add_subcommand("fanout", "N WebSocket subscribers, one paced HTTP producer");
  fan->add_option("--url", fo.url, "Riptide's HTTP listener, http://HOST:PORT");
  fan->add_option("--nats", fo.nats,
                  "Run against NATS core pub/sub instead: nats://HOST:PORT for the publisher");
  fan->add_option("--nats-ws", fo.nats_ws, "NATS's WebSocket listener, ws://HOST:PORT");
  fan->add_option("--topic", fo.topic, "Topic (NATS: subject)")->capture_default_str();
  fan->add_option("--partitions", fo.partitions, "Create the topic with this many partitions");
  fan->add_option("--subscribers", fo.subscribers, "Subscribers")->capture_default_str();
  fan->add_option("--rate", rates, "Records per second; a list (100,500,1000) runs one step each")
      ->capture_default_str();
  fan->add_option("--seconds", fo.seconds, "Seconds per step")->capture_default_str();
  fan->add_option("--record-bytes", fo.record_bytes, "Bytes of each record's value")
      ->capture_default_str();
  fan->add_option("--credit", fo.credit, "Riptide: credit per subscriber, re-granted at half")
      ->capture_default_str();
  fan->add_option("--producer-connections", fo.producer_connections,
                  "Riptide: producer connections (a paced record goes on the first free one)")
      ->capture_default_str();
  fan->add_option("--drain-seconds", fo.drain_seconds,
                  "How long a step waits for its last records to arrive")
      ->capture_default_str();
  fan->add_option("--connect-rate", fo.connect_rate, "Connects per second at most")
      ->capture_default_str();
  fan->add_option("--in-flight", fo.in_flight, "Handshakes at once per thread")
      ->capture_default_str();
  fan->add_option("--threads", fo.threads, "Subscriber threads (0: one per core)");
  fan->add_flag("--json", fo.json, "Print the result as one JSON object");

  queue_options qo;
  auto* queue = app.add_subcommand(
      "queue", "A queue: producers posting records, WebSocket workers acking each one");
  queue->add_option("--url", qo.url, "Riptide's HTTP listener, http://HOST:PORT")->required();
  queue->add_option("--topic", qo.topic, "Topic (made if missing); the queue is TOPIC-queue")
      ->capture_default_str();
  queue->add_option("--partitions", qo.partitions, "Partitions of the topic")
      ->capture_default_str();
  queue->add_option("--max-in-flight", qo.max_in_flight, "The queue's window per partition")
      ->capture_default_str();
  queue->add_option("--producers", qo.producers, "Keep-alive producer connections")
      ->capture_default_str();
  queue->add_option("--records-per-request", qo.records_per_request, "Records per produce request")
      ->capture_default_str();
  queue->add_option("--record-bytes", qo.record_bytes, "Bytes of each record's value")
      ->capture_default_str();
  queue->add_option("--rate", qo.rate, "Records per second (0: flat out)")->capture_default_str();
  queue
      ->add_option("--max-backlog", qo.max_backlog,
                   "Records produced and not yet acked at most (0: no bound)")
      ->capture_default_str();
  queue->add_option("--workers", qo.workers, "WebSocket workers")->capture_default_str();
  queue->add_option("--prefetch", qo.prefetch, "Credit of each worker")->capture_default_str();
  queue->add_option("--seconds", qo.seconds, "How long to produce")->capture_default_str();
  queue->add_option("--threads", qo.threads, "Threads (0: one per core)");
  queue->add_option("--durability", qo.durability, "What a produce acknowledgement means (label)");
  queue->add_flag("--json", qo.json, "Print the result as one JSON object");

  CLI11_PARSE(app, argc, argv);
  if (*produce) return run_produce(po);
  if (*queue) return run_queue(qo);
  if (*idle) return run_ws_idle(io);
  try {
    fo.rates = parse_rates(rates);
  } catch (const std::exception&) {
    std::fprintf(stderr, "http_bench: --rate must be a positive number or a list like 100,500\n");
    return 2;
  }
  if (fo.url.empty() == fo.nats.empty()) {
    std::fprintf(stderr, "http_bench fanout: give --url (Riptide) or --nats (NATS), not both\n");
    return 2;
  }
  if (!fo.nats.empty() && fo.nats_ws.empty()) {
    std::fprintf(stderr, "http_bench fanout: --nats needs --nats-ws ws://HOST:PORT\n");
    return 2;
  }
  return run_fanout(fo);
}
