// http_bench fanout: N WebSocket subscribers and one producer paced at each rate in turn.
//
// Riptide: subscribers on GET /v1/topics/{topic}/ws?from=latest&credit=C&format=text,
// granting C/2 more credit each time they have received C/2 records; the producer posts
// the records due (a 1 ms pacing step, as `riptide bench --rate`) on the first of its
// keep-alive connections that is free, each value stamped with its send time.
//
// NATS (--nats): the same subscribers speak the NATS text protocol over nats-server's
// WebSocket listener (CONNECT, SUB, PING/PONG, MSG); the publisher writes PUB over plain
// TCP. Core pub/sub: nothing is stored, nothing is acknowledged.
//
// Each step runs --seconds, then waits until every subscriber has every record (or
// --drain-seconds passed: then the broker fell behind and the later, faster steps are not
// run). Latency is from the value's stamp to the subscriber reading the message.

#include <boost/beast/http.hpp>
#include <cinttypes>
#include <cstdio>

#include "http_bench.h"

namespace http_bench {
namespace {

namespace bhttp = boost::beast::http;

constexpr int64_t kPaceStepNs = 1'000'000;
constexpr uint64_t kMaxRecordsPerRequest = 500;

struct subscriber_thread {
  std::vector<std::unique_ptr<cli::bench::histogram>> latency;  // one per step
  std::atomic<uint64_t> delivered{0};
};

struct fanout_run {
  const fanout_options* o = nullptr;
  bool nats = false;
  address sub_addr;
  std::string target;
  connect_plan plan;
  connection_counts counts;
  std::atomic<int> step{0};
  std::atomic<bool> closing{false};
  std::atomic<int> openers{0};
  std::atomic<uint64_t> sessions{0};
  std::vector<std::unique_ptr<subscriber_thread>> threads;
  std::vector<std::vector<std::shared_ptr<ws_stream>>> held;  // per thread, for the close

  uint64_t delivered() const {
    uint64_t n = 0;
    for (const auto& t : threads) n += t->delivered.load(std::memory_order_relaxed);
    return n;
  }
};

// Records the latency of every stamped value in `data`; returns how many there were.
size_t record_stamps(std::string_view data, int64_t now, cli::bench::histogram& h) {
  size_t n = 0;
  for (size_t at = data.find(kStampMarker); at != std::string_view::npos;
       at = data.find(kStampMarker, at + kStampSize)) {
    if (at + kStampSize > data.size()) break;
    int64_t sent = 0;
    for (size_t i = at + kStampMarker.size(); i < at + kStampSize; ++i) {
      sent = sent * 10 + (data[i] - '0');
    }
    h.record(now - sent);
    ++n;
  }
  return n;
}

void session_ended(fanout_run* run, const ws_stream& ws, const boost::system::error_code& ec) {
  if (!run->closing.load()) {
    run->counts.dropped.fetch_add(1);
    std::lock_guard lock(run->counts.mu);
    if (run->counts.first_error.empty()) run->counts.first_error = why_closed(ws, ec);
  }
  run->counts.open.fetch_sub(1);
  run->sessions.fetch_sub(1);
}

// ---- subscribers ---------------------------------------------------------------------

asio::awaitable<void> riptide_session(std::shared_ptr<ws_stream> ws, fanout_run* run,
                                      size_t thread) {
  subscriber_thread& st = *run->threads[thread];
  const uint64_t grant_at = std::max<uint64_t>(1, run->o->credit / 2);
  uint64_t since_grant = 0;
  beast::flat_buffer buf;
  boost::system::error_code ec;
  for (;;) {
    auto [rec, n] = co_await ws->async_read(buf, as_tuple(use_awaitable));
    if (rec) {
      ec = rec;
      break;
    }
    const int64_t now = steady_ns();
    const auto data = buf.data();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    const size_t k = record_stamps(text, now, *st.latency[static_cast<size_t>(run->step.load())]);
    buf.consume(buf.size());
    st.delivered.fetch_add(k, std::memory_order_relaxed);
    since_grant += k;
    if (since_grant >= grant_at) {
      const std::string grant = "{\"credit\":" + std::to_string(since_grant) + "}";
      since_grant = 0;
      auto [wec, wn] = co_await ws->async_write(asio::buffer(grant), as_tuple(use_awaitable));
      if (wec) {
        ec = wec;
        break;
      }
    }
  }
  session_ended(run, *ws, ec);
}

// Splits the NATS protocol stream (which WebSocket frames cut anywhere) into operations.
struct nats_parser {
  std::string pending;
  size_t payload = 0;  // bytes of MSG payload (plus CRLF) awaited, 0 when reading a line
  bool pong_owed = false;
  std::string error;

