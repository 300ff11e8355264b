// libFuzzer target for what a broker reads back from its data directory at start: a
// partition's segments (.log), their indexes (.index, .timeindex), the recovery point,
// the producer-state snapshot, and the shard journal replayed into the partition.
// Whatever the files hold, opening must either fail with an error or give a log that can
// be read, appended to and closed (each call answering with data or an error) without
// reading out of bounds; its offsets stay ordered (start <= high watermark <= end), an
// append lands at the end, and once closed the partition opens again cleanly at the same
// end (std::abort otherwise).
//
// Input: one flags byte, then sections [kind u8][length u16 LE][bytes]. The kind's low
// three bits name the file (0 .log, 1 .index, 2 .timeindex, 3 recovery point,
// 4 producer snapshot, 5 journal), its high bits the segment's base offset (one of
// kBaseOffsets). Flags: bit 0 recomputes the CRC of every batch of a .log, bit 1 every
// CRC of the journal (header and entries, entries also get the header's sequence), bit 2
// the snapshot's CRC; that lets the fuzzer reach past the checksums.

#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/crc32c.h"
#include "base/executor.h"
#include "base/logging.h"
#include "storage/batch_builder.h"
#include "storage/checkpoint.h"
#include "storage/flusher.h"
#include "storage/journal.h"
#include "storage/partition_log.h"
#include "storage/producer_state.h"
#include "storage/record_batch.h"

namespace fs = std::filesystem;

namespace {

constexpr std::array<int64_t, 8> kBaseOffsets = {0, 1, 2, 3, 10, 100, 4096, 2147483647};
// The journal's layout (storage/journal.cc): a 4 KiB header holding magic, sequence and
// CRC in its first 28 bytes; entries of [size u32][crc u32 of the rest][seq u64]...
constexpr size_t kJournalHeaderCrcAt = 24;
constexpr size_t kJournalSeqAt = 16;
constexpr size_t kEntryFixed = 24;

uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void put_u32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, sizeof v);
}

void fix_batch_crcs(std::vector<uint8_t>& b) {
  for (size_t at = 0; b.size() - at >= storage::batch_header_size;) {
    const auto h = storage::decode_header(std::span(b).subspan(at));
    if (h.batch_length < 0 || h.size_bytes() > b.size() - at ||
        h.size_bytes() < storage::batch_header_size) {
      return;
    }
    const auto batch = std::span(b).subspan(at, h.size_bytes());
    storage::put_i32(&batch[storage::batch_crc_offset],
                     static_cast<int32_t>(storage::compute_batch_crc(batch)));
    at += h.size_bytes();
  }
}

// Section bytes: the header's first 28 bytes, then the entries (placed after 4 KiB).
std::vector<uint8_t> journal_file(std::span<const uint8_t> in, bool fix) {
  std::vector<uint8_t> f(storage::journal::header_bytes, 0);
  const size_t head = std::min<size_t>(in.size(), 28);
  std::memcpy(f.data(), in.data(), head);
  f.insert(f.end(), in.begin() + static_cast<std::ptrdiff_t>(head), in.end());
  if (!fix) return f;
  static constexpr char kMagic[] = "RIPTIDE-JOURNAL1";
  std::memcpy(f.data(), kMagic, 16);
  put_u32(&f[kJournalHeaderCrcAt], base::crc32c(std::span(f.data(), kJournalHeaderCrcAt)));
  for (size_t at = storage::journal::header_bytes; f.size() - at >= kEntryFixed;) {
    const uint32_t size = get_u32(&f[at]);
    if (size < kEntryFixed || size > f.size() - at) break;
    std::memcpy(&f[at + 8], &f[kJournalSeqAt], 8);
    put_u32(&f[at + 4], base::crc32c(std::span(f).subspan(at + 8, size - 8)));
    at += size;
  }
  return f;
}

