#include "storage/journal.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/crc32c.h"
#include "base/executor.h"
#include "base/logging.h"
#include "base/metrics.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>
#include <string_view>
#include <system_error>

#include "storage/record_batch.h"

namespace storage {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "RIPTIDE-JOURNAL1";  // 16 bytes
constexpr size_t kEntryFixed = 4 + 4 + 8 + 1 + 1 + 2 + 4;
constexpr uint8_t kBatches = 1;
constexpr uint8_t kRemoved = 2;
constexpr uint64_t kPage = 4096;

void put_u16(uint8_t* p, uint16_t v) {
  std::memcpy(p, &v, sizeof v);
}
void put_u32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, sizeof v);
}
void put_u64(uint8_t* p, uint64_t v) {
  std::memcpy(p, &v, sizeof v);
}
uint16_t get_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Header: magic (16), seq u64, crc u32 of the 24 bytes before it; zero to 4 KiB.
std::vector<uint8_t> make_header(uint64_t seq) {
  std::vector<uint8_t> h(journal::header_bytes, 0);
  std::memcpy(h.data(), kMagic.data(), kMagic.size());
  put_u64(h.data() + 16, seq);
  put_u32(h.data() + 24, base::crc32c(std::span(h.data(), 24)));
  return h;
}

std::optional<uint64_t> parse_header(std::span<const uint8_t> h) {
  if (h.size() < 28 || std::memcmp(h.data(), kMagic.data(), kMagic.size()) != 0) {
    return std::nullopt;
  }
  if (get_u32(h.data() + 24) != base::crc32c(h.subspan(0, 24))) return std::nullopt;
  return get_u64(h.data() + 16);
}

auto& sync_histogram() {
  static auto& h = base::metrics::registry::global().get_histogram(
      "riptide_fsync_seconds", "fdatasync latency (shard journals and log segments)");
  return h;
}

}  // namespace

journal::journal(fs::path dir, unsigned shard, base::executor* shard_exec, flusher* flush,
                 journal_options opts)
    : dir_(std::move(dir)), shard_(shard), shard_exec_(shard_exec), flush_(flush), opts_(opts) {}

journal::~journal() {
  stop();
}

void journal::stop() {
  stopped_ = true;
  {
    std::lock_guard lock(q_mutex_);
    q_stop_ = true;
  }
  q_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

namespace {

base::result<std::shared_ptr<base::file>> make_zeroed_file(const fs::path& path, uint64_t size) {
  auto f = base::file::open(path, base::file::mode::create_read_write);
  if (!f) return f.error();
  static const std::vector<uint8_t> zeros(1 << 20, 0);
  for (uint64_t off = 0; off < size; off += zeros.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), size - off));
    RIPTIDE_TRY((*f)->pwrite_all(std::span(zeros.data(), n), off));
    // One megabyte at a time to the disk: a file's worth queued at once would hold up
    // the journal commits of every shard behind it.
    RIPTIDE_TRY((*f)->start_writeback(off, n, /*wait=*/true));
  }
  RIPTIDE_TRY((*f)->datasync());
  RIPTIDE_TRY(base::fsync_directory(path.parent_path()));
  return f;
}

}  // namespace

base::result<std::shared_ptr<journal>> journal::open(const fs::path& dir, unsigned shard,
                                                     base::executor* shard_exec, flusher* flush,
                                                     journal_options opts) {
  opts.file_bytes = std::max<uint64_t>(opts.file_bytes, 2 * header_bytes);
  std::error_code ec;
  const bool existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return ec;
  if (!existed) RIPTIDE_TRY(base::fsync_directory(dir.parent_path()));
  std::shared_ptr<journal> j(new journal(dir, shard, shard_exec, flush, opts));
  j->thread_ = std::thread([raw = j.get(), shard] {
    base::set_thread_name(fmt::format("journal-{}", shard).c_str());
    raw->run();
  });
  auto f =
      make_zeroed_file(dir / fmt::format("{}-{}.wal", shard, j->next_file_no_++), opts.file_bytes);
  if (!f) return f.error();
  auto jf = std::make_shared<jfile>();
  jf->f = std::move(*f);
  j->free_.push_back(std::move(jf));
  j->prepare_spare();
  return j;
}

