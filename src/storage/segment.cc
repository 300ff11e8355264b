#include "storage/segment.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

#include "base/crc32c.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "storage/errc.h"

namespace storage {
namespace {

// Buffered sequential reads for recovery scans: one pread per MiB, not per batch.
class chunk_reader {
 public:
  explicit chunk_reader(const base::file& f) : f_(f), buf_(kCapacity) {}
  static constexpr size_t kCapacity = 1 << 20;

  // Returns a view of [pos, pos + n); n <= kCapacity and the range must be in the file.
  base::result<std::span<const uint8_t>> get(uint64_t pos, size_t n) {
    if (pos < start_ || pos + n > start_ + len_) {
      auto got = f_.pread(buf_.data(), buf_.size(), pos);
      if (!got) return got.error();
      start_ = pos;
      len_ = *got;
      if (n > len_) return errc::invalid_batch;
    }
    return std::span<const uint8_t>(buf_.data() + (pos - start_), n);
  }

 private:
  const base::file& f_;
  std::vector<uint8_t> buf_;
  uint64_t start_ = 0;
  size_t len_ = 0;
};

std::atomic<uint64_t> g_next_id{1};

base::metrics::counter& open_failures() {
  static auto& c = base::metrics::registry::global().get_counter(
      "riptide_segment_file_open_errors_total",
      "Sealed segment files that could not be reopened for a read (the read failed)");
  return c;
}

}  // namespace

segment::segment(std::filesystem::path dir, int64_t base_offset, int64_t now_ms,
                 segment_file_cache* files)
    : dir_(std::move(dir)),
      base_offset_(base_offset),
      next_offset_(base_offset),
      id_(g_next_id.fetch_add(1, std::memory_order_relaxed)),
      cache_(files),
      created_ms_(now_ms) {}

segment::~segment() {
  if (held_) count_held_segment_files(-1);
}

base::status segment::set_held(std::shared_ptr<base::file> f) {
  auto id = f->id();
  if (!id) return id.error();
  identity_ = *id;
  if (!held_) count_held_segment_files(1);
  held_ = std::move(f);
  return {};
}

std::filesystem::path segment::log_path() const {
  return dir_ / (file_stem(base_offset_) + ".log");
}

base::result<std::shared_ptr<base::file>> segment::file() const {
  if (held_) return held_;
  if (cache_) {
    if (auto f = cache_->find(id_)) return f;
  }
  const auto path = log_path();
  auto f = base::file::open(path, base::file::mode::read_write);
  std::error_code ec;
  if (f) {
    if (auto id = (*f)->id(); !id) {
      ec = id.error();
    } else if (identity_ && *identity_ != *id) {
      ec = errc::temporarily_unavailable;  // replaced on disk; the shard has not caught up
    } else {
      identity_ = *id;
      if (cache_) cache_->insert(id_, *f);
      return *f;
    }
  } else {
    ec = f.error();
  }
  open_failures().add();
  static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
  if (auto note = limiter.allow()) {
    base::logger("storage")->warn(
        "cannot open segment file {}: {}; the read that needed it fails (clients retry it): "
        "{}{}",
        path.string(), ec.message(), open_error_fix(ec, dir_), *note);
  }
  return ec;
}

base::status segment::hold() {
  if (held_) return {};
  auto f = file();
  if (!f) return f.error();
  if (cache_) cache_->erase(id_);
  count_held_segment_files(1);
  held_ = std::move(*f);
  return {};
}

void segment::release_to(segment_file_cache* files) {
  if (files) cache_ = files;
  if (!cache_ || !held_) return;
  cache_->insert(id_, std::move(held_));
  held_.reset();
  count_held_segment_files(-1);
}

void segment::forget_file() {
  if (cache_) cache_->erase(id_);
}

base::status index_files::write() const {
  RIPTIDE_TRY(base::write_file_atomically(offsets_path, offsets));
  return base::write_file_atomically(times_path, times);
}

std::string segment::file_stem(int64_t base_offset) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(base_offset));
  return buf;
}

std::filesystem::path segment::offsets_path() const {
  return dir_ / (file_stem(base_offset_) + ".index");
}
std::filesystem::path segment::times_path() const {
  return dir_ / (file_stem(base_offset_) + ".timeindex");
}

