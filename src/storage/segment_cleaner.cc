#include "storage/segment_cleaner.h"

#include <algorithm>
#include <cstring>

#include "storage/cleaned_files.h"
#include "storage/compression.h"
#include "storage/errc.h"
#include "storage/record_batch.h"

namespace storage {
namespace {

constexpr size_t kChunk = 1 << 20;

// Whole, CRC-checked batches of one segment file in order, read a chunk at a time and
// paced by the throttle.
class batch_reader {
 public:
  batch_reader(const base::file& f, uint64_t size, uint64_t from, io_throttle& throttle,
               const std::atomic<bool>& cancel, uint64_t& bytes_read)
      : f_(f),
        size_(size),
        pos_(from),
        throttle_(throttle),
        cancel_(cancel),
        bytes_read_(bytes_read) {}

  // The next batch (empty at the end of the segment).
  base::result<std::span<const uint8_t>> next() {
    if (pos_ >= size_) return std::span<const uint8_t>{};
    auto hb = get(pos_, batch_header_size);
    if (!hb) return hb.error();
    const auto h = decode_header(*hb);
    RIPTIDE_TRY(check_header(h, size_ - pos_));
    auto whole = get(pos_, h.size_bytes());
    if (!whole) return whole.error();
    if (compute_batch_crc(*whole) != h.crc) return errc::corrupt_batch;
    pos_ += h.size_bytes();
    return *whole;
  }

 private:
  base::result<std::span<const uint8_t>> get(uint64_t pos, size_t n) {
    if (pos < start_ || pos + n > start_ + len_) {
      buf_.resize(std::max(kChunk, n));
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf_.size(), size_ - pos));
      auto got = f_.pread(buf_.data(), want, pos);
      if (!got) return got.error();
      if (*got < n) return errc::invalid_batch;
      start_ = pos;
      len_ = *got;
      bytes_read_ += *got;
      throttle_.consume(*got, &cancel_);
    }
    return std::span<const uint8_t>(buf_.data() + (pos - start_), n);
  }

  const base::file& f_;
  uint64_t size_;
  uint64_t pos_;
  io_throttle& throttle_;
  const std::atomic<bool>& cancel_;
  uint64_t& bytes_read_;
  std::vector<uint8_t> buf_;
  uint64_t start_ = 0;
  size_t len_ = 0;
};

// Buffered appends to a new file, paced by the throttle.
class file_writer {
 public:
  file_writer(base::file& f, io_throttle& throttle, const std::atomic<bool>& cancel,
              uint64_t& bytes_written)
      : f_(f), throttle_(throttle), cancel_(cancel), bytes_written_(bytes_written) {}

  base::status append(std::span<const uint8_t> bytes) {
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    size_ += bytes.size();
    if (buf_.size() >= kChunk) return flush();
    return {};
  }
  base::status flush() {
    if (buf_.empty()) return {};
    RIPTIDE_TRY(f_.pwrite_all(buf_, written_));
    written_ += buf_.size();
    bytes_written_ += buf_.size();
    throttle_.consume(buf_.size(), &cancel_);
    buf_.clear();
    return {};
  }
  uint64_t size() const { return size_; }

 private:
  base::file& f_;
  io_throttle& throttle_;
  const std::atomic<bool>& cancel_;
  uint64_t& bytes_written_;
  std::vector<uint8_t> buf_;
  uint64_t written_ = 0;
  uint64_t size_ = 0;
};

// A batch with the header of `original` and `records` (raw, uncompressed) as its body,
// compressed with `codec`.
base::result<std::vector<uint8_t>> rebuild_batch(std::span<const uint8_t> original,
                                                 std::span<const uint8_t> records, int32_t count,
                                                 int64_t max_timestamp, compression codec,
                                                 int level, std::vector<uint8_t>& packed) {
  std::span<const uint8_t> body = records;
  if (codec != compression::none && count > 0) {
    RIPTIDE_TRY(compress(codec, records, packed, level));
    body = packed;
  }
  std::vector<uint8_t> b(batch_header_size + body.size());
  std::memcpy(b.data(), original.data(), batch_header_size);
  if (!body.empty()) std::memcpy(b.data() + batch_header_size, body.data(), body.size());
  uint8_t* p = b.data();
  put_i32(p + batch_length_offset, static_cast<int32_t>(b.size() - batch_length_overhead));
  if (count == 0) {
    // An empty batch carries no records to compress (as Kafka writes them).
    const auto attrs = static_cast<uint16_t>(get_i16(p + 21) & ~0x7);
    p[21] = static_cast<uint8_t>(attrs >> 8);
    p[22] = static_cast<uint8_t>(attrs);
  }
  put_i64(p + 35, max_timestamp);
  put_i32(p + 57, count);
  put_i32(p + batch_crc_offset, static_cast<int32_t>(compute_batch_crc(b)));
  return b;
}

}  // namespace