void journal::prepare_spare() {
  if (preparing_ || failure_ || stopped_) return;
  preparing_ = true;
  const auto path = dir_ / fmt::format("{}-{}.wal", shard_, next_file_no_++);
  flush_->submit([self = shared_from_this(), path, size = opts_.file_bytes] {
    auto f = make_zeroed_file(path, size);
    self->shard_exec_->post([self, path, f = std::move(f)]() mutable {
      self->preparing_ = false;
      if (!f) {
        base::logger("storage")->warn(
            "journal: could not prepare {}: {}; partitions fsync their segments until a "
            "journal file is free",
            path.string(), f.error().message());
        std::error_code ignored;
        fs::remove(path, ignored);
        return;
      }
      auto jf = std::make_shared<jfile>();
      jf->f = std::move(*f);
      self->free_.push_back(std::move(jf));
    });
  });
}

bool journal::switch_file() {
  if (free_.empty()) {
    prepare_spare();
    return false;
  }
  if (active_) full_.push_back(std::move(active_));
  active_ = std::move(free_.front());
  free_.pop_front();
  active_->seq = next_seq_++;
  active_->writers.clear();
  active_->write_offset = header_bytes;
  active_->end_pos = pos_;
  pending_.push_back(chunk{active_->f, 0, make_header(active_->seq)});
  if (free_.empty()) prepare_spare();
  maybe_checkpoint();
  return true;
}

std::vector<uint8_t>* journal::reserve(uint8_t kind, const ntp& name, size_t payload) {
  if (failure_ || stopped_) return nullptr;
  if (name.topic.size() > UINT16_MAX) return nullptr;
  const size_t size = kEntryFixed + name.topic.size() + payload;
  if (size > opts_.file_bytes - header_bytes || size > UINT32_MAX) return nullptr;
  if (!active_ || active_->write_offset + size > opts_.file_bytes) {
    if (!switch_file()) return nullptr;
  }
  if (pending_.empty() || pending_.back().f != active_->f ||
      pending_.back().offset + pending_.back().bytes.size() != active_->write_offset) {
    // Start the chunk at its page's first byte, repeating what the last round wrote
    // there: writes then cover whole pages and never make the kernel read a page first.
    chunk c{active_->f, active_->write_offset, {}};
    // As large as the recent rounds' chunks: under a steady load a round's bytes are
    // then copied in once, never moved by the vector growing.
    c.bytes.reserve(std::max(chunk_hint_, kPage + size + kPage));
    if (tail_file_ == active_->f && tail_offset_ + tail_bytes_.size() == c.offset) {
      c.offset = tail_offset_;
      c.bytes.assign(tail_bytes_.begin(), tail_bytes_.end());
    }
    pending_.push_back(std::move(c));
  }
  auto& out = pending_.back().bytes;
  const size_t at = out.size();
  // Room for the whole entry and for hand_off()'s zero padding to the page end, growing
  // geometrically: a chunk's bytes are then written once, never moved by a reallocation.
  if (const size_t need = at + size + kPage; need > out.capacity()) {
    out.reserve(std::max(need, 2 * out.capacity()));
  }
  out.resize(at + kEntryFixed + name.topic.size());
  uint8_t* p = out.data() + at;
  put_u32(p, static_cast<uint32_t>(size));
  // p + 4: the CRC, filled in by the caller's finish()
  put_u64(p + 8, active_->seq);
  p[16] = kind;
  p[17] = 0;
  put_u16(p + 18, static_cast<uint16_t>(name.topic.size()));
  put_u32(p + 20, static_cast<uint32_t>(name.partition));
  std::memcpy(p + kEntryFixed, name.topic.data(), name.topic.size());
  active_->write_offset += size;
  pos_ += size;
  active_->end_pos = pos_;
  return &out;
}

