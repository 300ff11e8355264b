#include "http/fanout.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <tuple>

namespace http {
namespace {

namespace bj = boost::json;
using clock = std::chrono::steady_clock;

struct position_key {
  std::string topic;
  std::array<uint8_t, 16> topic_id{};  // a topic deleted and made again is another topic
  int32_t partition = 0;
  int64_t offset = 0;
  auto operator<=>(const position_key&) const = default;
};

// One read of a position in progress, awaited by the other streams that ask for it.
struct flight {
  bool done = false;
  bool retry_later = false;
  block_read result{};
  std::vector<std::shared_ptr<net::asio::steady_timer>> waiting{};

  void publish() {
    done = true;
    for (auto& t : waiting) t->cancel();
    waiting.clear();
  }
};

// The subscribers of this shard waiting for a partition to pass an offset.
struct tail {
  std::shared_ptr<broker::data_waiter> waiter{};
  uint64_t generation = 0;  // which waiter's wake is current
  clock::time_point renew_at{};
  std::vector<std::weak_ptr<wakeup>> subscribers{};
  size_t sweep_at = 64;
};

struct shard_fanout {
  std::map<position_key, std::shared_ptr<block>> cache;
  std::deque<std::pair<position_key, std::weak_ptr<block>>> order;  // oldest first
  uint64_t cached_bytes = 0;
  std::map<position_key, std::shared_ptr<flight>> flights;
  std::map<position_key, tail> tails;
  size_t tails_sweep_at = 256;
  uint64_t generations = 0;
};

thread_local shard_fanout g_fanout;

// A watch on a partition's owner whose waiter was replaced by a newer one (or whose
// partition went away without waking it) is renewed by the next subscriber after this.
constexpr auto kRenewWatch = std::chrono::seconds(5);
// A stream waits this long at most for another stream's read of the same position.
constexpr auto kFlightPatience = std::chrono::seconds(5);

void cache_block(const position_key& key, const std::shared_ptr<block>& b, uint64_t bytes) {
  auto& f = g_fanout;
  const uint64_t cap = shard_memory::local().budget() / 32;
  if (bytes > cap) return;
  auto& slot = f.cache[key];
  if (slot) f.cached_bytes -= std::min<uint64_t>(f.cached_bytes, slot->hold.bytes());
  slot = b;
  f.order.emplace_back(key, b);
  f.cached_bytes += bytes;
  while (f.cached_bytes > cap && !f.order.empty()) {
    auto [old_key, old] = std::move(f.order.front());
    f.order.pop_front();
    auto it = f.cache.find(old_key);
    if (it != f.cache.end() && it->second == old.lock()) {
      f.cached_bytes -= std::min<uint64_t>(f.cached_bytes, it->second->hold.bytes());
      f.cache.erase(it);
    }
  }
}

void fire_tail(const position_key& key, uint64_t generation) {
  auto it = g_fanout.tails.find(key);
  if (it == g_fanout.tails.end() || it->second.generation != generation) return;
  auto subscribers = std::move(it->second.subscribers);
  g_fanout.tails.erase(it);
  for (const auto& s : subscribers) {
    if (auto live = s.lock()) live->wake();
  }
}

net::task<void> watch_on_owner(broker::broker& b, broker::request_identity who, std::string topic,
                               int32_t partition, int64_t offset,
                               std::shared_ptr<broker::data_waiter> waiter) {
  std::vector<broker::read_plan::part> parts;
  parts.push_back({broker::topic_partition{std::move(topic), partition}, offset, 1});
  const auto plan = b.data().plan_read(who, std::move(parts));
  std::vector<bool> wanted{true};
  co_await b.data().watch(plan, std::move(wanted), std::move(waiter));
}

}  // namespace

std::string block::message(format f, size_t n) const {
  bj::array out;
  n = std::min(n, records.size());
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(record_to_json(records[i], partition, f));
  return bj::serialize(
      bj::object{{"topic", topic}, {"partition", partition}, {"records", std::move(out)}});
}

std::shared_ptr<const std::string> block::message(format f) {
  auto& m = encoded[static_cast<size_t>(f)];
  if (!m) m = std::make_shared<const std::string>(message(f, records.size()));
  return m;
}

net::task<block_reads> read_blocks(broker::broker& b, const broker::request_identity& who,
                                   std::string topic, std::array<uint8_t, 16> topic_id,
                                   std::vector<std::pair<int32_t, int64_t>> offsets,
                                   size_t max_records, size_t max_bytes) {
  auto& f = g_fanout;
  block_reads out;
  out.parts.resize(offsets.size());
  std::vector<size_t> to_read;
  std::vector<std::pair<size_t, std::shared_ptr<flight>>> to_await;
  for (size_t i = 0; i < offsets.size(); ++i) {
    const position_key key{topic, topic_id, offsets[i].first, offsets[i].second};
    if (auto hit = f.cache.find(key); hit != f.cache.end()) {
      out.parts[i].records = hit->second;
      out.parts[i].next_offset = hit->second->next;
      continue;
    }
    if (auto busy = f.flights.find(key); busy != f.flights.end()) {
      to_await.emplace_back(i, busy->second);
      continue;
    }
    to_read.push_back(i);
  }

  if (!to_read.empty()) {
    std::vector<std::pair<position_key, std::shared_ptr<flight>>> mine;
    std::vector<broker::read_plan::part> parts;
    for (size_t i : to_read) {
      position_key key{topic, topic_id, offsets[i].first, offsets[i].second};
      auto fl = std::make_shared<flight>();
      f.flights[key] = fl;
      mine.emplace_back(std::move(key), std::move(fl));
      parts.push_back(
          {broker::topic_partition{topic, offsets[i].first}, offsets[i].second, max_bytes});
    }
    // Whatever happens below, the streams awaiting these reads are answered.
    struct publish_all {
      std::vector<std::pair<position_key, std::shared_ptr<flight>>>& flights;
      ~publish_all() {
        for (auto& [key, fl] : flights) {
          if (!fl->done) {
            fl->retry_later = true;
            fl->publish();
          }
          auto it = g_fanout.flights.find(key);
          if (it != g_fanout.flights.end() && it->second == fl) g_fanout.flights.erase(it);
        }
      }
    } guard{mine};

    auto& data = b.data();
    const auto plan = data.plan_read(who, std::move(parts));
    auto reads = co_await data.read(who, plan, max_bytes);
    // The records read, decoded and encoded are held until the last subscriber wrote
    // them: charged to the shard's account first, or the streams wait for memory.
    uint64_t need = 0;
    for (const auto& r : reads) need += r.records.size() * 4;
    const bool busy = need > 0 && !shard_memory::local().try_take(need);
    for (size_t j = 0; j < reads.size(); ++j) {
      auto& r = reads[j];
      const size_t i = to_read[j];
      auto& [key, fl] = mine[j];
      memory_hold share(busy ? 0 : r.records.size() * 4);
      block_read got;
      got.error = r.error;
      got.high_watermark = r.high_watermark;
      got.log_start_offset = r.log_start_offset;
      got.next_offset = key.offset;
      if (busy) {
        fl->retry_later = true;
      } else if (!r.error && !r.records.empty()) {
        auto bytes = r.records.linearize();
        auto decoded =
            bytes ? broker::decode_records(*bytes, key.offset, max_records)
                  : base::result<broker::decoded_records>(broker::to_broker_error(bytes.error()));
        if (!decoded) {
          got.error = decoded.error();
        } else {
          got.next_offset = std::max(key.offset, decoded->next_offset);
          if (!decoded->records.empty()) {
            auto blk = std::make_shared<block>();
            blk->topic = topic;
            blk->partition = key.partition;
            blk->start = key.offset;
            blk->next = got.next_offset;
            blk->records = std::move(decoded->records);
            blk->hold = std::move(share);
            cache_block(key, blk, blk->hold.bytes());
            got.records = std::move(blk);
          }
        }
      }
      out.parts[i] = got;
      fl->result = std::move(got);
      fl->publish();
    }
    out.retry_later = busy;
  }

  for (auto& [i, fl] : to_await) {
    if (!fl->done) {
      auto t = std::make_shared<net::asio::steady_timer>(co_await net::asio::this_coro::executor);
      t->expires_after(kFlightPatience);
      fl->waiting.push_back(t);
      co_await t->async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    }
    if (!fl->done || fl->retry_later) {
      out.retry_later = true;
      continue;
    }
    out.parts[i] = fl->result;
  }
  co_return out;
}

void watch_blocks(broker::broker& b, const broker::request_identity& who, const std::string& topic,
                  const std::vector<std::pair<int32_t, int64_t>>& offsets,
                  const std::shared_ptr<wakeup>& w) {
  auto& f = g_fanout;
  const auto now = clock::now();
  if (f.tails.size() >= f.tails_sweep_at) {
    // Positions nobody waits at any more (their partition went away unwoken).
    for (auto it = f.tails.begin(); it != f.tails.end();) {
      sweep_waits(it->second.subscribers);
      if (it->second.subscribers.empty()) {
        if (it->second.waiter) it->second.waiter->finish();
        it = f.tails.erase(it);
      } else {
        ++it;
      }
    }
    f.tails_sweep_at = std::max<size_t>(256, f.tails.size() * 2);
  }
  for (const auto& [partition, offset] : offsets) {
    position_key key{topic, {}, partition, offset};
    auto& t = f.tails[key];
    if (t.subscribers.size() >= t.sweep_at) {
      sweep_waits(t.subscribers);
      t.sweep_at = std::max<size_t>(64, t.subscribers.size() * 2);
    }
    t.subscribers.push_back(w);
    if (t.waiter && now < t.renew_at) continue;
    if (t.waiter) t.waiter->finish();
    t.generation = ++f.generations;
    t.renew_at = now + kRenewWatch;
    auto ex = w->timer.get_executor();
    t.waiter = std::make_shared<broker::data_waiter>([key, ex, gen = t.generation] {
      net::asio::post(ex, [key, gen] { fire_tail(key, gen); });
    });
    net::asio::co_spawn(ex, watch_on_owner(b, who, topic, partition, offset, t.waiter),
                        net::asio::detached);
  }
}

}  // namespace http