void write(const fs::path& p, std::span<const uint8_t> bytes) {
  if (FILE* f = std::fopen(p.c_str(), "wb")) {
    if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
}

struct world {
  base::task_thread shard;
  storage::flusher flush{1};
  fs::path root;
  world() {
    base::init_logging(base::log_format::text, spdlog::level::off);
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    root = base / ("riptide-fuzz-open-" + std::to_string(::getpid()));
  }
  ~world() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

void check_offsets(const storage::partition_log& log) {
  check(log.log_start_offset() <= log.high_watermark());
  check(log.high_watermark() <= log.log_end_offset());
}

std::future<std::error_code> close(const std::shared_ptr<storage::partition_log>& log) {
  auto done = std::make_shared<std::promise<std::error_code>>();
  auto fut = done->get_future();
  log->close([done](std::error_code ec) { done->set_value(ec); });
  return fut;
}

// Everything the log offers, on its shard; returns the log's close completion.
std::future<std::error_code> exercise(const std::shared_ptr<storage::partition_log>& log,
                                      const fs::path& journal_dir) {
  check_offsets(*log);
  if (auto j = storage::read_journals(journal_dir)) {
    for (const auto& [name, batches] : j->batches) {
      for (const auto& b : batches) (void)log->replay(b);
    }
  }
  check_offsets(*log);
  size_t seen = 0;
  (void)log->for_each_batch(log->log_start_offset(), log->log_end_offset(),
                            [&](std::span<const uint8_t> b) { seen += b.size(); });
  for (int64_t o = log->log_start_offset(); o < log->log_end_offset() && o < 64; ++o) {
    (void)log->read(o, 1 << 16);
    (void)log->read(o, 1 << 16, {.copy_bytes = true});
  }
  (void)log->offset_for_timestamp(0);
  (void)log->offset_for_timestamp(INT64_MAX);
  storage::batch_builder b(1'700'000'000'000);
  b.add("k", "v");
  const int64_t end = log->log_end_offset();
  if (auto a = log->append(b.build())) {
    check(a->base_offset == end && a->last_offset == end);
    check(log->log_end_offset() == end + 1);
  }
  (void)log->apply_retention();
  check_offsets(*log);
  return close(log);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static world w;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  std::error_code ec;
  fs::remove_all(w.root, ec);
  const fs::path part = w.root / "orders-0";
  const fs::path journal_dir = w.root / "journal";
  fs::create_directories(part, ec);
  fs::create_directories(journal_dir, ec);

  int journals = 0;
  for (size_t at = 1; size - at >= 3;) {
    const uint8_t kind = data[at];
    const size_t len = std::min<size_t>(data[at + 1] | (data[at + 2] << 8), size - at - 3);
    const std::span<const uint8_t> bytes(data + at + 3, len);
    at += 3 + len;
    char stem[32];
    std::snprintf(stem, sizeof stem, "%020lld", static_cast<long long>(kBaseOffsets[kind >> 5]));
    switch (kind & 7) {
      case 0: {
        std::vector<uint8_t> b(bytes.begin(), bytes.end());
        if (flags & 1) fix_batch_crcs(b);
        write(part / (std::string(stem) + ".log"), b);
        break;
      }
      case 1:
        write(part / (std::string(stem) + ".index"), bytes);
        break;
      case 2:
        write(part / (std::string(stem) + ".timeindex"), bytes);
        break;
      case 3:
        write(part / storage::recovery_point_file, bytes);
        break;
      case 4: {
        std::vector<uint8_t> b(bytes.begin(), bytes.end());
        if ((flags & 4) && b.size() >= 4) {
          const uint32_t crc = base::crc32c(std::span(b).first(b.size() - 4));
          const uint8_t be[4] = {static_cast<uint8_t>(crc >> 24), static_cast<uint8_t>(crc >> 16),
                                 static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc)};
          std::memcpy(&b[b.size() - 4], be, 4);
        }
        write(part / storage::producer_snapshot_file, b);
        break;
      }
      case 5:
        write(journal_dir / ("0-" + std::to_string(journals++) + ".wal"),
              journal_file(bytes, flags & 2));
        break;
      default:
        break;
    }
  }

  storage::log_config cfg;
  cfg.segment_bytes = 1 << 20;
  const storage::log_environment env{
      &w.shard, &w.flush, nullptr, [] { return int64_t{1'700'000'000'000}; }, nullptr, nullptr};
  std::shared_ptr<storage::partition_log> log;
  int64_t end = -1;
  auto closed = w.shard.run([&]() -> std::optional<std::future<std::error_code>> {
    storage::recovery_report report;
    auto opened = storage::partition_log::open(part, {"orders", 0}, cfg, env, report);
    if (!opened) return std::nullopt;
    (void)report.summary();
    log = *opened;
    auto fut = exercise(log, journal_dir);
    end = log->log_end_offset();
    return fut;
  });
  if (closed && !closed->get()) {
    // Closed cleanly: the next start finds the partition as it was left, nothing to repair.
    auto again = w.shard.run([&] {
      log.reset();
      storage::recovery_report report;
      auto reopened = storage::partition_log::open(part, {"orders", 0}, cfg, env, report);
      check(reopened.has_value());
      check((*reopened)->log_end_offset() == end);
      check(report.clean());
      log = *reopened;
      return close(log);
    });
    (void)again.get();
  }
  w.shard.run([&] { log.reset(); });  // the log lives and dies on its shard
  return 0;
}
