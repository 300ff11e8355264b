#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/fetch_request.h"
#include "kafka/protocol/generated/fetch_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

struct partition_read {
  error_code error = error_code::none;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  int64_t next_offset = -1;
  base::iobuf records;
};

partition_read read_local(broker::broker& b, const storage::ntp& name, int64_t offset,
                          size_t max_bytes, bool min_one_batch) {
  partition_read out;
  auto log = b.local_log(name);
  if (!log) {
    out.error = error_code::unknown_topic_or_partition;
    return out;
  }
  out.high_watermark = log->high_watermark();
  out.log_start_offset = log->log_start_offset();
  if ((max_bytes == 0 && !min_one_batch) || offset == out.high_watermark) return out;
  storage::partition_log::read_options opts;
  opts.min_one_batch = min_one_batch;
  auto r = log->read(offset, max_bytes, opts);
  if (!r) {
    out.error = to_kafka_error(r.error());
    return out;
  }
  out.records = std::move(r->data);
  out.next_offset = r->next_offset;
  return out;
}

// One partition of a fetch request, in the group of its owning shard.
struct part_ref {
  size_t topic = 0, partition = 0;  // indexes into the request and the response
  storage::ntp name;
  int64_t offset = 0;
  size_t partition_max = 0;
};

// The fetch's partitions owned by one shard: read (and, for the long poll, waited on)
// together in one task on that shard, so a fetch costs one hop per shard rather than
// one per partition.
struct shard_group {
  unsigned owner = 0;
  std::vector<part_ref> parts;
};

// On the owner: reads the group's partitions in order, within each partition's
// max_bytes and the fetch's max_bytes counted from `used` (KIP-74). Only the first batch
// of the response may exceed them (one whole batch, so a consumer always makes
// progress); a later partition whose next batch does not fit returns nothing.
net::task<std::vector<partition_read>> read_group(broker::broker& b, std::vector<part_ref> parts,
                                                  size_t used, size_t max_bytes) {
  std::vector<partition_read> out;
  out.reserve(parts.size());
  for (const auto& p : parts) {
    const size_t budget = std::min(p.partition_max, max_bytes > used ? max_bytes - used : 0);
    out.push_back(read_local(b, p.name, p.offset, budget, used == 0));
    used += out.back().records.size();
  }
  co_return out;
}

// Long poll: a fetch that found too little data parks one wakeup on each partition it
// reads (on the partition's owning shard) and sleeps on a timer set to max_wait. The
// first high-watermark advance past its fetch offset cancels the timer, so a consumer
// sees new data the moment it becomes readable (durable, under fsync) rather than at
// the next poll.
struct fetch_wakeup {
  explicit fetch_wakeup(const net::asio::any_io_executor& ex) : timer(ex) {}
  net::asio::steady_timer timer;  // on the fetching connection's shard
  bool woken = false;             // touched only on that shard
  std::atomic<bool> finished{false};

  // From any shard: wakes the fetch (once it awaits, or at once if it does already).
  static void wake(const std::shared_ptr<fetch_wakeup>& w) {
    if (w->finished.load(std::memory_order_relaxed)) return;
    net::asio::post(w->timer.get_executor(), [w] {
      w->woken = true;
      w->timer.cancel();
    });
  }
};

// This shard's long polls now waiting (so shutdown can end them), and whether the
// server is stopping (then nothing waits any more).
thread_local std::vector<std::weak_ptr<fetch_wakeup>> long_polls;
thread_local bool stopping = false;

// The fetches waiting on one partition, kept on the partition's owning shard.
struct partition_waiters {
  std::weak_ptr<storage::partition_log> log;  // the log whose listener feeds this list
  struct entry {
    int64_t offset;                      // wake once the high watermark passes it
    std::weak_ptr<fetch_wakeup> wakeup;  // the fetch owns it; gone once it answered
  };
  std::vector<entry> entries;

  void on_high_watermark(int64_t hw) {
    if (entries.empty()) return;
    std::erase_if(entries, [hw](const entry& e) {
      auto w = e.wakeup.lock();
      if (!w || w->finished.load(std::memory_order_relaxed)) return true;
      if (hw <= e.offset) return false;
      fetch_wakeup::wake(w);
      return true;
    });
  }
};

// Per shard (each shard thread has its own). An entry is erased only once its log is
// gone (a deleted topic's partition), so the listener installed on a live log can hold a
// pointer to its list.
thread_local std::map<storage::ntp, partition_waiters> waiters;
thread_local size_t parks_since_sweep = 0;

// On the partition's owner: parks `w` until the high watermark passes `offset` (or wakes
// it at once if it already has). A plain function: the coroutine below only forwards.
void park(broker::broker& b, const storage::ntp& name, int64_t offset,
          const std::shared_ptr<fetch_wakeup>& w) {
  auto log = b.local_log(name);
  if (!log) return;  // the fetch wakes at max_wait
  if (log->high_watermark() > offset || log->failure()) {
    fetch_wakeup::wake(w);
    return;
  }
  auto& list = waiters[name];
  if (list.log.lock() != log) {
    list.log = log;
    partition_waiters* target = &list;
    log->set_high_watermark_listener([target](int64_t hw) { target->on_high_watermark(hw); });
  }
  std::erase_if(list.entries, [](const partition_waiters::entry& e) {
    auto live = e.wakeup.lock();
    return !live || live->finished.load(std::memory_order_relaxed);
  });
  list.entries.push_back({offset, w});
  // Now and then, forget the partitions whose logs are gone.
  if (++parks_since_sweep >= 4096) {
    parks_since_sweep = 0;
    std::erase_if(waiters, [](const auto& kv) { return kv.second.log.expired(); });
  }
}