  // Feeds `bytes`; records each message's stamp in `h`; returns the messages seen.
  size_t feed(std::string_view bytes, int64_t now, cli::bench::histogram& h) {
    pending.append(bytes);
    size_t pos = 0, msgs = 0;
    for (;;) {
      if (payload > 0) {
        if (pending.size() - pos < payload) break;
        record_stamps(std::string_view(pending).substr(pos, payload - 2), now, h);
        ++msgs;
        pos += payload;
        payload = 0;
        continue;
      }
      const size_t eol = pending.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const std::string_view line(pending.data() + pos, eol - pos);
      pos = eol + 2;
      if (line.starts_with("MSG ")) {
        const size_t sp = line.rfind(' ');
        payload = std::stoul(std::string(line.substr(sp + 1))) + 2;
      } else if (line == "PING") {
        pong_owed = true;
      } else if (line.starts_with("-ERR") && error.empty()) {
        error = std::string(line);
      }  // INFO, PONG, +OK
    }
    pending.erase(0, pos);
    return msgs;
  }
};

asio::awaitable<void> nats_session(std::shared_ptr<ws_stream> ws, fanout_run* run, size_t thread,
                                   std::shared_ptr<nats_parser> parser) {
  subscriber_thread& st = *run->threads[thread];
  beast::flat_buffer buf;
  boost::system::error_code ec;
  for (;;) {
    auto [rec, n] = co_await ws->async_read(buf, as_tuple(use_awaitable));
    if (rec) {
      ec = rec;
      break;
    }
    const int64_t now = steady_ns();
    const auto data = buf.data();
    const size_t k =
        parser->feed(std::string_view(static_cast<const char*>(data.data()), data.size()), now,
                     *st.latency[static_cast<size_t>(run->step.load())]);
    buf.consume(buf.size());
    st.delivered.fetch_add(k, std::memory_order_relaxed);
    if (parser->pong_owed) {
      parser->pong_owed = false;
      static constexpr std::string_view kPong = "PONG\r\n";
      auto [wec, wn] = co_await ws->async_write(asio::buffer(kPong), as_tuple(use_awaitable));
      if (wec) {
        ec = wec;
        break;
      }
    }
  }
  session_ended(run, *ws, ec);
}

// CONNECT and SUB on a fresh NATS WebSocket, then PING: the PONG says the SUB is in place.
asio::awaitable<std::shared_ptr<nats_parser>> nats_subscribe(std::shared_ptr<ws_stream> ws,
                                                             fanout_run* run) {
  ws->binary(true);
  auto parser = std::make_shared<nats_parser>();
  const std::string hello =
      "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nSUB " + run->o->topic +
      " 1\r\nPING\r\n";
  auto [wec, wn] = co_await ws->async_write(asio::buffer(hello), as_tuple(use_awaitable));
  if (wec) co_return nullptr;
  beast::flat_buffer buf;
  std::string seen;
  const int64_t deadline = steady_ns() + 10'000'000'000;
  while (seen.find("PONG\r\n") == std::string::npos && steady_ns() < deadline) {
    auto [rec, n] = co_await ws->async_read(buf, as_tuple(use_awaitable));
    if (rec) co_return nullptr;
    const auto data = buf.data();
    seen.append(static_cast<const char*>(data.data()), data.size());
    buf.consume(buf.size());
    if (seen.find("-ERR") != std::string::npos) co_return nullptr;
  }
  if (seen.find("PONG\r\n") == std::string::npos) co_return nullptr;
  co_return parser;
}

asio::awaitable<void> subscriber_opener(fanout_run* run, size_t thread) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto i = co_await run->plan.take();
    if (!i) break;
    auto ws = co_await connect_ws(run->sub_addr, run->target, &run->counts);
    if (!ws) continue;
    if (run->nats) {
      auto parser = co_await nats_subscribe(ws, run);
      if (!parser) {
        run->counts.open.fetch_sub(1);
        run->counts.fail("NATS CONNECT/SUB/PING got no PONG within 10 s");
        continue;
      }
      run->held[thread].push_back(ws);
      run->sessions.fetch_add(1);
      asio::co_spawn(ex, nats_session(std::move(ws), run, thread, std::move(parser)),
                     asio::detached);
    } else {
      run->held[thread].push_back(ws);
      run->sessions.fetch_add(1);
      asio::co_spawn(ex, riptide_session(std::move(ws), run, thread), asio::detached);
    }
  }
  run->openers.fetch_sub(1);
}

