#include "storage/segment_index.h"

#include <algorithm>

#include "storage/record_batch.h"

namespace storage {

void segment_index::on_batch(uint32_t relative_offset, uint32_t position, uint32_t size,
                             int64_t max_timestamp, uint32_t interval_bytes) {
  if (max_timestamp > max_timestamp_) {
    max_timestamp_ = max_timestamp;
    max_timestamp_rel_ = relative_offset;
  }
  if (pending_entry_ || bytes_since_entry_ >= interval_bytes) {
    offsets_.push_back({relative_offset, position});
    if (times_.empty() || max_timestamp_ > times_.back().timestamp) {
      times_.push_back({max_timestamp_, max_timestamp_rel_});
    }
    bytes_since_entry_ = 0;
    pending_entry_ = false;
  }
  bytes_since_entry_ += size;
}

void segment_index::seal() {
  if (max_timestamp_ >= 0 && (times_.empty() || max_timestamp_ > times_.back().timestamp)) {
    times_.push_back({max_timestamp_, max_timestamp_rel_});
  }
}

void segment_index::clear() {
  *this = segment_index{};
}

std::optional<offset_entry> segment_index::pop_last() {
  if (offsets_.empty()) return std::nullopt;
  auto e = offsets_.back();
  offsets_.pop_back();
  pending_entry_ = true;
  bytes_since_entry_ = 0;
  return e;
}

offset_entry segment_index::floor_by_offset(uint32_t relative_offset) const {
  auto it =
      std::upper_bound(offsets_.begin(), offsets_.end(), relative_offset,
                       [](uint32_t v, const offset_entry& e) { return v < e.relative_offset; });
  if (it == offsets_.begin()) return {0, 0};
  return *std::prev(it);
}

offset_entry segment_index::floor_by_position(uint32_t position) const {
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), position,
                             [](uint32_t v, const offset_entry& e) { return v < e.position; });
  if (it == offsets_.begin()) return {0, 0};
  return *std::prev(it);
}

uint32_t segment_index::scan_start_for_timestamp(int64_t ts) const {
  // Entries before the first one reaching `ts` cannot hold it; start at the last of them.
  auto it = std::lower_bound(times_.begin(), times_.end(), ts,
                             [](const time_entry& e, int64_t v) { return e.timestamp < v; });
  if (it == times_.begin()) return 0;
  return std::prev(it)->relative_offset;
}

std::vector<uint8_t> segment_index::encode_offsets() const {
  std::vector<uint8_t> out(offsets_.size() * 8);
  for (size_t i = 0; i < offsets_.size(); ++i) {
    put_i32(&out[i * 8], static_cast<int32_t>(offsets_[i].relative_offset));
    put_i32(&out[i * 8 + 4], static_cast<int32_t>(offsets_[i].position));
  }
  return out;
}

std::vector<uint8_t> segment_index::encode_times() const {
  std::vector<uint8_t> out(times_.size() * 12);
  for (size_t i = 0; i < times_.size(); ++i) {
    put_i64(&out[i * 12], times_[i].timestamp);
    put_i32(&out[i * 12 + 8], static_cast<int32_t>(times_[i].relative_offset));
  }
  return out;
}

bool segment_index::load(std::span<const uint8_t> offsets, std::span<const uint8_t> times,
                         uint64_t log_size) {
  clear();
  if (offsets.size() % 8 != 0 || times.size() % 12 != 0) return false;
  for (size_t i = 0; i < offsets.size(); i += 8) {
    offset_entry e{static_cast<uint32_t>(get_i32(&offsets[i])),
                   static_cast<uint32_t>(get_i32(&offsets[i + 4]))};
    if (e.position >= log_size) return false;
    if (!offsets_.empty() && (e.relative_offset <= offsets_.back().relative_offset ||
                              e.position <= offsets_.back().position)) {
      return false;
    }
    // The first batch starts the file; after compaction its offset may follow the
    // segment's base offset.
    if (offsets_.empty() && e.position != 0) return false;
    offsets_.push_back(e);
  }
  for (size_t i = 0; i < times.size(); i += 12) {
    time_entry e{get_i64(&times[i]), static_cast<uint32_t>(get_i32(&times[i + 8]))};
    if (!times_.empty() && (e.timestamp <= times_.back().timestamp ||
                            e.relative_offset < times_.back().relative_offset)) {
      return false;
    }
    times_.push_back(e);
  }
  if (log_size > 0 && offsets_.empty()) return false;
  if (!times_.empty()) {
    max_timestamp_ = times_.back().timestamp;
    max_timestamp_rel_ = times_.back().relative_offset;
  }
  pending_entry_ = offsets_.empty();
  return true;
}

}  // namespace storage
