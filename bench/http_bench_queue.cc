// http_bench queue: the queue workload of bench/peers/run.py against Riptide.
//
// A queue over a topic of --partitions partitions (made with fsync durability, the
// default); producers post --records-per-request stamped records per request on keep-alive
// connections, flat out or at --rate, never more than --max-backlog records produced and
// not yet acknowledged by a worker; --workers WebSocket workers
// (GET /v1/queues/{queue}/ws) each granting --prefetch records of credit and acknowledging
// every record on its own, one {"ack": [...]} message per record (the acks for one push
// framed one message each and written together), re-granting the credit of the records it
// acknowledged.
//
// A record counts as acknowledged when the broker's answer to its ack arrives (the ack is
// durable then). Latency is from the record's send (the stamp in its value) to that
// answer. The producers stop after --seconds; the workers then finish what was produced.
// Prints the JSON of `riptide bench` (produce: records the broker acknowledged; consume:
// records the workers acknowledged; e2e_latency: send -> ack answered).

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cinttypes>
#include <cstdio>
#include <unordered_map>

#include "http_bench.h"

namespace http_bench {
namespace {

namespace bhttp = boost::beast::http;
namespace bj = boost::json;

struct queue_run {
  const queue_options* o = nullptr;
  address addr;
  std::string produce_target;
  std::string worker_target;  // without the consumer name
  int64_t start_ns = 0;
  int64_t end_ns = 0;  // producers stop sending
  std::atomic<uint64_t> sent{0};
  std::atomic<bool> producing_done{false};
  std::atomic<int> producers_running{0};
  std::atomic<bool> closing{false};
  std::atomic<int> workers_running{0};
  cli::bench::flow produced;
  cli::bench::flow acked;
  connection_counts conns;
  std::vector<std::unique_ptr<cli::bench::histogram>> produce_latency;  // per thread
  std::vector<std::unique_ptr<cli::bench::histogram>> ack_latency;      // per thread