base::status segment_cleaner::build_map(const cleaning_plan& plan, int64_t& map_end,
                                        cleaning_stats& stats) {
  map_.clear();
  map_end = plan.segments.empty() ? plan.dirty_from : plan.segments.back().next_offset;
  for (const auto& s : plan.segments) {
    if (s.next_offset <= plan.dirty_from) continue;
    const uint64_t from = s.base_offset <= plan.dirty_from ? plan.dirty_position : 0;
    auto f = base::file::open(s.path, base::file::mode::read_only);
    if (!f) return f.error();
    batch_reader reader(**f, s.size, from, throttle_, cancel_, stats.bytes_read);
    for (;;) {
      if (cancelled()) return {};
      auto batch = reader.next();
      if (!batch) return batch.error();
      if (batch->empty()) break;
      const auto h = decode_header(*batch);
      if (h.next_offset() <= plan.dirty_from || h.control()) continue;
      bool full = false;
      auto st = for_each_record(
          *batch,
          [&](const record_view& r) {
            if (r.offset < plan.dirty_from || !r.key) return true;
            if (!map_.put(hash_key(*r.key), r.offset)) {
              full = true;
              map_end = r.offset;
              return false;
            }
            return true;
          },
          scratch_);
      if (!st) return st.error();
      if (full) {
        stats.map_full = true;
        stats.map_entries = map_.size();
        return {};
      }
    }
  }
  stats.map_entries = map_.size();
  return {};
}

base::status segment_cleaner::write_group(const cleaning_plan& plan, const group& g,
                                          int64_t map_end, const cleaner_checkpoint& next,
                                          std::vector<int64_t>& tombstones, segment_index& index,
                                          uint64_t& size, int64_t& end, bool& changed,
                                          cleaning_stats& stats) {
  const int64_t base = plan.segments[g.first].base_offset;
  const int64_t group_end = plan.segments[g.last].next_offset;
  remove_cleaned(plan.dir, base);
  auto out = base::file::open(segment_file(plan.dir, base, ".log", cleaned_suffix),
                              base::file::mode::create_read_write);
  if (!out) return out.error();
  file_writer writer(**out, throttle_, cancel_, stats.bytes_written);
  changed = g.first != g.last;
  end = base;
  for (size_t i = g.first; i <= g.last; ++i) {
    const auto& s = plan.segments[i];
    auto f = base::file::open(s.path, base::file::mode::read_only);
    if (!f) return f.error();
    batch_reader reader(**f, s.size, 0, throttle_, cancel_, stats.bytes_read);
    for (;;) {
      if (cancelled()) return {};
      auto batch = reader.next();
      if (!batch) return batch.error();
      if (batch->empty()) break;
      const auto h = decode_header(*batch);
      std::span<const uint8_t> keep = *batch;
      std::vector<uint8_t> rebuilt;
      if (!h.control()) {
        kept_.clear();
        int32_t kept = 0;
        int64_t max_ts = -1;
        auto st = for_each_record(
            *batch,
            [&](const record_view& r) {
              bool retain = r.key.has_value();
              if (retain) {
                auto latest = map_.get(hash_key(*r.key));
                retain = !latest || r.offset >= *latest;
              }
              if (retain && !r.value) {
                if (r.offset < plan.tombstone_horizon) {
                  retain = false;
                  ++stats.tombstones_removed;
                } else if (r.offset < map_end) {
                  ++tombstones[next.range_of(r.offset)];
                }
              }
              if (retain) {
                kept_.insert(kept_.end(), r.bytes.begin(), r.bytes.end());
                max_ts = std::max(max_ts, r.timestamp);
                ++kept;
              }
              return true;
            },
            scratch_);
        if (!st) return st.error();
        stats.records_removed += static_cast<uint64_t>(h.record_count - kept);
        auto last = plan.producer_last_batch.find(h.producer_id);
        const bool producer_last = h.producer_id >= 0 && last != plan.producer_last_batch.end() &&
                                   last->second == h.base_offset;
        if (kept == 0 && !producer_last && h.next_offset() != group_end) {
          changed = true;  // dropped (also an empty batch left by an earlier round)
          continue;
        }
        if (kept != h.record_count) {
          changed = true;
          if (h.log_append_time() || kept == 0) max_ts = h.max_timestamp;
          int level = default_compression_level;
          if (h.codec() == compression::gzip) level = plan.gzip_level;
          if (h.codec() == compression::lz4) level = plan.lz4_level;
          if (h.codec() == compression::zstd) level = plan.zstd_level;
          auto b = rebuild_batch(*batch, kept_, kept, max_ts, h.codec(), level, packed_);
          if (!b) return b.error();
          rebuilt = std::move(*b);
          keep = rebuilt;
        }
      }
      index.on_batch(static_cast<uint32_t>(h.base_offset - base),
                     static_cast<uint32_t>(writer.size()), static_cast<uint32_t>(keep.size()),
                     decode_header(keep).max_timestamp, plan.index_interval_bytes);
      RIPTIDE_TRY(writer.append(keep));
      end = h.next_offset();
    }
  }
  RIPTIDE_TRY(writer.flush());
  RIPTIDE_TRY((*out)->datasync());
  size = writer.size();
  index.seal();
  for (auto [ext, bytes] : {std::pair{".index", index.encode_offsets()},
                            std::pair{".timeindex", index.encode_times()}}) {
    auto f = base::file::open(segment_file(plan.dir, base, ext, cleaned_suffix),
                              base::file::mode::create_read_write);
    if (!f) return f.error();
    RIPTIDE_TRY((*f)->pwrite_all(bytes, 0));
    RIPTIDE_TRY((*f)->datasync());
  }
  if (end != group_end) return errc::invalid_batch;  // a source did not reach its end
  return {};
}