// ---- producers -----------------------------------------------------------------------

// The producer's side of a step; touched only on the producer's thread, except the atomics.
struct producer {
  bool nats = false;
  address addr;
  std::string topic;
  size_t record_bytes = 0;
  // The step in progress: record i is due at t0 + i / rate.
  double period_ns = 0;
  int64_t t0 = 0;
  uint64_t total = 0;
  uint64_t taken = 0;
  std::vector<std::unique_ptr<cli::bench::histogram>> publish;  // request latency, per step
  std::atomic<uint64_t> produced{0}, errors{0};
  std::atomic<int64_t> last_ns{0};
  std::atomic<int> running{0};
  connection_counts conns;
  std::vector<std::unique_ptr<tcp::socket>> sockets;  // Riptide: one per connection
  std::unique_ptr<tcp::socket> nats_socket;
  bool nats_pong_owed = false;

  // How many records to send now (0: none is due), taking them.
  uint64_t take_due() {
    if (taken >= total) return 0;
    const int64_t ahead = steady_ns() + kPaceStepNs - t0;
    const uint64_t due =
        ahead < 0 ? 0
                  : std::min<uint64_t>(
                        total, static_cast<uint64_t>(static_cast<double>(ahead) / period_ns) + 1);
    if (due <= taken) return 0;
    const uint64_t n = std::min(due - taken, kMaxRecordsPerRequest);
    taken += n;
    return n;
  }
  // When the next record may go.
  int64_t next_due() const {
    return t0 + static_cast<int64_t>(period_ns * static_cast<double>(taken)) - kPaceStepNs;
  }
};

asio::awaitable<void> wait_until(int64_t at_ns) {
  const int64_t left = at_ns - steady_ns();
  if (left <= 0) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::chrono::nanoseconds(left));
  co_await timer.async_wait(as_tuple(use_awaitable));
}

