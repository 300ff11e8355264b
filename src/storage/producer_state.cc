#include "storage/producer_state.h"

#include <cstring>

#include "base/crc32c.h"

namespace storage {
namespace {

constexpr uint32_t kMagic = 0x52505331;  // "RPS1"

int32_t next_sequence(int32_t seq) {
  return seq == INT32_MAX ? 0 : seq + 1;
}

void put_u8(std::vector<uint8_t>& out, uint8_t v) {
  out.push_back(v);
}
void put_be(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

class cursor {
 public:
  explicit cursor(std::span<const uint8_t> b) : b_(b) {}
  bool ok() const { return ok_; }
  size_t left() const { return b_.size() - pos_; }
  uint64_t be(int bytes) {
    if (!ok_ || left() < static_cast<size_t>(bytes)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | b_[pos_++];
    return v;
  }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace

int32_t last_sequence(int32_t base_sequence, int64_t record_count) {
  const int64_t last = static_cast<int64_t>(base_sequence) + record_count - 1;
  return static_cast<int32_t>(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

const producer_entry* producer_state::find(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? nullptr : &it->second;
}

std::unordered_map<int64_t, int64_t> producer_state::last_batch_offsets() const {
  std::unordered_map<int64_t, int64_t> out;
  for (const auto& [id, e] : producers_) {
    if (!e.batches.empty()) out[id] = e.batches.back().first_offset;
  }
  return out;
}

base::result<std::optional<producer_batch>> producer_state::check(const batch_header& h) const {
  using none = std::optional<producer_batch>;
  auto it = producers_.find(h.producer_id);
  // A producer this partition has no state for (new, or expired) may start anywhere.
  if (it == producers_.end()) return none{};
  const producer_entry& e = it->second;
  if (h.producer_epoch < e.epoch) return errc::invalid_producer_epoch;
  if (h.producer_epoch > e.epoch) {
    if (h.base_sequence != 0) return errc::out_of_order_sequence;
    return none{};
  }
  const int32_t last = last_sequence(h.base_sequence, h.record_count);
  for (const auto& b : e.batches) {
    if (b.first_seq == h.base_sequence && b.last_seq == last) return std::optional(b);
  }
  if (e.batches.empty()) return none{};
  if (h.base_sequence != next_sequence(e.batches.back().last_seq)) {
    return errc::out_of_order_sequence;
  }
  return none{};
}

void producer_state::record(const batch_header& h, int64_t now_ms) {
  auto& e = producers_[h.producer_id];
  if (h.producer_epoch != e.epoch) {
    e.epoch = h.producer_epoch;
    e.batches.clear();
  }
  // From lastOffsetDelta, not the record count: compaction may leave a batch with fewer
  // records (or none) that still spans its sequences.
  e.batches.push_back({h.base_sequence,
                       last_sequence(h.base_sequence, int64_t{h.last_offset_delta} + 1),
                       h.base_offset, h.last_offset()});
  while (e.batches.size() > producer_batches_kept) e.batches.pop_front();
  e.last_write_ms = std::max(e.last_write_ms, now_ms);
}

void producer_state::touch_all(int64_t now_ms) {
  for (auto& [id, e] : producers_) e.last_write_ms = std::max(e.last_write_ms, now_ms);
}

size_t producer_state::expire(int64_t now_ms, int64_t max_age_ms) {
  return std::erase_if(
      producers_, [&](const auto& kv) { return now_ms - kv.second.last_write_ms > max_age_ms; });
}

std::vector<uint8_t> producer_state::serialize(int64_t offset) const {
  std::vector<uint8_t> out;
  put_be(out, kMagic, 4);
  put_be(out, static_cast<uint64_t>(offset), 8);
  put_be(out, producers_.size(), 4);
  for (const auto& [id, e] : producers_) {
    put_be(out, static_cast<uint64_t>(id), 8);
    put_be(out, static_cast<uint16_t>(e.epoch), 2);
    put_be(out, static_cast<uint64_t>(e.last_write_ms), 8);
    put_u8(out, static_cast<uint8_t>(e.batches.size()));
    for (const auto& b : e.batches) {
      put_be(out, static_cast<uint32_t>(b.first_seq), 4);
      put_be(out, static_cast<uint32_t>(b.last_seq), 4);
      put_be(out, static_cast<uint64_t>(b.first_offset), 8);
      put_be(out, static_cast<uint64_t>(b.last_offset), 8);
    }
  }
  put_be(out, base::crc32c(out), 4);
  return out;
}

base::result<producer_state::loaded> producer_state::parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < 20) return errc::invalid_batch;
  const auto body = bytes.first(bytes.size() - 4);
  cursor tail(bytes.subspan(bytes.size() - 4));
  if (static_cast<uint32_t>(tail.be(4)) != base::crc32c(body)) return errc::corrupt_batch;
  cursor c(body);
  if (c.be(4) != kMagic) return errc::invalid_batch;
  loaded out{static_cast<int64_t>(c.be(8)), {}};
  const uint64_t count = c.be(4);
  for (uint64_t i = 0; i < count && c.ok(); ++i) {
    const auto id = static_cast<int64_t>(c.be(8));
    producer_entry e;
    e.epoch = static_cast<int16_t>(c.be(2));
    e.last_write_ms = static_cast<int64_t>(c.be(8));
    const auto n = c.be(1);
    if (n > producer_batches_kept) return errc::invalid_batch;
    for (uint64_t j = 0; j < n && c.ok(); ++j) {
      producer_batch b;
      b.first_seq = static_cast<int32_t>(c.be(4));
      b.last_seq = static_cast<int32_t>(c.be(4));
      b.first_offset = static_cast<int64_t>(c.be(8));
      b.last_offset = static_cast<int64_t>(c.be(8));
      e.batches.push_back(b);
    }
    out.state.producers_[id] = std::move(e);
  }
  if (!c.ok() || c.left() != 0 || out.offset < 0) return errc::invalid_batch;
  return out;
}

}  // namespace storage