namespace {

// Fills in the CRC of the entry that starts at `at` and runs to the end of `out`.
void finish_entry(std::vector<uint8_t>& out, size_t at) {
  const uint32_t crc = base::crc32c(std::span(out).subspan(at + 8));
  put_u32(out.data() + at + 4, crc);
}

// Batches from this size on have their CRC field combined into the entry's CRC rather
// than their bytes read again; below it a pass over the bytes is cheaper.
constexpr size_t kCombineFrom = 16 << 10;

// finish_entry() for an entry whose payload, from `payload_at` to the end of `out`, is
// whole record batches whose CRCs were checked when they were appended. A batch's CRC
// field covers its bytes after the field, so the entry's CRC takes that part from the
// field: the same value as a pass over every byte, computed without the second pass.
void finish_batches_entry(std::vector<uint8_t>& out, size_t at, size_t payload_at) {
  const uint8_t* const end = out.data() + out.size();
  const uint8_t* q = out.data() + payload_at;
  uint32_t crc = base::crc32c_extend(0, out.data() + at + 8, payload_at - at - 8);
  // Anything that does not parse as whole batches is checksummed byte by byte.
  while (q != end) {
    const auto left = static_cast<size_t>(end - q);
    if (left < batch_header_size) return finish_entry(out, at);
    const batch_header h = decode_header(std::span(q, left));
    if (h.batch_length < 0 || h.size_bytes() < batch_header_size || h.size_bytes() > left) {
      return finish_entry(out, at);
    }
    const size_t size = h.size_bytes();
    if (size - batch_crc_start >= kCombineFrom) {
      crc = base::crc32c_extend(crc, q, batch_crc_start);
      crc = base::crc32c_combine(crc, h.crc, size - batch_crc_start);
    } else {
      crc = base::crc32c_extend(crc, q, size);
    }
    q += size;
  }
  assert(crc == base::crc32c(std::span(out).subspan(at + 8)));
  put_u32(out.data() + at + 4, crc);
}

}  // namespace

std::optional<uint64_t> journal::append(const std::shared_ptr<journal_client>& log, const ntp& name,
                                        std::span<const iovec> data, size_t bytes) {
  // Where the entry starts in the chunk it lands in, known only after reserve().
  auto* out = reserve(kBatches, name, bytes);
  if (!out) return std::nullopt;
  const size_t payload_at = out->size();
  const size_t at = payload_at - kEntryFixed - name.topic.size();
  for (const auto& v : data) {
    const auto* b = static_cast<const uint8_t*>(v.iov_base);
    out->insert(out->end(), b, b + v.iov_len);
  }
  finish_batches_entry(*out, at, payload_at);
  if (log->journal_file_seq_ != active_->seq) {
    log->journal_file_seq_ = active_->seq;
    active_->writers.push_back(log);
  }
  if (log->journal_round_ != round_id_) {
    log->journal_round_ = round_id_;
    pending_logs_.push_back(log);
  }
  kick();
  return pos_;
}

void journal::append_removal(const ntp& name, std::function<void(std::error_code)> done) {
  auto* out = reserve(kRemoved, name, 0);
  if (!out) {
    if (failure_) return done(failure_);
    // Nothing can be journaled for it any more, so nothing of it can be replayed
    // unless an earlier file still holds entries: sync those before answering.
    if (stopped_) return done({});
    return done(std::make_error_code(std::errc::no_buffer_space));
  }
  finish_entry(*out, out->size() - kEntryFixed - name.topic.size());
  pending_callbacks_.push_back(std::move(done));
  kick();
}

void journal::kick() {
  if (kick_posted_) return;
  kick_posted_ = true;
  // Posted behind the tasks already queued on the shard, so that appends arriving
  // together are handed over together.
  shard_exec_->post([self = shared_from_this()] {
    self->kick_posted_ = false;
    self->hand_off();
  });
}

