// The `riptide bench` workloads against Redis Streams: XADD pipelined on one connection
// (up to --window unanswered; a reply is the acknowledgement, after the fsync under
// appendfsync always) and (mode both) one consumer in a group reading with XREADGROUP and
// acknowledging with XACK. Prints the same JSON.

#include <hiredis/hiredis.h>
#include <poll.h>

#include <deque>

#include "peer_common.h"

namespace {

constexpr const char* kUsage =
    "usage: redis_bench --url 127.0.0.1:6379 [--mode produce|both] [--record-size N]\n"
    "                   [--rate N] [--pace-step-us N] [--duration S | --count N]\n"
    "                   [--warmup S] [--window N] [--json]";
constexpr const char* kStream = "bench";

redisContext* connect(const std::string& url) {
  auto colon = url.rfind(':');
  std::string host = colon == std::string::npos ? url : url.substr(0, colon);
  int port = colon == std::string::npos ? 6379 : std::atoi(url.c_str() + colon + 1);
  redisContext* c = redisConnect(host.c_str(), port);
  if (c == nullptr || c->err) {
    peers::die("redis_bench: cannot connect to " + url + ": " + (c ? c->errstr : "out of memory"));
  }
  return c;
}

redisReply* command(redisContext* c, const char* fmt, const char* a = nullptr) {
  auto* r = static_cast<redisReply*>(redisCommand(c, fmt, a));
  if (r == nullptr) peers::die(std::string("redis_bench: ") + c->errstr);
  return r;
}

// Sends XADDs, keeping at most `window` unanswered; each reply acknowledges the oldest.
void produce(peers::run_state& st, redisContext* c) {
  auto value = peers::make_value(st.opts.record_size);
  cli::bench::pacer pace(st.opts.rate, static_cast<int64_t>(st.opts.pace_step_us * 1e3));
  std::deque<int64_t> in_flight;  // send times, oldest first
  const char* argv[5] = {"XADD", kStream, "*", "d", nullptr};
  size_t lens[5] = {4, std::strlen(kStream), 1, 1, value.size()};
  auto drain = [&](bool block) {
    // Write out what is buffered, then take whatever replies have arrived.
    int done = 0;
    while (!done) {
      if (redisBufferWrite(c, &done) != REDIS_OK) peers::die("redis_bench: write failed");
    }
    for (;;) {
      void* reply = nullptr;
      if (redisGetReplyFromReader(c, &reply) != REDIS_OK) peers::die("redis_bench: bad reply");
      if (reply == nullptr) {
        if (in_flight.empty()) return;
        pollfd p{c->fd, POLLIN, 0};
        if (poll(&p, 1, block ? 1000 : 0) <= 0) return;
        if (redisBufferRead(c) != REDIS_OK) peers::die("redis_bench: read failed");
        block = false;
        continue;
      }
      auto* r = static_cast<redisReply*>(reply);
      if (r->type == REDIS_REPLY_ERROR) {
        st.produced.errors.fetch_add(1);
      } else {
        const int64_t now = peers::now_ns();
        st.produced.add(1, value.size(), now);
        if (in_flight.front() >= st.warm_ns) st.ack.record(now - in_flight.front());
      }
      in_flight.pop_front();
      freeReplyObject(r);
    }
  };
  for (uint64_t i = 0; !st.done_sending(i); ++i) {
    // Paced: take replies as they arrive while waiting for the next record's turn.
    pace.wait(st.start_ns, i, [&](int64_t ns) {
      if (in_flight.empty()) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
      } else if (cli::bench::wait_readable(c->fd, ns)) {
        if (redisBufferRead(c) != REDIS_OK) peers::die("redis_bench: read failed");
        drain(false);
      }
    });
    const int64_t now = peers::now_ns();
    cli::bench::stamp(value.data(), value.size(), now);
    argv[4] = reinterpret_cast<const char*>(value.data());
    redisAppendCommandArgv(c, 5, argv, lens);
    in_flight.push_back(now);
    // Flat out: batch up to the window. Paced: send each record at once.
    if (st.opts.rate > 0 || in_flight.size() >= static_cast<size_t>(st.opts.window)) {
      drain(in_flight.size() >= static_cast<size_t>(st.opts.window));
    }
  }
  while (!in_flight.empty()) drain(true);
  st.producing_done = true;
}

void consume(peers::run_state& st, redisContext* c) {
  while (!st.consumer_should_stop()) {
    auto* r = command(c, "XREADGROUP GROUP g c COUNT 4096 BLOCK 100 STREAMS bench >");
    const int64_t now = peers::now_ns();
    std::vector<std::string> ids;
    if (r->type == REDIS_REPLY_ARRAY) {
      for (size_t s = 0; s < r->elements; ++s) {
        redisReply* entries = r->element[s]->element[1];
        for (size_t e = 0; e < entries->elements; ++e) {
          redisReply* entry = entries->element[e];
          ids.emplace_back(entry->element[0]->str, entry->element[0]->len);
          redisReply* fields = entry->element[1];
          if (fields->elements >= 2) {
            st.received(fields->element[1]->str, fields->element[1]->len, now);
          }
        }
      }
    }
    freeReplyObject(r);
    if (!ids.empty()) {
      std::vector<const char*> argv{"XACK", kStream, "g"};
      std::vector<size_t> lens{4, std::strlen(kStream), 1};
      for (const auto& id : ids) {
        argv.push_back(id.c_str());
        lens.push_back(id.size());
      }
      auto* a = static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
      if (a == nullptr) peers::die("redis_bench: XACK failed");
      freeReplyObject(a);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = peers::parse(argc, argv, kUsage);
  if (opts.url.empty()) opts.url = "127.0.0.1:6379";
  if (opts.durability.empty()) opts.durability = "server default";
  redisContext* pc = connect(opts.url);
  redisContext* cc = connect(opts.url);
  freeReplyObject(command(cc, "DEL %s", kStream));
  freeReplyObject(command(cc, "XGROUP CREATE bench g $ MKSTREAM"));
  peers::run_state st(opts);
  std::thread producer(produce, std::ref(st), pc);
  std::thread consumer;
  const bool both = opts.mode == "both";
  if (both) consumer = std::thread(consume, std::ref(st), cc);
  int rc = peers::finish(st, "redis-streams", producer, both ? &consumer : nullptr, both);
  redisFree(pc);
  redisFree(cc);
  return rc;
}
