#include "broker/delay_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "broker/broker.h"
#include "net/asio.h"
#include "net/await.h"
#include "storage/batch_builder.h"
#include "storage/partition_log.h"
#include "storage/record_batch.h"

namespace broker {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 86'400'000;
constexpr int64_t kRetryMs = 1000;            // a move that failed is tried again after this
constexpr size_t kBucketFlush = 512;          // slots buffered per index file before a write
constexpr size_t kBufferedMax = 64 * 1024;    // slots buffered over all files
constexpr size_t kHoldBatchBytes = 1u << 20;  // held records per batch of the internal topic
constexpr size_t kMoveBatchBytes = 512u << 10;
// At most this many due times in memory (32 MiB); beyond, they wait in index files even
// when due within the minute, and are read back as the heap drains (late if a flood of
// records due within one minute passes this).
constexpr size_t kNearMax = size_t{1} << 21;

struct slot {
  int64_t due;
  int64_t offset;
};
struct later {
  bool operator()(const slot& a, const slot& b) const {
    return a.due != b.due ? a.due > b.due : a.offset > b.offset;
  }
};

std::string_view as_chars(const std::vector<uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

struct delay_metrics {
  base::metrics::counter& moved;
  base::metrics::counter& dropped;
  base::metrics::counter& held;
  base::metrics::histogram& lateness;
};

delay_metrics& metrics() {
  auto& reg = base::metrics::registry::global();
  static delay_metrics m{
      reg.get_counter("riptide_delayed_moved_total",
                      "Held records appended to their topic at their due time"),
      reg.get_counter("riptide_delayed_dropped_total",
                      "Held records dropped at their due time: their topic or partition was gone"),
      reg.get_counter("riptide_delayed_held_total", "Records held for delayed delivery"),
      reg.get_histogram("riptide_delayed_lateness_seconds",
                        "How long after its due time a held record was appended to its topic"),
  };
  return m;
}

base::log_rate_limiter& warn_limiter() {
  static base::log_rate_limiter limiter(1, std::chrono::seconds(10));
  return limiter;
}

uint64_t random_token() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  uint64_t t = 0;
  while (t == 0) t = gen();
  return t;
}

// Calls `fn` with the whole batch holding `offset` (and no other).
template <typename Fn>
base::status batch_at(storage::partition_log& log, int64_t offset, Fn&& fn) {
  storage::partition_log::read_options opts;
  opts.max_offset = log.log_end_offset();
  opts.copy_bytes = true;
  opts.min_one_batch = true;
  auto r = log.read(offset, 1, opts);
  if (!r) return r.error();
  for (const auto& frag : r->data.fragments()) {
    const auto* mem = std::get_if<base::memory_fragment>(&frag);
    if (!mem) continue;
    auto bytes = mem->bytes();
    if (bytes.size() < storage::batch_header_size) continue;
    const size_t size = storage::decode_header(bytes).size_bytes();
    if (size <= bytes.size()) fn(bytes.first(size));
    break;
  }
  return {};
}

}  // namespace

struct delay_store::part {
  int32_t partition = 0;
  std::shared_ptr<storage::partition_log> log;
  std::filesystem::path dir;  // its index files
  // One bit per offset of a held record not yet moved, in chunks of 512 offsets that
  // exist only while one of theirs is pending: what a record held for a year costs is
  // its own chunk, not the offsets written after it.
  static constexpr int64_t kChunk = 512;
  struct chunk {
    std::array<uint64_t, kChunk / 64> words{};
    uint32_t count = 0;
  };
  std::map<int64_t, chunk> bits;  // by offset / kChunk
  uint64_t pending = 0;
  std::atomic<int64_t>* gauge = nullptr;  // the shard's count, read by /metrics
  // Due before near_end: in the heap (earliest first).
  std::vector<slot> near;
  int64_t near_end = 0;
  int64_t next_promote = 0;
  struct bucket {
    std::vector<slot> buffer;
    bool on_disk = false;
  };
  std::map<std::pair<int64_t, int64_t>, bucket> far;  // by (start, width) of due time
  size_t buffered = 0;
  // Intents not resolved yet (at load; or a move that failed and whose outcome is not
  // known): their records are not moved until it is.
  std::map<int64_t, move_intent> intents;
  std::set<int64_t> in_doubt;
  int64_t next_resolve = 0;