std::string riptide_post(const producer& p, uint64_t n) {
  const std::string value = stamped_value(p.record_bytes, steady_ns());
  std::string body = "{\"format\":\"text\",\"records\":[";
  for (uint64_t i = 0; i < n; ++i) {
    body += i ? ",{\"value\":\"" : "{\"value\":\"";
    body += value;
    body += "\"}";
  }
  body += "]}";
  return "POST /v1/topics/" + p.topic + "/records HTTP/1.1\r\nHost: " + p.addr.host_port() +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

asio::awaitable<void> riptide_publisher(producer* p, size_t conn, size_t step) {
  auto ex = co_await asio::this_coro::executor;
  std::unique_ptr<tcp::socket>& sock = p->sockets[conn];
  beast::flat_buffer buf;
  while (p->taken < p->total) {
    const uint64_t n = p->take_due();
    if (n == 0) {
      co_await wait_until(p->next_due());
      continue;
    }
    if (!sock) {
      sock = std::make_unique<tcp::socket>(ex);
      auto [cec] = co_await sock->async_connect(p->addr.endpoint(), as_tuple(use_awaitable));
      if (cec) {
        p->conns.fail("producer connect: " + cec.message());
        p->errors.fetch_add(n);
        sock.reset();
        continue;
      }
      sock->set_option(tcp::no_delay(true));
    }
    const std::string request = riptide_post(*p, n);
    const int64_t sent = steady_ns();
    auto [wec, wn] =
        co_await asio::async_write(*sock, asio::buffer(request), as_tuple(use_awaitable));
    bhttp::response_parser<bhttp::string_body> parser;
    boost::system::error_code rec;
    if (!wec) {
      auto [ec, rn] = co_await bhttp::async_read(*sock, buf, parser, as_tuple(use_awaitable));
      rec = ec;
    }
    if (wec || rec) {
      p->conns.fail("produce: " + (wec ? wec : rec).message());
      p->errors.fetch_add(n);
      sock.reset();
      buf.clear();
      continue;
    }
    const int64_t acked = steady_ns();
    if (parser.get().result_int() == 200) {
      p->publish[step]->record(acked - sent);
      p->produced.fetch_add(n);
      p->last_ns.store(acked);
    } else {
      p->errors.fetch_add(n);
      p->conns.fail("produce: HTTP " + std::to_string(parser.get().result_int()) + " " +
                    parser.get().body().substr(0, 300));
    }
    if (!parser.get().keep_alive()) sock.reset();
  }
  p->running.fetch_sub(1);
}

// Reads what nats-server sends the publisher: a PING now and then (answered with the next
// write), an -ERR when something is wrong.
asio::awaitable<void> nats_publisher_reader(producer* p) {
  char data[4096];
  std::string line;
  for (;;) {
    auto [ec, n] =
        co_await p->nats_socket->async_read_some(asio::buffer(data), as_tuple(use_awaitable));
    if (ec) break;
    line.append(data, n);
    if (line.find("PING\r\n") != std::string::npos) p->nats_pong_owed = true;
    if (auto e = line.find("-ERR"); e != std::string::npos) p->conns.fail(line.substr(e, 200));
    if (line.size() > 64) line.erase(0, line.size() - 64);
  }
}

asio::awaitable<std::string> nats_connect_publisher(producer* p) {
  auto ex = co_await asio::this_coro::executor;
  p->nats_socket = std::make_unique<tcp::socket>(ex);
  auto [cec] = co_await p->nats_socket->async_connect(p->addr.endpoint(), as_tuple(use_awaitable));
  if (cec) co_return "NATS publisher connect: " + cec.message();
  p->nats_socket->set_option(tcp::no_delay(true));
  static constexpr std::string_view kHello =
      "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPING\r\n";
  auto [wec, wn] =
      co_await asio::async_write(*p->nats_socket, asio::buffer(kHello), as_tuple(use_awaitable));
  if (wec) co_return "NATS publisher: " + wec.message();
  std::string seen;
  char data[4096];
  while (seen.find("PONG\r\n") == std::string::npos) {
    auto [ec, n] =
        co_await p->nats_socket->async_read_some(asio::buffer(data), as_tuple(use_awaitable));
    if (ec) co_return "NATS publisher: " + ec.message();
    seen.append(data, n);
    if (seen.find("-ERR") != std::string::npos) co_return "NATS publisher: " + seen;
  }
  asio::co_spawn(ex, nats_publisher_reader(p), asio::detached);
  co_return std::string();
}

asio::awaitable<void> nats_publisher(producer* p) {
  std::string out;
  const std::string head =
      "PUB " + p->topic + " " + std::to_string(std::max(p->record_bytes, kStampSize)) + "\r\n";
  std::string value = stamped_value(p->record_bytes, 0);
  while (p->taken < p->total) {
    const uint64_t n = p->take_due();
    if (n == 0) {
      co_await wait_until(p->next_due());
      continue;
    }
    out.clear();
    if (p->nats_pong_owed) {
      out += "PONG\r\n";
      p->nats_pong_owed = false;
    }
    restamp(value.data(), steady_ns());
    for (uint64_t i = 0; i < n; ++i) {
      out += head;
      out += value;
      out += "\r\n";
    }
    auto [wec, wn] =
        co_await asio::async_write(*p->nats_socket, asio::buffer(out), as_tuple(use_awaitable));
    if (wec) {
      p->conns.fail("NATS publish: " + wec.message());
      p->errors.fetch_add(n);
      continue;
    }
    p->produced.fetch_add(n);
    p->last_ns.store(steady_ns());
  }
  p->running.fetch_sub(1);
}

asio::awaitable<void> nats_connect_and_signal(producer* p, std::string* error,
                                              std::atomic<bool>* done) {
  *error = co_await nats_connect_publisher(p);
  done->store(true);
}

void close_held(std::vector<std::shared_ptr<ws_stream>>* held) {
  for (auto& ws : *held) beast::get_lowest_layer(*ws).close();
  held->clear();
}

struct step_result {
  double rate = 0;
  uint64_t subscribers = 0;
  uint64_t produced = 0, produce_errors = 0;
  double produce_seconds = 0;
  uint64_t delivered = 0, expected = 0;
  double seconds = 0;  // from the step's start to its last delivery (or the drain's end)
  uint64_t dropped = 0;
  bool drained = false;
  cli::bench::histogram latency;
  const cli::bench::histogram* publish = nullptr;
};

void sleep_until(int64_t at_ns) {
  while (steady_ns() < at_ns) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

}  // namespace

int run_fanout(const fanout_options& o) {
  fanout_run run;
  run.o = &o;
  run.nats = !o.nats.empty();
  auto sub_addr = parse_url(run.nats ? o.nats_ws : o.url);
  auto pub_addr = parse_url(run.nats ? o.nats : o.url);
  if (!sub_addr || !pub_addr) {
    std::fprintf(stderr, "http_bench fanout: bad --url / --nats / --nats-ws address\n");
    return 2;
  }
  if (!run.nats && o.partitions > 0) {
    if (auto err = create_topic(*pub_addr, o.topic, o.partitions); !err.empty()) {
      std::fprintf(stderr, "http_bench: %s\n", err.c_str());
      return 1;
    }
  }
  const uint64_t limit = raise_descriptor_limit(o.subscribers + 64);
  if (limit < o.subscribers + 64) {
    std::fprintf(stderr, "http_bench: the descriptor limit %" PRIu64 " is below %" PRIu64 "\n",
                 limit, o.subscribers + 64);
  }
  const int threads = o.threads > 0
                          ? o.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  run.sub_addr = *sub_addr;
  run.target = run.nats ? std::string("/")
                        : "/v1/topics/" + o.topic +
                              "/ws?from=latest&format=text&credit=" + std::to_string(o.credit);
  for (int t = 0; t < threads; ++t) {
    auto st = std::make_unique<subscriber_thread>();
    for (size_t s = 0; s < o.rates.size(); ++s) {
      st->latency.push_back(std::make_unique<cli::bench::histogram>());
    }
    run.threads.push_back(std::move(st));
  }
  run.held.resize(static_cast<size_t>(threads));
  producer prod;
  prod.nats = run.nats;
  prod.addr = *pub_addr;
  prod.topic = o.topic;
  prod.record_bytes = o.record_bytes;
  for (size_t s = 0; s < o.rates.size(); ++s) {
    prod.publish.push_back(std::make_unique<cli::bench::histogram>());
  }
  prod.sockets.resize(static_cast<size_t>(std::max(1, o.producer_connections)));
  const int publishers = run.nats ? 1 : std::max(1, o.producer_connections);

  io_threads subs(threads);
  io_threads pub(1);
  // Subscribers first, at a bounded connect rate; the producer starts once all are in.
  run.plan.total = o.subscribers;
  run.plan.rate = o.connect_rate;
  run.plan.start_ns = steady_ns();
  run.openers = threads * o.in_flight;
  for (int t = 0; t < threads; ++t) {
    for (int k = 0; k < o.in_flight; ++k) {
      asio::co_spawn(subs.at(static_cast<size_t>(t)),
                     subscriber_opener(&run, static_cast<size_t>(t)), asio::detached);
    }
  }
  while (run.openers.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double connect_s = static_cast<double>(steady_ns() - run.plan.start_ns) / 1e9;
  const uint64_t opened = run.counts.open.load();
  std::fprintf(stderr, "fanout: %" PRIu64 " of %" PRIu64 " subscribers open in %.2f s\n", opened,
               o.subscribers, connect_s);
  std::string stopped;
  if (opened == 0) stopped = "no subscriber could open: " + run.counts.error();
  if (stopped.empty() && run.nats) {
    std::string err;
    std::atomic<bool> done{false};
    asio::co_spawn(pub.at(0), nats_connect_and_signal(&prod, &err, &done), asio::detached);
    while (!done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!err.empty()) stopped = err;
  }

  std::vector<std::unique_ptr<step_result>> results;
  for (size_t s = 0; s < o.rates.size() && stopped.empty(); ++s) {
    auto r = std::make_unique<step_result>();
    r->rate = o.rates[s];
    r->subscribers = run.counts.open.load();
    const uint64_t delivered0 = run.delivered();
    const uint64_t dropped0 = run.counts.dropped.load();
    const uint64_t produced0 = prod.produced.load();
    const uint64_t errors0 = prod.errors.load();
    run.step = static_cast<int>(s);
    prod.period_ns = 1e9 / o.rates[s];
    prod.total = static_cast<uint64_t>(o.rates[s] * o.seconds);
    prod.taken = 0;
    prod.t0 = steady_ns() + 10'000'000;  // the coroutines start within 10 ms
    prod.running = publishers;
    const int64_t start = prod.t0;
    for (int c = 0; c < publishers; ++c) {
      if (run.nats) {
        asio::co_spawn(pub.at(0), nats_publisher(&prod), asio::detached);
      } else {
        asio::co_spawn(pub.at(0), riptide_publisher(&prod, static_cast<size_t>(c), s),
                       asio::detached);
      }
    }
    // Produce, printing what arrives each second.
    uint64_t last_delivered = delivered0;
    int64_t last = start;
    const int64_t produce_deadline = start + static_cast<int64_t>((o.seconds + 60) * 1e9);
    while (prod.running.load() > 0 && steady_ns() < produce_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (const int64_t now = steady_ns(); now - last >= 1'000'000'000) {
        const uint64_t d = run.delivered();
        std::fprintf(
            stderr, "[%5.1fs] rate %.0f: delivered %9.0f records/s to %" PRIu64 " subscribers\n",
            static_cast<double>(now - start) / 1e9, o.rates[s],
            static_cast<double>(d - last_delivered) * 1e9 / static_cast<double>(now - last),
            run.counts.open.load());
        last_delivered = d, last = now;
      }
    }
    if (prod.running.load() > 0) {
      stopped = "the producer did not finish its step within 60 s of its end";
    }
    r->produced = prod.produced.load() - produced0;
    r->produce_errors = prod.errors.load() - errors0;
    r->produce_seconds =
        r->produced ? static_cast<double>(prod.last_ns.load() - start) / 1e9 : o.seconds;
    // Drain: wait until every open subscriber has every record.
    const int64_t drain_end = steady_ns() + static_cast<int64_t>(o.drain_seconds * 1e9);
    uint64_t delivered = run.delivered() - delivered0;
    int64_t last_change = steady_ns();
    for (;;) {
      r->expected = r->produced * run.counts.open.load();
      if (delivered >= r->expected || steady_ns() >= drain_end) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (const uint64_t d = run.delivered() - delivered0; d != delivered) {
        delivered = d;
        last_change = steady_ns();
      }
    }
    r->delivered = delivered;
    r->drained = delivered >= r->expected;
    r->seconds = static_cast<double>(last_change - start) / 1e9;
    r->dropped = run.counts.dropped.load() - dropped0;
    for (const auto& t : run.threads) r->latency.merge(*t->latency[s]);
    r->publish = run.nats ? nullptr : prod.publish[s].get();
    std::fprintf(stderr,
                 "rate %.0f: %" PRIu64 " produced, %" PRIu64 " of %" PRIu64
                 " deliveries, p50 %.2f ms, p99 %.2f ms\n",
                 r->rate, r->produced, r->delivered, r->expected,
                 static_cast<double>(r->latency.quantile(0.5)) / 1e6,
                 static_cast<double>(r->latency.quantile(0.99)) / 1e6);
    if (!r->drained && stopped.empty()) {
      stopped = "fell behind at " + std::to_string(static_cast<uint64_t>(r->rate)) +
                " records/s: not every record reached every subscriber within " +
                std::to_string(static_cast<int>(o.drain_seconds)) + " s";
    } else if (r->produced == 0 && stopped.empty()) {
      stopped = "nothing was produced: " + prod.conns.error();
    }
    results.push_back(std::move(r));
    sleep_until(steady_ns() + 500'000'000);  // a quiet half second between steps
  }

  run.closing = true;
  for (int t = 0; t < threads; ++t) {
    asio::post(subs.at(static_cast<size_t>(t)),
               [held = &run.held[static_cast<size_t>(t)]] { close_held(held); });
  }
  const int64_t close_deadline = steady_ns() + 30'000'000'000;
  while (run.sessions.load() > 0 && steady_ns() < close_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (prod.nats_socket) {
    asio::post(pub.at(0), [p = &prod] {
      boost::system::error_code ignored;
      p->nats_socket->close(ignored);
    });
  }
  subs.stop();
  pub.stop();

  const char* target = run.nats ? "nats" : "riptide";
  if (o.json) {
    std::string steps;
    for (const auto& r : results) {
      char head[1024];
      std::snprintf(head, sizeof head,
                    "{\"rate\":%.1f,\"subscribers\":%" PRIu64 ",\"produced\":%" PRIu64
                    ",\"produce_errors\":%" PRIu64 ",\"achieved_rate\":%.1f,\"delivered\":%" PRIu64
                    ",\"expected\":%" PRIu64
                    ",\"drained\":%s,\"delivered_per_sec\":%.1f,\"dropped\":%" PRIu64
                    ",\"latency\":%s,\"publish_latency\":%s}",
                    r->rate, r->subscribers, r->produced, r->produce_errors,
                    static_cast<double>(r->produced) / r->produce_seconds, r->delivered,
                    r->expected, r->drained ? "true" : "false",
                    r->seconds > 0 ? static_cast<double>(r->delivered) / r->seconds : 0.0,
                    r->dropped, latency_json(r->latency).c_str(),
                    r->publish ? latency_json(*r->publish).c_str() : "null");
      steps += (steps.empty() ? "" : ",") + std::string(head);
    }
    std::printf(
        "{\"mode\":\"fanout\",\"target\":\"%s\",\"topic\":\"%s\",\"subscribers\":%" PRIu64
        ",\"open\":%" PRIu64 ",\"failed\":%" PRIu64
        ",\"connect_seconds\":%.3f,\"record_bytes\":%zu,\"seconds_per_step\":%.1f,"
        "\"steps\":[%s],\"stopped\":\"%s\",\"first_error\":\"%s\"}\n",
        target, json_escape(o.topic).c_str(), o.subscribers, opened, run.counts.failed.load(),
        connect_s, o.record_bytes, o.seconds, steps.c_str(), json_escape(stopped).c_str(),
        json_escape(run.counts.error().empty() ? prod.conns.error() : run.counts.error()).c_str());
  } else {
    std::printf("\nfan-out (%s): %" PRIu64 " subscribers open, %zu-byte records, %.0f s per rate\n",
                target, opened, o.record_bytes, o.seconds);
    std::printf("%10s %12s %16s %10s %10s %10s %10s\n", "rate", "achieved", "delivered/s", "p50 ms",
                "p99 ms", "p99.9 ms", "max ms");
    for (const auto& r : results) {
      std::printf("%10.0f %12.0f %16.0f %10.2f %10.2f %10.2f %10.2f%s\n", r->rate,
                  static_cast<double>(r->produced) / r->produce_seconds,
                  r->seconds > 0 ? static_cast<double>(r->delivered) / r->seconds : 0.0,
                  static_cast<double>(r->latency.quantile(0.5)) / 1e6,
                  static_cast<double>(r->latency.quantile(0.99)) / 1e6,
                  static_cast<double>(r->latency.quantile(0.999)) / 1e6,
                  static_cast<double>(r->latency.max()) / 1e6,
                  r->drained ? "" : "  (not every record arrived)");
    }
    if (!stopped.empty()) std::printf("stopped: %s\n", stopped.c_str());
  }
  return results.empty() || results.front()->produced == 0 ? 1 : 0;
}

}  // namespace http_bench
