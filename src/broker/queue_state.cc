#include "broker/queue_state.h"

#include <algorithm>
#include <random>

#include "broker/byte_codec.h"

namespace broker {
namespace {

using namespace byte_codec;  // NOLINT(build/namespaces)

// Key versions of the offsets topic: 0-2 are Kafka's (offsets, group metadata), 1 is
// ours for offsets; queues use their own.
constexpr uint8_t kQueueDefinitionKey = 0x51;
constexpr uint8_t kQueuePartitionKey = 0x52;
constexpr uint8_t kValueVersion = 1;
// Partition snapshots since they keep each record's timestamp; version 1 ones still read.
constexpr uint8_t kPartitionVersion = 2;
// Kept of a worker's error text: bounds a snapshot (with max_in_flight and the worker
// names) within one batch of the offsets topic.
constexpr size_t kMaxError = 128;

}  // namespace

std::string_view settle_error_name(settle_error e) {
  switch (e) {
    case settle_error::none:
      return "none";
    case settle_error::not_delivered:
      return "not_delivered";
    case settle_error::not_leased:
      return "not_leased";
    case settle_error::other_worker:
      return "other_worker";
    case settle_error::lease_expired:
      return "lease_expired";
  }
  return "unknown";
}

int64_t retry_delay_ms(const queue_definition& q, int32_t deliveries) {
  switch (q.backoff) {
    case queue_backoff::none:
      return 0;
    case queue_backoff::fixed:
      return q.backoff_ms;
    case queue_backoff::exponential: {
      int64_t d = q.backoff_ms;
      for (int32_t i = 1; i < deliveries && d < q.backoff_max_ms; ++i) d *= 2;
      d = std::min(d, q.backoff_max_ms);
      static thread_local std::minstd_rand rng{std::random_device{}()};
      return d / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(d / 2 + 1));
    }
  }
  return 0;
}

uint64_t queue_partition::expire(int64_t now, const queue_definition& q) {
  uint64_t expired = 0;
  for (auto& [offset, d] : tracked) {
    if (d.state != delivery_state::leased || d.until_ms > now) continue;
    ++expired;
    if (d.deliveries >= q.max_deliveries) {
      if (d.last_error.empty()) d.last_error = "lease expired";
      d.state = delivery_state::dead_pending;
      d.until_ms = now;
    } else {
      d.state = delivery_state::available;
      d.until_ms = d.until_ms + retry_delay_ms(q, d.deliveries);
    }
  }
  return expired;
}

std::vector<int64_t> queue_partition::dead_letters_due(int64_t now) const {
  std::vector<int64_t> out;
  for (const auto& [offset, d] : tracked) {
    if (d.state == delivery_state::dead_pending && d.until_ms <= now) out.push_back(offset);
  }
  return out;
}

bool queue_partition::due(int64_t offset, int64_t now) const {
  auto it = tracked.find(offset);
  return it != tracked.end() && it->second.state == delivery_state::available &&
         it->second.until_ms <= now;
}

bool queue_partition::full(const queue_definition& q) const {
  return tracked.size() >= static_cast<size_t>(std::max(1, q.max_in_flight));
}

void queue_partition::track(int64_t offset, bool has_key, uint32_t key_hash) {
  auto& d = tracked[offset];
  d.has_key = has_key;
  d.key_hash = key_hash;
  next = std::max(next, offset + 1);
}

void queue_partition::lease(int64_t offset, bool has_key, uint32_t key_hash,
                            const std::string& consumer, int64_t now, const queue_definition& q) {
  auto& d = tracked[offset];
  d.state = delivery_state::leased;
  d.deliveries += 1;
  d.until_ms = now + q.visibility_timeout_ms;
  d.has_key = has_key;
  d.key_hash = key_hash;
  d.consumer = consumer;
  next = std::max(next, offset + 1);
}

settle_error queue_partition::settle(int64_t offset, const std::string& consumer,
                                     settle_action action, int64_t now, int64_t ms,
                                     const std::string& error, const queue_definition& q,
                                     bool* to_dead_letter) {
  *to_dead_letter = false;
  auto it = tracked.find(offset);
  if (it == tracked.end()) return settle_error::not_delivered;
  auto& d = it->second;
  if (d.state != delivery_state::leased) {
    return d.consumer == consumer && d.state == delivery_state::available
               ? settle_error::lease_expired
               : settle_error::not_leased;
  }
  if (d.consumer != consumer) return settle_error::other_worker;
  if (d.until_ms <= now) return settle_error::lease_expired;
  if (!error.empty()) d.last_error = error.substr(0, kMaxError);
  switch (action) {
    case settle_action::ack:
      d.state = delivery_state::acked;
      break;
    case settle_action::extend:
      d.until_ms = now + (ms > 0 ? ms : q.visibility_timeout_ms);
      break;
    case settle_action::nack:
      if (d.deliveries >= q.max_deliveries) {
        if (d.last_error.empty()) d.last_error = "nacked";
        d.state = delivery_state::dead_pending;
        d.until_ms = now;
        *to_dead_letter = true;
      } else {
        d.state = delivery_state::available;
        d.until_ms = now + (ms > 0 ? ms : retry_delay_ms(q, d.deliveries));
      }
      break;
    case settle_action::reject:
      if (d.last_error.empty()) d.last_error = "rejected";
      d.state = delivery_state::dead_pending;
      d.until_ms = now;
      *to_dead_letter = true;
      break;
  }
  return settle_error::none;
}