  uint64_t backlog() const {
    const uint64_t s = sent.load(), a = acked.msgs.load();
    return s > a ? s - a : 0;
  }
};

int64_t stamp_of(std::string_view value) {
  if (value.size() < kStampSize || !value.starts_with(kStampMarker)) return -1;
  int64_t sent = 0;
  for (size_t i = kStampMarker.size(); i < kStampSize; ++i) sent = sent * 10 + (value[i] - '0');
  return sent;
}

std::string produce_body(const queue_options& o, int64_t now) {
  const std::string value = stamped_value(o.record_bytes, now);
  std::string body = "{\"format\":\"text\",\"records\":[";
  body.reserve(body.size() + static_cast<size_t>(o.records_per_request) * (value.size() + 16));
  for (int i = 0; i < o.records_per_request; ++i) {
    if (i) body += ',';
    body += "{\"value\":\"";
    body += value;
    body += "\"}";
  }
  body += "]}";
  return body;
}

asio::awaitable<void> pause_for(std::chrono::microseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(as_tuple(use_awaitable));
}

// One keep-alive producer connection of `n`: it takes its share of --rate.
asio::awaitable<void> queue_producer(queue_run* run, size_t thread, int n) {
  const queue_options& o = *run->o;
  auto ex = co_await asio::this_coro::executor;
  beast::flat_buffer buf;
  tcp::socket sock(ex);
  auto [cec] = co_await sock.async_connect(run->addr.endpoint(), as_tuple(use_awaitable));
  if (cec) {
    run->conns.fail("producer connect: " + cec.message());
    if (run->producers_running.fetch_sub(1) == 1) run->producing_done = true;
    co_return;
  }
  sock.set_option(tcp::no_delay(true));
  const auto per_request = static_cast<uint64_t>(o.records_per_request);
  const double rate = o.rate / n;  // records per second of this connection; 0: flat out
  uint64_t requests = 0;
  while (steady_ns() < run->end_ns && !run->closing.load()) {
    if (rate > 0) {
      const auto due =
          run->start_ns + static_cast<int64_t>(static_cast<double>(requests) *
                                               static_cast<double>(per_request) * 1e9 / rate);
      if (const int64_t now = steady_ns(); due > now) {
        co_await pause_for(std::chrono::microseconds((due - now) / 1000));
        continue;
      }
    }
    if (o.max_backlog > 0 && run->backlog() + per_request > o.max_backlog) {
      co_await pause_for(std::chrono::microseconds(200));
      continue;
    }
    run->sent.fetch_add(per_request);
    ++requests;
    const int64_t t0 = steady_ns();
    bhttp::request<bhttp::string_body> req(bhttp::verb::post, run->produce_target, 11);
    req.set(bhttp::field::host, run->addr.host_port());
    req.set(bhttp::field::content_type, "application/json");
    req.body() = produce_body(o, t0);
    req.prepare_payload();
    auto [wec, wn] = co_await bhttp::async_write(sock, req, as_tuple(use_awaitable));
    bhttp::response<bhttp::string_body> res;
    boost::system::error_code rec;
    if (!wec) {
      auto [ec, rn] = co_await bhttp::async_read(sock, buf, res, as_tuple(use_awaitable));
      rec = ec;
    }
    if (wec || rec || res.result_int() != 200) {
      run->produced.errors.fetch_add(per_request);
      run->conns.fail(wec || rec ? "produce: " + (wec ? wec : rec).message()
                                 : "produce: HTTP " + std::to_string(res.result_int()) + " " +
                                       res.body().substr(0, 300));
      break;
    }
    const int64_t t1 = steady_ns();
    run->produce_latency[thread]->record(t1 - t0);
    run->produced.add(per_request, per_request * o.record_bytes, t1);
  }
  if (run->producers_running.fetch_sub(1) == 1) run->producing_done = true;
}

uint64_t key_of(int64_t partition, int64_t offset) {
  return (static_cast<uint64_t>(partition) << 48) ^ static_cast<uint64_t>(offset);
}

// Appends one masked client text frame (RFC 6455 5.2) holding `payload` to `out`: the
// acks for a push are framed one message each and written together, as a client library
// that buffers its writes does.
void append_frame(std::string& out, std::string_view payload, uint32_t mask) {
  out += static_cast<char>(0x81);  // FIN, text
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xff);
  }
  const char key[4] = {static_cast<char>(mask >> 24), static_cast<char>(mask >> 16),
                       static_cast<char>(mask >> 8), static_cast<char>(mask)};
  out.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i) out += static_cast<char>(payload[i] ^ key[i % 4]);
}