  bool test(int64_t o) const {
    if (o < 0) return false;
    auto it = bits.find(o / kChunk);
    if (it == bits.end()) return false;
    const auto r = static_cast<size_t>(o % kChunk);
    return (it->second.words[r / 64] >> (r % 64)) & 1;
  }
  void set(int64_t o) {
    if (o < 0 || test(o)) return;
    auto& c = bits[o / kChunk];
    const auto r = static_cast<size_t>(o % kChunk);
    c.words[r / 64] |= uint64_t{1} << (r % 64);
    ++c.count;
    ++pending;
    gauge->fetch_add(1, std::memory_order_relaxed);
  }
  void clear(int64_t o) {
    if (!test(o)) return;
    auto it = bits.find(o / kChunk);
    const auto r = static_cast<size_t>(o % kChunk);
    it->second.words[r / 64] &= ~(uint64_t{1} << (r % 64));
    if (--it->second.count == 0) bits.erase(it);
    --pending;
    gauge->fetch_sub(1, std::memory_order_relaxed);
  }

  std::filesystem::path file_of(std::pair<int64_t, int64_t> key) const {
    return dir / (std::to_string(key.first) + "-" + std::to_string(key.second));
  }
  void flush(std::pair<int64_t, int64_t> key, bucket& b) {
    if (b.buffer.empty()) return;
    const auto path = file_of(key);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const size_t bytes = b.buffer.size() * sizeof(slot);
    struct stat st {};
    bool ok = fd >= 0 && ::fstat(fd, &st) == 0;
    if (ok && ::write(fd, b.buffer.data(), bytes) != static_cast<ssize_t>(bytes)) {
      ok = false;
      // Not a partial slot left behind: the file stays whole slots.
      (void)::ftruncate(fd, st.st_size);
    }
    if (fd >= 0) ::close(fd);
    if (!ok) {
      // Kept in memory instead; the index is rebuilt from the partition at start anyway.
      if (auto note = warn_limiter().allow()) {
        base::logger("delayed")->warn("cannot write the delayed-delivery index file {}: {}{}",
                                      path.string(), std::strerror(errno), *note);
      }
      return;
    }
    b.on_disk = true;
    buffered -= b.buffer.size();
    b.buffer.clear();
    b.buffer.shrink_to_fit();
  }
  // The slots of an index file; nullopt if it cannot be read now.
  std::optional<std::vector<slot>> read_file(const std::filesystem::path& path) const {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::vector<uint8_t> bytes;
    uint8_t buf[16384];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) bytes.insert(bytes.end(), buf, buf + n);
    ::close(fd);
    if (n < 0) return std::nullopt;
    std::vector<slot> out(bytes.size() / sizeof(slot));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(slot));
    return out;
  }
  void insert(slot s, int64_t now) {
    if (s.due < near_end && near.size() < kNearMax) {
      near.push_back(s);
      std::push_heap(near.begin(), near.end(), later{});
      return;
    }
    // Minutes within a day (and an hour, so that an hour's file read back never lands in
    // an hour's file again), hours beyond.
    const int64_t width = s.due - now < kDay + kHour ? kMinute : kHour;
    const std::pair<int64_t, int64_t> key{s.due / width * width, width};
    auto& b = far[key];
    b.buffer.push_back(s);
    ++buffered;
    if (b.buffer.size() >= kBucketFlush) flush(key, b);
    if (buffered > kBufferedMax) {
      for (auto& [k, other] : far) flush(k, other);
    }
  }
  // Files whose time has come are read back: minutes into the heap, hours into minutes.
  void promote(int64_t now, int64_t near_ms) {
    near_end = std::max(near_end, now + near_ms);
    std::vector<std::pair<int64_t, int64_t>> ready;
    for (const auto& [key, b] : far) {
      if (key.first >= now + kDay) break;
      if (key.second == kHour || (key.first < near_end && near.size() < kNearMax)) {
        ready.push_back(key);
      }
    }
    for (const auto& key : ready) {
      auto it = far.find(key);
      if (it->second.on_disk) {
        auto from_file = read_file(file_of(key));
        if (!from_file) {
          // Left for the next promotion (a second later) rather than lost.
          if (auto note = warn_limiter().allow()) {
            base::logger("delayed")->warn("cannot read the delayed-delivery index file {}: {}{}",
                                          file_of(key).string(), std::strerror(errno), *note);
          }
          continue;
        }
        std::error_code ec;
        std::filesystem::remove(file_of(key), ec);
        it->second.buffer.insert(it->second.buffer.end(), from_file->begin(), from_file->end());
        buffered += from_file->size();
      }
      std::vector<slot> slots = std::move(it->second.buffer);
      buffered -= slots.size();
      far.erase(it);
      for (const auto& s : slots) {
        if (test(s.offset)) insert(s, now);
      }
    }
  }
};