void queue_partition::dead(int64_t offset) {
  auto it = tracked.find(offset);
  if (it == tracked.end() || it->second.state != delivery_state::dead_pending) return;
  it->second.state = delivery_state::dead;
  it->second.until_ms = 0;
}

void queue_partition::dead_letter_failed(int64_t offset, int64_t retry_at) {
  auto it = tracked.find(offset);
  if (it != tracked.end() && it->second.state == delivery_state::dead_pending) {
    it->second.until_ms = retry_at;
  }
}

void queue_partition::advance(int64_t log_start) {
  if (log_start > start) {
    start = log_start;
    next = std::max(next, start);
    tracked.erase(tracked.begin(), tracked.lower_bound(start));
  }
  while (!tracked.empty() && tracked.begin()->second.finished()) {
    tracked.erase(tracked.begin());
  }
  start = tracked.empty() ? next : tracked.begin()->first;
}

queue_partition::counts queue_partition::count(int64_t now) const {
  counts c;
  for (const auto& [offset, d] : tracked) {
    if (d.state == delivery_state::available) {
      ++c.available;
      if (d.until_ms > now) ++c.delayed;
    } else if (d.state == delivery_state::leased) {
      ++c.leased;
      if (c.oldest_leased_ms < 0 || d.until_ms < c.oldest_leased_ms)
        c.oldest_leased_ms = d.until_ms;
    }
    if (!d.finished() && d.deliveries > 0 && d.timestamp_ms >= 0 &&
        (c.oldest_unfinished_ms < 0 || d.timestamp_ms < c.oldest_unfinished_ms)) {
      c.oldest_unfinished_ms = d.timestamp_ms;
    }
  }
  return c;
}

// ---- records in the offsets topic ----

std::vector<uint8_t> encode_queue_key(const queue_record_key& k) {
  std::vector<uint8_t> out;
  out.push_back(k.partition ? kQueuePartitionKey : kQueueDefinitionKey);
  put_string(out, k.queue);
  if (k.partition) {
    put_string(out, k.partition->first);
    put(out, static_cast<uint32_t>(k.partition->second), 4);
  }
  return out;
}

std::optional<queue_record_key> decode_queue_key(std::span<const uint8_t> bytes) {
  cursor c(bytes);
  const auto kind = c.be(1);
  if (!c.ok() || (kind != kQueueDefinitionKey && kind != kQueuePartitionKey)) return std::nullopt;
  queue_record_key k;
  k.queue = c.str(c.be(2));
  if (kind == kQueuePartitionKey) {
    std::string topic = c.str(c.be(2));
    k.partition.emplace(std::move(topic), static_cast<int32_t>(c.be(4)));
  }
  if (!c.done()) return std::nullopt;
  return k;
}

std::vector<uint8_t> encode_queue_definition(const queue_definition& q) {
  std::vector<uint8_t> out;
  out.push_back(kValueVersion);
  put_string(out, q.name);
  put_string(out, q.topic);
  put_string(out, q.dead_letter_topic);
  put(out, static_cast<uint64_t>(q.visibility_timeout_ms), 8);
  put(out, static_cast<uint32_t>(q.max_deliveries), 4);
  put(out, static_cast<uint32_t>(q.max_in_flight), 4);
  put(out, static_cast<uint8_t>(q.ordering), 1);
  put(out, q.from_earliest ? 1 : 0, 1);
  put(out, static_cast<uint8_t>(q.backoff), 1);
  put(out, static_cast<uint64_t>(q.backoff_ms), 8);
  put(out, static_cast<uint64_t>(q.backoff_max_ms), 8);
  put(out, static_cast<uint64_t>(q.created_ms), 8);
  for (uint8_t b : q.topic_id) put(out, b, 1);
  // Since the webhook: an optional section after the rest.
  if (q.webhook) {
    const auto& w = *q.webhook;
    put(out, 1, 1);
    put_string(out, w.url);
    put_string(out, w.secret);
    put(out, static_cast<uint32_t>(w.batch_size), 4);
    put(out, static_cast<uint32_t>(w.concurrency), 4);
    put(out, static_cast<uint64_t>(w.timeout_ms), 8);
    put(out, static_cast<uint32_t>(w.breaker_failures), 4);
    put(out, static_cast<uint64_t>(w.breaker_open_ms), 8);
    put(out, w.format, 1);
  }
  return out;
}