// One worker: takes what is pushed, acks each record with a message of its own, re-grants
// the credit of what it acked, and counts each ack when its answer arrives.
asio::awaitable<void> queue_worker(queue_run* run, size_t thread, int index) {
  const queue_options& o = *run->o;
  const std::string target = run->worker_target + "&consumer=w" + std::to_string(index);
  auto ws = co_await connect_ws(run->addr, target, &run->conns);
  if (!ws) {
    run->workers_running.fetch_sub(1);
    co_return;
  }
  auto& sock = beast::get_lowest_layer(*ws).socket();
  uint32_t mask = 0x9e3779b9u * static_cast<uint32_t>(index + 1);
  std::unordered_map<uint64_t, int64_t> stamps;  // (partition, offset) -> send time
  const uint64_t grant_at = std::max<uint64_t>(1, o.prefetch / 2);
  uint64_t to_grant = 0;
  beast::flat_buffer buf;
  boost::system::error_code ec;
  std::string frames, msg;
  for (;;) {
    auto [rec, n] = co_await ws->async_read(buf, as_tuple(use_awaitable));
    if (rec) {
      ec = rec;
      break;
    }
    const auto data = buf.data();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    boost::system::error_code pec;
    bj::value v = bj::parse(text, pec);
    buf.consume(buf.size());
    if (pec || !v.is_object()) {
      run->conns.fail("worker: a message that is not a JSON object");
      break;
    }
    const auto& obj = v.as_object();
    if (const auto* records = obj.if_contains("records"); records && obj.contains("queue")) {
      frames.clear();
      for (const auto& r : records->as_array()) {
        const auto& ro = r.as_object();
        const int64_t p = ro.at("partition").as_int64();
        const int64_t off = ro.at("offset").as_int64();
        const auto& value = ro.at("value").as_string();
        stamps[key_of(p, off)] = stamp_of(std::string_view(value.data(), value.size()));
        msg = "{\"ack\":[{\"partition\":" + std::to_string(p) +
              ",\"offset\":" + std::to_string(off) + "}]}";
        mask = mask * 1664525u + 1013904223u;  // a key of its own for each frame
        append_frame(frames, msg, mask);
        if (++to_grant >= grant_at) {
          msg = "{\"credit\":" + std::to_string(to_grant) + "}";
          to_grant = 0;
          append_frame(frames, msg, mask);
        }
      }
      // Written past Beast's writer: this coroutine is the socket's only reader and writer
      // and does one at a time, so no pong of Beast's can be under way meanwhile.
      auto [wec, wn] =
          co_await asio::async_write(sock, asio::buffer(frames), as_tuple(use_awaitable));
      if (wec) {
        ec = wec;
        break;
      }
      continue;
    }
    if (const auto* results = obj.if_contains("results")) {
      const int64_t now = steady_ns();
      // An "error" beside the results: the decisions were not made durable, none counts.
      const bool failed = obj.contains("error");
      for (const auto& r : results->as_array()) {
        const auto& ro = r.as_object();
        if (failed || ro.contains("error")) {
          run->acked.errors.fetch_add(1);
          continue;
        }
        auto it = stamps.find(key_of(ro.at("partition").as_int64(), ro.at("offset").as_int64()));
        if (it == stamps.end()) continue;
        if (it->second >= 0) run->ack_latency[thread]->record(now - it->second);
        stamps.erase(it);
        run->acked.add(1, o.record_bytes, now);
      }
      continue;
    }
    run->conns.fail("worker: unexpected message " + std::string(text.substr(0, 200)));
    break;
  }
  if (!run->closing.load()) {
    std::lock_guard lock(run->conns.mu);
    if (run->conns.first_error.empty()) run->conns.first_error = why_closed(*ws, ec);
    run->conns.dropped.fetch_add(1);
  }
  run->workers_running.fetch_sub(1);
}

}  // namespace