void journal::hand_off() {
  if (failure_ || (pending_.empty() && pending_callbacks_.empty())) return;
  round r;
  r.end_pos = pos_;
  r.handed_at = std::chrono::steady_clock::now();
  r.logs = std::move(pending_logs_);
  pending_logs_.clear();
  r.callbacks = std::move(pending_callbacks_);
  pending_callbacks_.clear();
  inflight_.push_back(std::move(r));
  ++round_id_;
  // Follows the largest recent round at once and shrinks slowly after it.
  chunk_hint_ -= chunk_hint_ / 8;
  for (auto& c : pending_) {
    // Remember the active file's last partial page (the next chunk starts with it), and
    // fill every chunk with zeros to the end of its last page.
    const uint64_t end = c.offset + c.bytes.size();
    const uint64_t page = end & ~(kPage - 1);
    if (c.f == active_->f && &c == &pending_.back()) {
      tail_file_ = c.f;
      tail_offset_ = std::max(page, c.offset);
      tail_bytes_.assign(c.bytes.end() - static_cast<std::ptrdiff_t>(end - tail_offset_),
                         c.bytes.end());
    }
    const uint64_t padded = std::min<uint64_t>((end + kPage - 1) & ~(kPage - 1), opts_.file_bytes);
    c.bytes.resize(static_cast<size_t>(padded - c.offset), 0);
    chunk_hint_ = std::max(chunk_hint_, c.bytes.size());
  }
  {
    std::lock_guard lock(q_mutex_);
    for (auto& c : pending_) q_chunks_.push_back(std::move(c));
    q_end_pos_ = pos_;
  }
  pending_.clear();
  q_cv_.notify_one();
}

void journal::run() {
  std::error_code failed;  // once a write or fdatasync failed, nothing after it counts
  std::unique_lock lock(q_mutex_);
  for (;;) {
    q_cv_.wait(lock, [&] { return q_stop_ || !q_chunks_.empty(); });
    if (q_chunks_.empty()) return;  // stopping, and everything handed over is written
    auto chunks = std::move(q_chunks_);
    q_chunks_.clear();
    const uint64_t end = q_end_pos_;
    lock.unlock();
    std::vector<base::file*> synced;
    for (const auto& c : chunks) {
      if (failed) break;
      if (auto st = c.f->pwrite_all(c.bytes, c.offset); !st) failed = st.error();
    }
    for (const auto& c : chunks) {
      if (failed) break;
      if (std::find(synced.begin(), synced.end(), c.f.get()) != synced.end()) continue;
      synced.push_back(c.f.get());
      const auto t0 = std::chrono::steady_clock::now();
      if (auto st = c.f->datasync(); !st) {
        failed = st.error();
        break;
      }
      const auto took = std::chrono::steady_clock::now() - t0;
      flush_->record_sync(took);
      sync_histogram().observe(std::chrono::duration<double>(took).count());
    }
    chunks.clear();
    shard_exec_->post([weak = weak_from_this(), end, ec = failed] {
      if (auto self = weak.lock()) self->on_durable(end, ec);
    });
    lock.lock();
  }
}

void journal::on_durable(uint64_t end_pos, std::error_code ec) {
  if (ec && !failure_) failure_ = ec;
  while (!inflight_.empty() && inflight_.front().end_pos <= end_pos) {
    auto r = std::move(inflight_.front());
    inflight_.pop_front();
    complete(r);
  }
  if (!failure_) maybe_checkpoint();
}

void journal::complete(round& r) {
  if (failure_) {
    if (!failure_logged_) {
      failure_logged_ = true;
      base::logger("storage")->error(
          "journal {}: I/O error ({}); its partitions fsync their segments from now on",
          (dir_ / fmt::format("{}-*.wal", shard_)).string(), failure_.message());
    }
    // A round after a failed one is no use either: a reader stops at the failed entries.
    auto fall_back = [](std::vector<std::weak_ptr<journal_client>>& logs) {
      for (auto& w : logs) {
        if (auto l = w.lock()) l->on_journal_failed();
      }
    };
    fall_back(r.logs);
    fall_back(pending_logs_);
    pending_logs_.clear();
    pending_.clear();
    for (auto& cb : r.callbacks) cb(failure_);
    for (auto& cb : pending_callbacks_) cb(failure_);
    pending_callbacks_.clear();
    return;
  }
  durable_pos_ = r.end_pos;
  static auto& commit = base::metrics::registry::global().get_histogram(
      "riptide_journal_commit_seconds",
      "time from writes being handed to a shard's journal until they are durable");
  commit.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - r.handed_at).count());
  for (auto& w : r.logs) {
    if (auto l = w.lock()) l->on_journal_durable(durable_pos_);
  }
  for (auto& cb : r.callbacks) cb({});
}