namespace {

template <typename Part>
void requeue(Part& p, const std::vector<int64_t>& offsets, int64_t at) {
  for (int64_t o : offsets) {
    p.near.push_back({at, o});
    std::push_heap(p.near.begin(), p.near.end(), later{});
  }
}

}  // namespace

struct delay_store::ticker {
  explicit ticker(const net::asio::any_io_executor& ex) : timer(ex) {}
  net::asio::steady_timer timer;
};

delay_store::delay_store(broker& b, unsigned shard, delay_options opts)
    : broker_(b), shard_(shard), opts_(opts), held_(std::make_shared<std::atomic<int64_t>>(0)) {
  index_dir_ = b.options().data_dir / ".delayed-index";
  gauge_id_ = base::metrics::registry::global().add_gauge(
      "riptide_delayed_pending", "Records held for delayed delivery, not yet due",
      [shard, held = held_](std::vector<std::pair<base::metrics::labels, double>>& out) {
        out.push_back({{{"shard", std::to_string(shard)}},
                       static_cast<double>(held->load(std::memory_order_relaxed))});
      });
}

delay_store::~delay_store() {
  base::metrics::registry::global().remove_gauge(gauge_id_);
}

uint64_t delay_store::pending() const {
  uint64_t n = 0;
  for (const auto& p : parts_) n += p->pending;
  return n;
}

delay_store::part* delay_store::local_part() {
  for (auto& p : parts_) {
    if (static_cast<unsigned>(p->partition) == shard_ && p->log) return p.get();
  }
  for (auto& p : parts_) {
    if (p->log) return p.get();
  }
  return nullptr;
}

bool delay_store::ready() {
  if (local_part()) return true;
  return attach() && local_part();
}

bool delay_store::attach() {
  const bool was_empty = parts_.empty();
  auto st = load();
  if (was_empty && !parts_.empty() && timer_) timer_->timer.cancel();  // start ticking
  if (!st) {
    base::logger("delayed")->error("shard {}: cannot open the held records: {}", shard_,
                                   st.error().message());
    return false;
  }
  return true;
}

base::status delay_store::load() {
  auto t = broker_.metadata()->find(delayed_topic);
  if (!t) return {};
  const int64_t now = base::wall_ms();
  size_t intents = 0;
  for (int32_t i = 0; i < t->partitions; ++i) {
    if (broker_.owner(delayed_topic, i) != shard_) continue;
    if (std::any_of(parts_.begin(), parts_.end(),
                    [i](const auto& p) { return p->partition == i; })) {
      continue;
    }
    auto p = std::make_unique<part>();
    p->partition = i;
    p->gauge = held_.get();
    p->log = broker_.local_log({delayed_topic, i});
    p->dir = index_dir_ / fmt::format("p{}", i);
    std::error_code ec;
    std::filesystem::remove_all(p->dir, ec);
    std::filesystem::create_directories(p->dir, ec);
    if (ec) return ec;
    p->near_end = now + opts_.near_ms;
    if (p->log) {
      auto& dp = *p;
      auto st = dp.log->for_each_batch(
          dp.log->log_start_offset(), dp.log->log_end_offset(),
          [&](std::span<const uint8_t> batch) {
            (void)storage::for_each_record(batch, [&](const storage::record_view& r) {
              auto key = r.key ? decode_delayed_key(*r.key) : std::nullopt;
              if (!key) return true;
              if (key->kind == delayed_kind::held) {
                if (!r.value) {
                  dp.clear(key->offset);
                } else if (auto due = decode_held_due(*r.value); due && key->offset == r.offset) {
                  dp.set(r.offset);
                  dp.insert({*due, r.offset}, now);
                }
              } else if (!r.value) {
                dp.intents.erase(key->offset);
              } else if (auto m = decode_move_intent(*r.value)) {
                dp.intents[key->offset] = std::move(*m);
              }
              return true;
            });
          });
      if (!st) return st.error();
      for (const auto& [at, m] : dp.intents) dp.in_doubt.insert(m.held.begin(), m.held.end());
      intents += dp.intents.size();
    }
    parts_.push_back(std::move(p));
  }
  if (pending() > 0 || intents > 0) {
    base::logger("delayed")->info(
        "shard {}: {} record(s) held for delayed delivery, {} move(s) "
        "to finish",
        shard_, pending(), intents);
  }
  return {};
}

