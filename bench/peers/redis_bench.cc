// The `riptide bench` workloads against Redis Streams: XADD pipelined over one or more
// connections from one thread, as redis-benchmark drives Redis (--connections, each with up
// to --pipeline unanswered; a reply is the acknowledgement, after the fsync under
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
    "                   [--warmup S] [--connections N] [--pipeline N] [--json]\n"
    "  --connections N  producer connections, all served by one thread (default 1)\n"
    "  --pipeline N     XADDs unanswered per connection (default 1024; also --window)";
constexpr const char* kStream = "bench";
constexpr int64_t kSecond = 1'000'000'000;

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

// Sends XADDs over every producer connection, keeping at most `window` unanswered on
// each; a reply acknowledges the oldest XADD of its connection. Flat out, each connection
// is topped up to its window whenever replies came back, as redis-benchmark refills a
// pipeline; paced, the records go to the connections in turn, each sent at once.
void produce(peers::run_state& st, const std::vector<redisContext*>& conns) {
  auto value = peers::make_value(st.opts.record_size);
  cli::bench::pacer pace(st.opts.rate, static_cast<int64_t>(st.opts.pace_step_us * 1e3));
  const auto window = static_cast<size_t>(st.opts.window);
  std::vector<std::deque<int64_t>> in_flight(conns.size());  // send times, oldest first
  size_t unanswered = 0;
  cli::bench::histogram& ack = st.ack();
  const char* argv[5] = {"XADD", kStream, "*", "d", nullptr};
  size_t lens[5] = {4, std::strlen(kStream), 1, 1, value.size()};
  auto append = [&](size_t k) {
    const int64_t now = peers::now_ns();
    cli::bench::stamp(value.data(), value.size(), now);
    argv[4] = reinterpret_cast<const char*>(value.data());
    redisAppendCommandArgv(conns[k], 5, argv, lens);
    in_flight[k].push_back(now);
    ++unanswered;
  };
  auto flush = [&](size_t k) {
    int done = 0;
    while (!done) {
      if (redisBufferWrite(conns[k], &done) != REDIS_OK) peers::die("redis_bench: write failed");
    }
  };
  // Takes the replies connection k has buffered.
  auto take_replies = [&](size_t k) {
    for (;;) {
      void* reply = nullptr;
      if (redisGetReplyFromReader(conns[k], &reply) != REDIS_OK) {
        peers::die("redis_bench: bad reply");
      }
      if (reply == nullptr) return;
      auto* r = static_cast<redisReply*>(reply);
      if (r->type == REDIS_REPLY_ERROR || in_flight[k].empty()) {
        st.produced.errors.fetch_add(1);
      } else {
        const int64_t now = peers::now_ns();
        st.produced.add(1, value.size(), now);
        if (in_flight[k].front() >= st.warm_ns) ack.record(now - in_flight[k].front());
      }
      if (!in_flight[k].empty()) {
        in_flight[k].pop_front();
        --unanswered;
      }
      freeReplyObject(r);
    }
  };
  // Waits up to `ns` for replies on the connections that await some, and takes them.
  std::vector<pollfd> fds;
  std::vector<size_t> fd_conn;
  auto pump = [&](int64_t ns) {
    fds.clear();
    fd_conn.clear();
    for (size_t k = 0; k < conns.size(); ++k) {
      if (in_flight[k].empty()) continue;
      fds.push_back({conns[k]->fd, POLLIN, 0});
      fd_conn.push_back(k);
    }
    if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
      return;
    }
    const timespec ts{static_cast<time_t>(ns / kSecond), static_cast<long>(ns % kSecond)};
    if (::ppoll(fds.data(), fds.size(), &ts, nullptr) <= 0) return;
    for (size_t j = 0; j < fds.size(); ++j) {
      if (fds[j].revents == 0) continue;
      if (redisBufferRead(conns[fd_conn[j]]) != REDIS_OK) peers::die("redis_bench: read failed");
      take_replies(fd_conn[j]);
    }
  };
  const uint64_t quota = st.quota(0);
  uint64_t i = 0;
  size_t next = 0;  // paced: the connection the next record goes to
  while (!st.done_sending(i, quota)) {
    if (st.opts.rate <= 0) {
      for (size_t k = 0; k < conns.size(); ++k) {
        bool appended = false;
        for (; in_flight[k].size() < window && !st.done_sending(i, quota); ++i) {
          append(k);
          appended = true;
        }
        if (appended) flush(k);
      }
      pump(kSecond);  // every connection is full: wait for the first replies
      continue;
    }
    // Paced: take replies as they arrive while waiting for the next record's turn.
    pace.wait(st.start_ns, i, [&](int64_t ns) { pump(ns); });
    const size_t k = next;
    next = (next + 1) % conns.size();
    while (in_flight[k].size() >= window) pump(kSecond);
    append(k);
    ++i;
    flush(k);
    pump(0);
  }
  while (unanswered > 0) pump(kSecond);
  st.producer_finished();
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
  auto opts = peers::parse(argc, argv, kUsage, {"--connections", "--pipeline"});
  if (opts.url.empty()) opts.url = "127.0.0.1:6379";
  if (opts.durability.empty()) opts.durability = "server default";
  std::vector<redisContext*> pcs;
  for (int k = 0; k < opts.connections; ++k) pcs.push_back(connect(opts.url));
  redisContext* cc = connect(opts.url);
  freeReplyObject(command(cc, "DEL %s", kStream));
  freeReplyObject(command(cc, "XGROUP CREATE bench g $ MKSTREAM"));
  peers::run_state st(opts);  // one producer thread, however many connections
  std::vector<std::thread> producers;
  producers.emplace_back(produce, std::ref(st), std::cref(pcs));
  std::thread consumer;
  const bool both = opts.mode == "both";
  if (both) consumer = std::thread(consume, std::ref(st), cc);
  int rc = peers::finish(st, "redis-streams", producers, both ? &consumer : nullptr, both);
  for (auto* c : pcs) redisFree(c);
  redisFree(cc);
  return rc;
}