base::result<std::unique_ptr<segment>> segment::create(const std::filesystem::path& dir,
                                                       int64_t base_offset, int64_t now_ms,
                                                       segment_file_cache* files) {
  auto path = dir / (file_stem(base_offset) + ".log");
  auto f = base::file::open(path, base::file::mode::create_read_write);
  if (!f) return f.error();
  auto size = (*f)->size();
  if (!size) return size.error();
  if (*size != 0) return std::make_error_code(std::errc::file_exists);
  std::unique_ptr<segment> seg(new segment(dir, base_offset, now_ms, files));
  RIPTIDE_TRY(seg->set_held(std::move(*f)));
  return seg;
}

base::result<std::unique_ptr<segment>> segment::open(const std::filesystem::path& dir,
                                                     int64_t base_offset, int64_t now_ms,
                                                     segment_file_cache* files) {
  std::unique_ptr<segment> seg(new segment(dir, base_offset, now_ms, files));
  if (!files) {
    auto f = base::file::open(seg->log_path(), base::file::mode::read_write);
    if (!f) return f.error();
    RIPTIDE_TRY(seg->set_held(std::move(*f)));
  }
  return seg;
}

base::result<std::unique_ptr<segment>> segment::open_cleaned(const std::filesystem::path& dir,
                                                             int64_t base_offset,
                                                             segment_index index, uint64_t size,
                                                             int64_t next_offset, int64_t now_ms) {
  auto seg = open(dir, base_offset, now_ms);
  if (!seg) return seg.error();
  (*seg)->index_ = std::move(index);
  RIPTIDE_TRY((*seg)->set_extent(size, next_offset));
  return seg;
}

base::status segment::append(std::span<iovec> iov, size_t bytes,
                             std::span<const batch_header> batches, uint32_t index_interval) {
  const uint64_t start = size_;
  auto f = file();
  if (!f) return f.error();
  if (auto st = (*f)->pwritev_all(iov, start); !st) {
    (void)(*f)->truncate(start);  // best effort; the next append overwrites from `start`
    return st;
  }
  uint64_t pos = start;
  for (const auto& h : batches) {
    index_.on_batch(static_cast<uint32_t>(h.base_offset - base_offset_), static_cast<uint32_t>(pos),
                    static_cast<uint32_t>(h.size_bytes()), h.max_timestamp, index_interval);
    pos += h.size_bytes();
  }
  size_ = start + bytes;
  if (!batches.empty()) next_offset_ = batches.back().next_offset();
  return {};
}

base::result<batch_header> segment::header_at(uint64_t position) const {
  auto f = file();
  if (!f) return f.error();
  return header_at(**f, position);
}

base::result<batch_header> segment::header_at(const base::file& f, uint64_t position) const {
  if (position + batch_header_size > size_) return errc::invalid_batch;
  uint8_t buf[batch_header_size];
  auto n = f.pread(buf, sizeof buf, position);
  if (!n) return n.error();
  if (*n != sizeof buf) return errc::invalid_batch;
  auto h = decode_header(buf);
  RIPTIDE_TRY(check_header(h, size_ - position));
  return h;
}

base::result<batch_location> segment::locate(int64_t offset) const {
  if (offset < base_offset_ || offset >= next_offset_) return errc::offset_out_of_range;
  auto f = file();
  if (!f) return f.error();
  uint64_t pos = index_.floor_by_offset(static_cast<uint32_t>(offset - base_offset_)).position;
  while (pos < size_) {
    auto h = header_at(**f, pos);
    if (!h) return h.error();
    if (h->last_offset() >= offset) return batch_location{pos, *h};
    pos += h->size_bytes();
  }
  return errc::offset_out_of_range;
}

base::result<boundary> segment::boundary_at_or_before(uint64_t limit, boundary from) const {
  boundary best = from;
  auto e = index_.floor_by_position(static_cast<uint32_t>(std::min<uint64_t>(limit, UINT32_MAX)));
  if (e.position > best.position) best = {e.position, base_offset_ + e.relative_offset};
  auto f = file();
  if (!f) return f.error();
  uint64_t pos = best.position;
  while (pos < size_) {
    auto h = header_at(**f, pos);
    if (!h) return h.error();
    const uint64_t end = pos + h->size_bytes();
    if (end > limit) break;
    pos = end;
    best = {end, h->next_offset()};
  }
  return best;
}