void journal::maybe_checkpoint() {
  for (const auto& f : full_) {
    if (f->checkpointing || f->end_pos > durable_pos_) continue;
    f->checkpointing = true;
    // Every partition that wrote into the file fsyncs its segments; then no entry of
    // the file is needed any more.
    struct state {
      size_t left = 1;
      bool ok = true;
    };
    auto st = std::make_shared<state>();
    auto done = [self = shared_from_this(), f, st](std::error_code ec) {
      if (ec) st->ok = false;
      if (--st->left == 0) self->finish_checkpoint(f, st->ok);
    };
    for (auto& w : f->writers) {
      if (auto l = w.lock()) {
        ++st->left;
        l->sync_for_journal(done);
      }
    }
    done({});
  }
}

void journal::finish_checkpoint(const std::shared_ptr<jfile>& f, bool ok) {
  auto it = std::find(full_.begin(), full_.end(), f);
  if (it == full_.end()) return;
  full_.erase(it);
  f->writers.clear();
  f->checkpointing = false;
  if (!ok) {
    base::logger("storage")->warn(
        "journal: a partition could not sync its segments; keeping {} out of use so a restart "
        "replays it",
        f->f->path().string());
    return;
  }
  free_.push_back(f);
}

base::result<journal_contents> read_journals(const fs::path& dir) {
  journal_contents out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  // Files by writer (the name's shard prefix), each writer's in sequence order.
  std::map<std::string, std::vector<std::pair<uint64_t, std::string>>> writers;
  std::map<std::string, std::string> contents;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto& p = entry.path();
    if (p.extension() != ".wal") continue;
    auto bytes = base::read_whole_file(p);
    if (!bytes) return bytes.error();
    auto seq =
        parse_header(std::span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()));
    if (!seq) continue;  // never used since it was prepared
    const auto stem = p.stem().string();
    writers[stem.substr(0, stem.find('-'))].emplace_back(*seq, p.string());
    contents[p.string()] = std::move(*bytes);
  }
  if (ec) return ec;
  for (auto& [_, files] : writers) {
    std::sort(files.begin(), files.end());
    for (const auto& [seq, path] : files) {
      const auto& s = contents[path];
      const std::span bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
      ++out.files;
      for (size_t at = journal::header_bytes; at + kEntryFixed <= bytes.size();) {
        const uint32_t size = get_u32(bytes.data() + at);
        if (size < kEntryFixed || size > bytes.size() - at) break;
        const auto entry = bytes.subspan(at, size);
        if (get_u32(entry.data() + 4) != base::crc32c(entry.subspan(8))) break;
        if (get_u64(entry.data() + 8) != seq) break;
        const uint8_t kind = entry[16];
        const uint16_t topic_len = get_u16(entry.data() + 18);
        if (kEntryFixed + topic_len > size) break;
        ntp name{std::string(reinterpret_cast<const char*>(entry.data()) + kEntryFixed, topic_len),
                 static_cast<int32_t>(get_u32(entry.data() + 20))};
        const auto payload = entry.subspan(kEntryFixed + topic_len);
        if (kind == kBatches) {
          out.batches[name].emplace_back(payload.begin(), payload.end());
        } else if (kind == kRemoved) {
          out.batches.erase(name);
        } else {
          break;
        }
        ++out.entries;
        at += size;
      }
    }
  }
  return out;
}

base::status remove_journals(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".wal") continue;
    fs::remove(entry.path(), ec);
    if (ec) return ec;
  }
  if (ec) return ec;
  return base::fsync_directory(dir);
}

}  // namespace storage