void park_all(broker::broker& b, const std::vector<std::pair<storage::ntp, int64_t>>& parts,
              const std::shared_ptr<fetch_wakeup>& w) {
  for (const auto& [name, offset] : parts) park(b, name, offset, w);
}

// The caller awaits it, so the last reference to `w` is never dropped on this shard.
net::task<void> park_on_owner(broker::broker& b,
                              std::vector<std::pair<storage::ntp, int64_t>> parts,
                              std::shared_ptr<fetch_wakeup> w) {
  park_all(b, parts, w);
  co_return;
}

}  // namespace

net::task<handler_result> fetch(request_context& ctx) {
  protocol::fetch_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(std::clamp(req.max_wait_ms, 0, ctx.server.fetch_max_wait_ms));
  const size_t max_bytes =
      static_cast<size_t>(std::clamp(req.max_bytes, 0, ctx.server.fetch_max_bytes));
  auto& shards = ctx.broker.shards();
  const auto executor = co_await net::asio::this_coro::executor;
  const unsigned here = net::shard_set::current();

  // The response's shape, with the errors that need no read, and the partitions to read
  // grouped by owning shard, this shard's group first (it needs no hop).
  protocol::fetch_response shape;
  shape.session_id = 0;  // no incremental fetch sessions
  auto snap = ctx.broker.metadata();
  std::vector<std::shared_ptr<const broker::topic_metadata>> metas;
  std::vector<shard_group> groups;
  bool any_error = false;
  // A partition named more than once is read and answered once.
  std::set<std::pair<std::string_view, int32_t>> named;
  for (const auto& topic : req.topics) {
    auto& rt = shape.responses.emplace_back();
    rt.topic = topic.topic;
    auto t = snap->find(topic.topic);
    metas.push_back(t);
    for (const auto& part : topic.partitions) {
      if (!named.emplace(topic.topic, part.partition).second) continue;
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = part.partition;
      rp.aborted_transactions.emplace();  // none: there are no transactions
      if (!t || part.partition < 0 || part.partition >= t->partitions) {
        rp.error_code = code(error_code::unknown_topic_or_partition);
        any_error = true;
        continue;
      }
      const unsigned owner = ctx.broker.owner(topic.topic, part.partition);
      auto g = std::find_if(groups.begin(), groups.end(),
                            [owner](const shard_group& x) { return x.owner == owner; });
      if (g == groups.end()) {
        groups.push_back({owner, {}});
        g = groups.end() - 1;
      }
      g->parts.push_back({shape.responses.size() - 1, rt.partitions.size() - 1,
                          storage::ntp{topic.topic, part.partition}, part.fetch_offset,
                          static_cast<size_t>(std::max(part.partition_max_bytes, 0))});
    }
  }
  std::stable_partition(groups.begin(), groups.end(),
                        [here](const shard_group& g) { return g.owner == here; });

  std::shared_ptr<fetch_wakeup> wakeup;
  for (;;) {
    protocol::fetch_response resp = shape;
    size_t used = 0;
    bool read_error = false;
    for (const auto& g : groups) {
      std::vector<partition_read> reads;
      if (g.owner == here) {
        reads = co_await read_group(ctx.broker, g.parts, used, max_bytes);
      } else {
        reads =
            co_await shards.invoke_on(g.owner, read_group(ctx.broker, g.parts, used, max_bytes));
      }
      for (size_t i = 0; i < reads.size(); ++i) {
        const auto& p = g.parts[i];
        auto& res = reads[i];
        auto& rp = resp.responses[p.topic].partitions[p.partition];
        rp.error_code = code(res.error);
        rp.high_watermark = res.high_watermark;
        rp.last_stable_offset = res.high_watermark;
        rp.log_start_offset = res.log_start_offset;
        if (res.error != error_code::none) read_error = true;
        used += res.records.size();
        if (!res.records.empty()) {
          metas[p.topic]->bytes_out->add(res.records.size());
          metas[p.topic]->records_out->add(
              static_cast<uint64_t>(std::max<int64_t>(res.next_offset - p.offset, 0)));
        }
        rp.records.data = std::move(res.records);
      }
    }
    // Long poll: answer once min_bytes are there, on an error, or at max_wait_ms.
    if (used >= static_cast<size_t>(std::max(req.min_bytes, 1)) || any_error || read_error ||
        stopping || std::chrono::steady_clock::now() >= deadline) {
      if (wakeup) wakeup->finished = true;
      co_return respond(resp, ctx.api_version);
    }
    if (wakeup) wakeup->finished = true;
    wakeup = std::make_shared<fetch_wakeup>(executor);
    wakeup->timer.expires_at(deadline);
    std::erase_if(long_polls, [](const std::weak_ptr<fetch_wakeup>& w) {
      auto live = w.lock();
      return !live || live->finished.load(std::memory_order_relaxed);
    });
    long_polls.push_back(wakeup);
    // Park on every partition that returned nothing (the others' data is in `used`), one
    // task per shard.
    for (const auto& g : groups) {
      std::vector<std::pair<storage::ntp, int64_t>> empty;
      for (const auto& p : g.parts) {
        if (resp.responses[p.topic].partitions[p.partition].records.data.empty()) {
          empty.emplace_back(p.name, p.offset);
        }
      }
      if (empty.empty()) continue;
      if (g.owner == here) {
        park_all(ctx.broker, empty, wakeup);
      } else {
        co_await shards.invoke_on(g.owner, park_on_owner(ctx.broker, std::move(empty), wakeup));
      }
    }
    if (!wakeup->woken) {
      co_await wakeup->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    }
  }
}

void end_long_polls() {
  stopping = true;
  for (const auto& w : long_polls) {
    if (auto live = w.lock()) fetch_wakeup::wake(live);
  }
  long_polls.clear();
}

}  // namespace kafka::handlers