std::optional<queue_definition> decode_queue_definition(std::span<const uint8_t> bytes) {
  cursor c(bytes);
  if (c.be(1) != kValueVersion) return std::nullopt;
  queue_definition q;
  q.name = c.str(c.be(2));
  q.topic = c.str(c.be(2));
  q.dead_letter_topic = c.str(c.be(2));
  q.visibility_timeout_ms = static_cast<int64_t>(c.be(8));
  q.max_deliveries = static_cast<int32_t>(c.be(4));
  q.max_in_flight = static_cast<int32_t>(c.be(4));
  const auto ordering = c.be(1);
  q.from_earliest = c.be(1) != 0;
  const auto backoff = c.be(1);
  q.backoff_ms = static_cast<int64_t>(c.be(8));
  q.backoff_max_ms = static_cast<int64_t>(c.be(8));
  q.created_ms = static_cast<int64_t>(c.be(8));
  for (auto& b : q.topic_id) b = static_cast<uint8_t>(c.be(1));
  if (c.ok() && !c.done() && c.be(1) == 1) {
    queue_webhook w;
    w.url = c.str(c.be(2));
    w.secret = c.str(c.be(2));
    w.batch_size = static_cast<int32_t>(c.be(4));
    w.concurrency = static_cast<int32_t>(c.be(4));
    w.timeout_ms = static_cast<int64_t>(c.be(8));
    w.breaker_failures = static_cast<int32_t>(c.be(4));
    w.breaker_open_ms = static_cast<int64_t>(c.be(8));
    w.format = static_cast<uint8_t>(c.be(1));
    if (w.batch_size < 1 || w.concurrency < 1 || w.timeout_ms < 1 || w.breaker_failures < 1 ||
        w.breaker_open_ms < 0 || w.format > 2) {
      return std::nullopt;
    }
    q.webhook = std::move(w);
  }
  if (!c.done() || ordering > 1 || backoff > 2 || q.max_deliveries < 1 || q.max_in_flight < 1 ||
      q.visibility_timeout_ms < 1 || q.backoff_ms < 0 || q.backoff_max_ms < q.backoff_ms) {
    return std::nullopt;
  }
  q.ordering = static_cast<queue_ordering>(ordering);
  q.backoff = static_cast<queue_backoff>(backoff);
  return q;
}

std::vector<uint8_t> encode_queue_partition(const queue_partition& p) {
  std::vector<uint8_t> out;
  out.push_back(kPartitionVersion);
  put(out, static_cast<uint64_t>(p.start), 8);
  put(out, static_cast<uint64_t>(p.next), 8);
  put(out, static_cast<uint32_t>(p.tracked.size()), 4);
  for (const auto& [offset, d] : p.tracked) {
    put(out, static_cast<uint64_t>(offset), 8);
    put(out, static_cast<uint8_t>(d.state), 1);
    put(out, static_cast<uint32_t>(d.deliveries), 4);
    put(out, static_cast<uint64_t>(d.until_ms), 8);
    put(out, d.has_key ? 1 : 0, 1);
    put(out, d.key_hash, 4);
    put_string(out, d.consumer);
    put_string(out, d.last_error);
    put(out, static_cast<uint64_t>(d.timestamp_ms), 8);
  }
  return out;
}

std::optional<queue_partition> decode_queue_partition(std::span<const uint8_t> bytes) {
  cursor c(bytes);
  const auto version = c.be(1);
  if (version != kValueVersion && version != kPartitionVersion) return std::nullopt;
  queue_partition p;
  p.start = static_cast<int64_t>(c.be(8));
  p.next = static_cast<int64_t>(c.be(8));
  const auto n = c.be(4);
  for (uint64_t i = 0; i < n && c.ok(); ++i) {
    const auto offset = static_cast<int64_t>(c.be(8));
    delivery d;
    const auto state = c.be(1);
    d.deliveries = static_cast<int32_t>(c.be(4));
    d.until_ms = static_cast<int64_t>(c.be(8));
    d.has_key = c.be(1) != 0;
    d.key_hash = static_cast<uint32_t>(c.be(4));
    d.consumer = c.str(c.be(2));
    d.last_error = c.str(c.be(2));
    if (version == kPartitionVersion) d.timestamp_ms = static_cast<int64_t>(c.be(8));
    if (state > 4 || offset < p.start || offset >= p.next) return std::nullopt;
    d.state = static_cast<delivery_state>(state);
    p.tracked.emplace(offset, std::move(d));
  }
  if (!c.done() || p.tracked.size() != n || p.next < p.start) return std::nullopt;
  return p;
}

}  // namespace broker