base::result<std::optional<timestamp_offset>> segment::offset_for_timestamp(
    int64_t ts, int64_t min_offset) const {
  if (empty() || max_timestamp() < ts || min_offset >= next_offset_) {
    return std::optional<timestamp_offset>{};
  }
  auto loc = locate(std::max(base_offset_ + index_.scan_start_for_timestamp(ts), min_offset));
  if (!loc) return loc.error();
  auto f = file();
  if (!f) return f.error();
  uint64_t pos = loc->position;
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> scratch;
  while (pos < size_) {
    auto h = header_at(**f, pos);
    if (!h) return h.error();
    if (h->max_timestamp >= ts && h->last_offset() >= min_offset) {
      // Every record of a LogAppendTime batch carries the batch's time.
      if (h->log_append_time()) {
        return std::optional<timestamp_offset>(
            {std::max(h->base_offset, min_offset), h->max_timestamp});
      }
      bytes.resize(h->size_bytes());
      auto n = (*f)->pread(bytes.data(), bytes.size(), pos);
      if (!n) return n.error();
      if (*n != bytes.size()) return errc::invalid_batch;
      std::optional<timestamp_offset> found;
      auto st = for_each_record(
          bytes,
          [&](const record_view& r) {
            if (r.timestamp >= ts && r.offset >= min_offset) {
              found = timestamp_offset{r.offset, r.timestamp};
            }
            return !found;
          },
          scratch);
      if (!st) return st.error();
      // The header promised a record at or after `ts`; without one, go on to the next batch.
      if (found) return found;
    }
    pos += h->size_bytes();
  }
  return std::optional<timestamp_offset>{};
}

base::result<segment::scan_result> segment::scan(boundary from, bool verify_crc,
                                                 uint32_t index_interval, int32_t max_leader_epoch,
                                                 bool allow_gaps) {
  scan_result r;
  auto f = file();
  if (!f) return f.error();
  auto fsize = (*f)->size();
  if (!fsize) return fsize.error();
  r.file_size = *fsize;
  chunk_reader reader(**f);
  uint64_t pos = from.position;
  int64_t next = from.offset;
  while (pos < r.file_size) {
    if (r.file_size - pos < batch_header_size) {
      r.reason = errc::invalid_batch;  // a torn header
      break;
    }
    auto hb = reader.get(pos, batch_header_size);
    if (!hb) return hb.error();
    auto h = decode_header(*hb);
    if (auto st = check_header(h, r.file_size - pos); !st) {
      r.reason = st.error();
      break;
    }
    const bool offset_ok = allow_gaps ? h.base_offset >= next : h.base_offset == next;
    if (!offset_ok || h.next_offset() - base_offset_ > UINT32_MAX || h.leader_epoch < 0 ||
        h.leader_epoch > max_leader_epoch) {
      r.reason = errc::invalid_batch;  // offsets must continue where the last batch ended
      break;
    }
    if (verify_crc) {
      uint32_t crc = 0;
      for (uint64_t p = pos + batch_crc_start, end = pos + h.size_bytes(); p < end;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(end - p, chunk_reader::kCapacity));
        auto chunk = reader.get(p, n);
        if (!chunk) return chunk.error();
        crc = base::crc32c_extend(crc, chunk->data(), chunk->size());
        p += n;
      }
      if (crc != h.crc) {
        r.reason = errc::corrupt_batch;
        break;
      }
    }
    index_.on_batch(static_cast<uint32_t>(h.base_offset - base_offset_), static_cast<uint32_t>(pos),
                    static_cast<uint32_t>(h.size_bytes()), h.max_timestamp, index_interval);
    pos += h.size_bytes();
    next = h.next_offset();
  }
  r.valid_bytes = pos;
  r.next_offset = next;
  return r;
}

base::status segment::set_extent(uint64_t size, int64_t next_offset) {
  auto f = file();
  if (!f) return f.error();
  auto fsize = (*f)->size();
  if (!fsize) return fsize.error();
  if (*fsize > size) RIPTIDE_TRY((*f)->truncate(size));
  size_ = size;
  next_offset_ = next_offset;
  return {};
}

index_files segment::capture_index() {
  index_.seal();
  return {offsets_path(), index_.encode_offsets(), times_path(), index_.encode_times()};
}

base::result<std::vector<std::filesystem::path>> segment::mark_deleted() {
  std::vector<std::filesystem::path> out;
  for (const auto& p : {log_path(), offsets_path(), times_path()}) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) continue;
    auto to = p;
    to += ".deleted";
    std::filesystem::rename(p, to, ec);
    if (ec) return ec;
    out.push_back(std::move(to));
  }
  return out;
}

}  // namespace storage