int run_queue(const queue_options& o) {
  if (o.producers < 1 || o.workers < 1 || o.records_per_request < 1 || o.prefetch < 1) {
    std::fprintf(stderr,
                 "http_bench queue: --producers, --workers, --records-per-request and "
                 "--prefetch must be at least 1\n");
    return 2;
  }
  auto addr = parse_url(o.url);
  if (!addr) {
    std::fprintf(stderr, "http_bench: --url must be http://HOST:PORT, not %s\n", o.url.c_str());
    return 2;
  }
  if (auto err = create_topic(*addr, o.topic, o.partitions); !err.empty()) {
    std::fprintf(stderr, "http_bench: %s\n", err.c_str());
    return 1;
  }
  const std::string queue = o.topic + "-queue";
  {
    auto [status, body] = http_call(*addr, "PUT", "/v1/queues/" + queue,
                                    "{\"topic\":\"" + json_escape(o.topic) +
                                        "\",\"max_in_flight\":" + std::to_string(o.max_in_flight) +
                                        ",\"visibility_timeout_ms\":60000}");
    if (status == 200) {  // made by an earlier run: its records would be counted here
      std::fprintf(stderr,
                   "http_bench: queue %s exists already: give a --topic no run used before\n",
                   queue.c_str());
      return 1;
    }
    if (status != 201) {
      std::fprintf(stderr, "http_bench: creating queue %s: HTTP %u %s\n", queue.c_str(), status,
                   body.c_str());
      return 1;
    }
  }
  queue_run run;
  run.o = &o;
  run.addr = *addr;
  run.produce_target = "/v1/topics/" + o.topic + "/records";
  run.worker_target =
      "/v1/queues/" + queue + "/ws?format=text&credit=" + std::to_string(o.prefetch);
  const int threads = o.threads > 0
                          ? o.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int t = 0; t < threads; ++t) {
    run.produce_latency.push_back(std::make_unique<cli::bench::histogram>());
    run.ack_latency.push_back(std::make_unique<cli::bench::histogram>());
  }
  io_threads io(threads);
  run.workers_running = o.workers;
  for (int w = 0; w < o.workers; ++w) {
    const auto t = static_cast<size_t>(w % threads);
    asio::co_spawn(io.at(t), queue_worker(&run, t, w), asio::detached);
  }
  run.start_ns = steady_ns();
  run.end_ns = run.start_ns + static_cast<int64_t>(o.seconds * 1e9);
  run.producers_running = o.producers;
  for (int p = 0; p < o.producers; ++p) {
    const auto t = static_cast<size_t>(p % threads);
    asio::co_spawn(io.at(t), queue_producer(&run, t, o.producers), asio::detached);
  }
  uint64_t last_p = 0, last_a = 0;
  int64_t last = run.start_ns;
  int64_t done_at = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int64_t now = steady_ns();
    if (now - last >= 1'000'000'000) {
      const uint64_t p = run.produced.msgs.load(), a = run.acked.msgs.load();
      const double dt = static_cast<double>(now - last) / 1e9;
      std::fprintf(stderr, "[%6.1fs] riptide queue produced %9.0f msg/s | acked %9.0f msg/s\n",
                   static_cast<double>(now - run.start_ns) / 1e9, cli::bench::rate(p - last_p, dt),
                   cli::bench::rate(a - last_a, dt));
      last_p = p, last_a = a, last = now;
    }
    if (run.workers_running.load() == 0) break;  // every worker failed
    if (!run.producing_done.load()) continue;
    if (done_at == 0) done_at = now;
    if (run.acked.msgs.load() >= run.produced.msgs.load()) break;
    // The workers finish what was produced, unless they stall for 30 s.
    if (now > std::max(done_at, run.acked.last_ns.load()) + 30'000'000'000) break;
  }
  run.closing = true;
  io.stop();

  cli::bench::histogram produce_latency, ack_latency;
  for (int t = 0; t < threads; ++t) {
    produce_latency.merge(*run.produce_latency[static_cast<size_t>(t)]);
    ack_latency.merge(*run.ack_latency[static_cast<size_t>(t)]);
  }
  cli::bench::report r;
  r.system = "riptide";
  r.durability = o.durability;
  r.workload = "queue";
  r.record_size = o.record_bytes;
  r.produced = run.produced.msgs.load();
  r.produced_bytes = run.produced.bytes.load();
  r.produce_errors = run.produced.errors.load();
  r.produce_s = r.produced ? static_cast<double>(run.produced.last_ns - run.start_ns) / 1e9 : 0;
  r.consumed = run.acked.msgs.load();
  r.consumed_bytes = run.acked.bytes.load();
  r.consume_s = r.consumed ? static_cast<double>(run.acked.last_ns - run.start_ns) / 1e9 : 0;
  r.e2e = &ack_latency;
  r.ack = &produce_latency;
  if (o.json) {
    cli::bench::print_json(stdout, r);
  } else {
    cli::bench::print_table(stdout, r);
  }
  const std::string err = run.conns.error();
  if (r.produce_errors > 0 || r.produced == 0) {
    std::fprintf(stderr, "http_bench queue: producing failed: %s\n", err.c_str());
    return 1;
  }
  if (r.consumed < r.produced) {
    std::fprintf(stderr,
                 "http_bench queue: only %" PRIu64 " of %" PRIu64
                 " produced records were acknowledged%s%s\n",
                 r.consumed, r.produced, err.empty() ? "" : ": ", err.c_str());
    return 1;
  }
  return 0;
}

}  // namespace http_bench