base::result<cleaning_result> segment_cleaner::clean(const cleaning_plan& plan,
                                                     const swapped_fn& swapped) {
  cleaning_result result;
  result.checkpoint = plan.checkpoint;
  auto& stats = result.stats;
  int64_t map_end = plan.dirty_from;
  RIPTIDE_TRY(build_map(plan, map_end, stats));
  if (cancelled()) {
    stats.cancelled = true;
    return result;
  }

  // Groups of the segments below map_end.
  std::vector<group> groups;
  const uint64_t max_index_entries = plan.segment_index_bytes / 8;
  for (size_t i = 0; i < plan.segments.size() && plan.segments[i].base_offset < map_end; ++i) {
    const auto& s = plan.segments[i];
    if (!groups.empty()) {
      auto& g = groups.back();
      uint64_t bytes = 0, entries = 0;
      for (size_t k = g.first; k <= g.last; ++k) {
        bytes += plan.segments[k].size;
        entries += plan.segments[k].index_entries;
      }
      const int64_t base = plan.segments[g.first].base_offset;
      if (bytes + s.size <= plan.segment_bytes && entries + s.index_entries <= max_index_entries &&
          s.next_offset - base <= INT32_MAX) {
        g.last = i;
        continue;
      }
    }
    groups.push_back({i, i});
  }
  if (groups.empty()) return result;

  cleaner_checkpoint next = plan.checkpoint;
  next.add_round(map_end, plan.now_ms);
  std::vector<int64_t> tombstones(next.ranges.size() + 1, 0);
  const int64_t rewrite_end = plan.segments[groups.back().last].next_offset;
  bool limit_written = plan.checkpoint.rewritten_below >= rewrite_end;
  for (const auto& g : groups) {
    const int64_t base = plan.segments[g.first].base_offset;
    segment_index index;
    uint64_t size = 0;
    int64_t end = base;
    bool changed = false;
    auto st = write_group(plan, g, map_end, next, tombstones, index, size, end, changed, stats);
    if (!st || cancelled() || !changed) {
      remove_cleaned(plan.dir, base);
      if (!st) return st.error();
      if (cancelled()) {
        stats.cancelled = true;
        return result;
      }
      continue;
    }
    if (!limit_written) {
      // Before the first swap: recovery must accept the gaps the cleaner leaves.
      result.checkpoint.rewritten_below = rewrite_end;
      RIPTIDE_TRY(write_cleaner_checkpoint(plan.dir, result.checkpoint));
      limit_written = true;
    }
    RIPTIDE_TRY(commit_cleaned(plan.dir, base));
    std::vector<int64_t> replaced;
    for (size_t k = g.first; k <= g.last; ++k) replaced.push_back(plan.segments[k].base_offset);
    RIPTIDE_TRY(complete_swap(plan.dir, base, replaced));
    auto seg = segment::open_cleaned(plan.dir, base, std::move(index), size, end, plan.now_ms);
    if (!seg) return seg.error();
    stats.segments_replaced += replaced.size();
    ++stats.segments_written;
    swapped(std::move(*seg), end);
  }
  for (size_t i = 0; i < next.ranges.size(); ++i) next.ranges[i].tombstones = tombstones[i];
  next.rewritten_below = std::max(next.rewritten_below, result.checkpoint.rewritten_below);
  RIPTIDE_TRY(write_cleaner_checkpoint(plan.dir, next));
  result.checkpoint = std::move(next);
  return result;
}

}  // namespace storage