void delay_store::stop() {
  stopping_ = true;
  if (timer_) timer_->timer.cancel();
}

delay_store::hold_result delay_store::hold(std::span<const held_record> records) {
  hold_result out;
  auto* p = local_part();
  if (!p) {
    out.error = errc::temporarily_unavailable;
    return out;
  }
  const int64_t now = base::wall_ms();
  std::vector<std::vector<uint8_t>> batches;
  int64_t next = p->log->log_end_offset();
  size_t i = 0;
  while (i < records.size()) {
    storage::batch_builder b(now);
    size_t bytes = 0;
    for (; i < records.size() && (bytes == 0 || bytes < kHoldBatchBytes); ++i) {
      const auto key = encode_delayed_key({delayed_kind::held, next});
      const auto value = encode_held_record(records[i]);
      b.add(as_chars(key), as_chars(value));
      bytes += key.size() + value.size() + 16;
      out.offsets.push_back(next++);
    }
    batches.push_back(b.build());
  }
  const int64_t first = out.offsets.empty() ? 0 : out.offsets.front();
  for (const auto& batch : batches) {
    auto a = p->log->append(batch);
    if (!a) {
      // Those appended before stay, taken back as the caller releases them.
      out.error = to_broker_error(a.error());
      out.offsets.resize(static_cast<size_t>(out.end < 0 ? 0 : out.end - first));
      break;
    }
    out.end = a->last_offset + 1;
  }
  for (size_t k = 0; k < out.offsets.size(); ++k) {
    p->set(out.offsets[k]);
    p->insert({records[k].due_ms, out.offsets[k]}, now);
  }
  out.log = p->log;
  metrics().held.add(out.offsets.size());
  return out;
}

void delay_store::release(const hold_result& held) {
  auto* p = local_part();
  if (!p || held.offsets.empty()) return;
  (void)finish(*p, held.offsets, -1);
}

// Tombstones for held records (and the intent that moved them): they are done.
std::error_code delay_store::finish(part& p, std::span<const int64_t> held, int64_t intent_offset) {
  for (int64_t o : held) p.clear(o);
  if (held.empty() && intent_offset < 0) return {};
  storage::batch_builder b(base::wall_ms());
  for (int64_t o : held) {
    const auto key = encode_delayed_key({delayed_kind::held, o});
    b.add(as_chars(key), std::nullopt);
  }
  if (intent_offset >= 0) {
    const auto key = encode_delayed_key({delayed_kind::intent, intent_offset});
    b.add(as_chars(key), std::nullopt);
  }
  auto a = p.log->append(b.build());
  if (!a) {
    // At the next start the intent is resolved again, or the records are moved again.
    base::logger("delayed")->error("cannot write that {} held record(s) were moved: {}",
                                   held.size(), a.error().message());
    return to_broker_error(a.error());
  }
  p.log->wait_durable(a->last_offset + 1, [](std::error_code) {});
  return {};
}

net::task<void> delay_store::run() {
  auto ex = co_await net::asio::this_coro::executor;
  timer_ = std::make_unique<ticker>(ex);
  while (!stopping_) {
    // By index: hold() may add partitions (the topic made meanwhile) while this waits.
    for (size_t i = 0; i < parts_.size() && !stopping_; ++i) {
      auto* p = parts_[i].get();
      if (!p->log) continue;
      const int64_t now = base::wall_ms();
      if (!p->intents.empty() && now >= p->next_resolve) co_await resolve_open(*p);
      if (now >= p->next_promote) {
        p->promote(now, opts_.near_ms);
        p->next_promote = now + 1000;
      }
      co_await move_due(*p);
    }
    // A shard that holds nothing sleeps (hold() wakes it when its partition appears):
    // brokers that never delay records pay no tick.
    timer_->timer.expires_after(parts_.empty() ? std::chrono::milliseconds(60'000) : opts_.tick);
    co_await timer_->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
  }
}

// Intents whose outcome is not known: resolved before their records move again.
net::task<void> delay_store::resolve_open(part& p) {
  std::vector<int64_t> offsets;
  for (const auto& [offset, m] : p.intents) offsets.push_back(offset);
  bool failed = false;
  for (int64_t offset : offsets) {
    auto it = p.intents.find(offset);
    if (it == p.intents.end()) continue;
    move_intent m = it->second;
    const int64_t at = offset;
    auto ec = co_await resolve(p, at, m, nullptr);
    if (ec) {
      failed = true;
      continue;
    }
    for (int64_t o : m.held) p.in_doubt.erase(o);
    p.intents.erase(offset);
  }
  if (failed) p.next_resolve = base::wall_ms() + kRetryMs;
}

net::task<void> delay_store::move_due(part& p) {
  const auto& who = request_identity::internal();
  while (!stopping_ && !p.near.empty() && p.near.front().due <= base::wall_ms()) {
    const int64_t now = base::wall_ms();
    // The due records, by offset, read within the round's bounds.
    std::vector<slot> due;
    std::vector<int64_t> doubtful;
    while (!p.near.empty() && p.near.front().due <= now && due.size() < opts_.max_move_records) {
      std::pop_heap(p.near.begin(), p.near.end(), later{});
      const slot s = p.near.back();
      p.near.pop_back();
      if (!p.test(s.offset)) continue;
      if (p.in_doubt.count(s.offset)) {
        doubtful.push_back(s.offset);  // its intent is resolved first
      } else {
        due.push_back(s);
      }
    }
    requeue(p, doubtful, now + kRetryMs);
    if (due.empty()) break;
    std::sort(due.begin(), due.end(),
              [](const slot& a, const slot& b) { return a.offset < b.offset; });
    std::vector<int64_t> wanted;
    wanted.reserve(due.size());
    for (const auto& d : due) wanted.push_back(d.offset);
    std::map<int64_t, held_record> found;
    size_t bytes = 0;
    size_t read_upto = 0;
    for (; read_upto < due.size() && bytes < opts_.max_move_bytes; ++read_upto) {
      const int64_t o = due[read_upto].offset;
      if (found.count(o)) continue;
      const int64_t last_wanted = due.back().offset;
      auto st = batch_at(*p.log, o, [&](std::span<const uint8_t> batch) {
        (void)storage::for_each_record(batch, [&](const storage::record_view& r) {
          // Only the due ones: the batch also holds records due later.
          if (r.offset < o || r.offset > last_wanted || !r.value ||
              !std::binary_search(wanted.begin(), wanted.end(), r.offset)) {
            return true;
          }
          auto key = r.key ? decode_delayed_key(*r.key) : std::nullopt;
          if (!key || key->kind != delayed_kind::held || key->offset != r.offset) return true;
          if (auto h = decode_held_record(*r.value)) {
            bytes += r.value->size();
            found.emplace(r.offset, std::move(*h));
          }
          return true;
        });
      });
      if (!st) {
        // Unreadable for now (descriptors, a closing log): tried again later.
        if (auto note = warn_limiter().allow()) {
          base::logger("delayed")->warn("held record {} of {}-{} cannot be read now ({}){}", o,
                                        delayed_topic, p.partition, st.error().message(), *note);
        }
        const std::vector<int64_t> later_again{o};
        requeue(p, later_again, now + kRetryMs);
      } else if (!found.count(o)) {
        // Read, but not a held record: it can never be moved.
        if (auto note = warn_limiter().allow()) {
          base::logger("delayed")->error("offset {} of {}-{} is not a held record; dropped{}", o,
                                         delayed_topic, p.partition, *note);
        }
        const int64_t gone[] = {o};
        (void)finish(p, gone, -1);
        metrics().dropped.add();
      }
    }
    // Over the byte bound: the rest waits for the next round.
    for (size_t k = read_upto; k < due.size(); ++k) {
      if (!found.count(due[k].offset)) {
        p.near.push_back(due[k]);
        std::push_heap(p.near.begin(), p.near.end(), later{});
      }
    }
    // By target partition; targets that are gone drop their records.
    auto snap = broker_.metadata();
    std::map<std::array<uint8_t, 16>, std::shared_ptr<const topic_metadata>> by_id;
    for (const auto& [name, t] : snap->topics) by_id[t->id] = t;
    struct target {
      topic_partition tp;
      std::vector<int64_t> held;
      std::vector<record> records;
      int64_t log_end = -1;
      int64_t intent = -1;
      uint64_t token = 0;
      move_intent plan;  // what its intent record says
    };
    std::map<std::pair<std::array<uint8_t, 16>, int32_t>, target> targets;
    std::vector<int64_t> dropped;
    for (auto& [o, h] : found) {
      auto t = by_id.find(h.topic_id);
      if (t == by_id.end() || h.partition >= t->second->partitions) {
        dropped.push_back(o);
        continue;
      }
      auto& tg = targets[{h.topic_id, h.partition}];
      if (tg.token == 0) tg.token = random_token();
      tg.tp = {t->second->name, h.partition};
      tg.held.push_back(o);
      record rec = std::move(h.rec);
      rec.timestamp = -1;  // now: when it enters the topic
      rec.headers.push_back({std::string(deliver_at_header), std::to_string(h.due_ms)});
      rec.headers.push_back({std::string(delayed_id_header), delayed_id(p.partition, o, tg.token)});
      tg.records.push_back(std::move(rec));
      metrics().lateness.observe(static_cast<double>(std::max<int64_t>(now - h.due_ms, 0)) /
                                 1000.0);
    }
    if (!dropped.empty()) {
      if (auto note = warn_limiter().allow()) {
        base::logger("delayed")->warn(
            "{} held record(s) dropped at their due time: their topic or partition is gone{}",
            dropped.size(), *note);
      }
      (void)finish(p, dropped, -1);
      metrics().dropped.add(dropped.size());
    }
    if (targets.empty()) continue;
    // Intents first, durable, naming each target's log end before the move.
    for (auto& [key, tg] : targets) {
      auto end = co_await broker_.data().log_end(who, tg.tp);
      tg.log_end = end.error ? -1 : end.offset;
    }
    storage::batch_builder intents(base::wall_ms());
    int64_t next = p.log->log_end_offset();
    for (auto& [key, tg] : targets) {
      if (tg.log_end < 0) continue;
      move_intent m;
      m.topic_id = key.first;
      m.partition = key.second;
      m.log_end_before = tg.log_end;
      m.held = tg.held;
      m.token = tg.token;
      tg.intent = next++;
      const auto k = encode_delayed_key({delayed_kind::intent, tg.intent});
      const auto v = encode_move_intent(m);
      intents.add(as_chars(k), as_chars(v));
      tg.plan = std::move(m);
    }
    std::error_code intent_error;
    if (intents.record_count() > 0) {
      auto a = p.log->append(intents.build());
      if (!a) {
        intent_error = to_broker_error(a.error());
      } else {
        auto log = p.log;
        const int64_t end = a->last_offset + 1;
        intent_error = co_await net::await_callback<std::error_code>(
            [&](auto done) { log->wait_durable(end, std::move(done)); });
      }
    }
    for (auto& [key, tg] : targets) {
      if (tg.intent < 0 || intent_error) {
        requeue(p, tg.held, base::wall_ms() + kRetryMs);
        continue;
      }
      std::error_code failed;
      size_t first = 0;
      while (first < tg.records.size() && !failed) {
        // Batches of about kMoveBatchBytes; a record larger than that goes alone.
        size_t last = first, size = 0;
        while (last < tg.records.size()) {
          const auto& r = tg.records[last];
          size_t one = (r.key ? r.key->size() : 0) + (r.value ? r.value->size() : 0) + 64;
          for (const auto& h : r.headers) one += h.key.size() + (h.value ? h.value->size() : 0);
          if (last > first && size + one > kMoveBatchBytes) break;
          size += one;
          ++last;
        }
        std::span<const record> chunk(tg.records.data() + first, last - first);
        const auto batch = build_batch(chunk, base::wall_ms());
        produce_options opts;
        opts.deliver_now = true;
        auto r = co_await broker_.data().produce(who, tg.tp, batch, opts);
        if (r.error) failed = r.error;
        first = last;
      }
      if (!failed) {
        (void)finish(p, tg.held, tg.intent);
        metrics().moved.add(tg.held.size());
        continue;
      }
      // What the topic can never take (its records too large for it now, a record its
      // compaction or timestamp rules refuse) is dropped rather than tried forever.
      const bool never = failed == errc::batch_too_large || failed == errc::invalid_record ||
                         failed == errc::invalid_timestamp || failed == errc::corrupt_batch;
      if (auto note = warn_limiter().allow()) {
        base::logger("delayed")->warn("moving {} held record(s) to {} failed ({}); {}{}",
                                      tg.held.size(), tg.tp.dir_name(), failed.message(),
                                      never ? "those not appended are dropped" : "retrying", *note);
      }
      move_intent m = tg.plan;
      std::vector<int64_t> missing;
      const int64_t at = tg.intent;
      auto ec = co_await resolve(p, at, m, &missing);
      if (ec) {
        // Whether some were appended is not known: their intent stays open, and they wait.
        for (int64_t o : tg.held) p.in_doubt.insert(o);
        p.intents[at] = std::move(m);
        p.next_resolve = base::wall_ms() + kRetryMs;
        requeue(p, tg.held, base::wall_ms() + kRetryMs);
      } else if (never) {
        (void)finish(p, missing, -1);
        metrics().dropped.add(missing.size());
      } else {
        requeue(p, missing, base::wall_ms() + kRetryMs);
      }
    }
  }
}

net::task<std::error_code> delay_store::resolve(part& p, int64_t intent_offset, move_intent m,
                                                std::vector<int64_t>* missing) {
  const auto& who = request_identity::internal();
  std::shared_ptr<const topic_metadata> topic;
  for (const auto& [name, t] : broker_.metadata()->topics) {
    if (t->id == m.topic_id) topic = t;
  }
  if (!topic || m.partition >= topic->partitions) {
    // The target is gone: so are the records it would have had.
    (void)finish(p, m.held, intent_offset);
    metrics().dropped.add(m.held.size());
    co_return std::error_code{};
  }
  std::unordered_map<std::string, int64_t> ids;
  for (int64_t o : m.held) ids.emplace(delayed_id(p.partition, o, m.token), o);
  std::vector<int64_t> done;
  int64_t offset = std::max<int64_t>(m.log_end_before, 0);
  const topic_partition tp{topic->name, m.partition};
  while (!ids.empty()) {
    std::vector<read_plan::part> parts{{tp, offset, 1u << 20}};
    const auto plan = broker_.data().plan_read(who, std::move(parts));
    auto reads = co_await broker_.data().read(who, plan, 1u << 20);
    auto& r = reads[0];
    if (r.error == errc::offset_out_of_range && offset < r.log_start_offset) {
      offset = r.log_start_offset;
      continue;
    }
    if (r.error) co_return r.error;
    if (r.records.empty()) break;
    auto bytes = r.records.linearize();
    if (!bytes) co_return to_broker_error(bytes.error());
    auto decoded = decode_records(*bytes, offset, SIZE_MAX);
    if (!decoded) co_return decoded.error();
    for (const auto& rec : decoded->records) {
      for (const auto& h : rec.headers) {
        if (h.key != delayed_id_header || !h.value) continue;
        if (auto it = ids.find(*h.value); it != ids.end()) {
          done.push_back(it->second);
          ids.erase(it);
        }
      }
    }
    if (decoded->next_offset <= offset) break;
    offset = decoded->next_offset;
    if (offset >= r.high_watermark) break;
  }
  if (!ids.empty()) {
    // Appended but not yet readable (a failed durable wait): not known yet.
    auto end = co_await broker_.data().log_end(who, tp);
    if (end.error) co_return end.error;
    if (end.offset > offset) co_return errc::temporarily_unavailable;
  }
  if (missing) {
    for (const auto& [id, o] : ids) missing->push_back(o);
  }
  (void)finish(p, done, intent_offset);
  metrics().moved.add(done.size());
  co_return std::error_code{};
}

}  // namespace broker
