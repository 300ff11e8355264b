// Crash test for compaction: a child process appends keyed records (some of them
// tombstones) with fsync-before-ack to a compacted log, reporting every acknowledged batch
// to the parent through a pipe, while the log cleaner runs round after round (throttled, so
// that rounds are long and kills land inside them). The parent kill -9s it at a random
// moment, reopens the log (recovery finishes or rolls back an interrupted swap) and checks:
//  - no cleaner file is left behind; every batch passes its CRC; offsets only increase;
//  - every record is one some child wrote, at the offset it was given if it was acked;
//  - for every key, the latest acknowledged record (tombstones included) is still there,
//    or a later one of the same key is;
//  - every acknowledged record the cleaner may not have reached yet (at or above the
//    checkpoint's rewritten_below) is there.
//
//   cleaner_crash_test [--kills N] [--max-seconds S] [--seed X] [--keep DIR]

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"
#include "storage/batch_builder.h"
#include "storage/cleaner_checkpoint.h"
#include "storage/log_cleaner.h"
#include "storage/partition_log.h"

namespace {

namespace fs = std::filesystem;

constexpr int kInFlight = 4;
constexpr int kKeys = 40;

storage::log_config crash_config() {
  storage::log_config cfg;
  cfg.segment_bytes = 16 * 1024;
  cfg.index_interval_bytes = 1024;
  cfg.policy = storage::durability::fsync;
  cfg.cleanup = {false, true};
  cfg.min_cleanable_dirty_ratio = 0;
  cfg.delete_retention_ms = INT64_MAX / 4;  // tombstones stay: they are latest values
  return cfg;
}

struct record_spec {
  std::string key;
  std::optional<std::string> value;
};

// The records of batch `i` of run `run` — the parent rebuilds them to check.
std::vector<record_spec> records_for(uint64_t run, uint64_t i) {
  std::mt19937_64 rng(run * 1'000'003 + i);
  const int n = 1 + static_cast<int>(rng() % 12);
  std::vector<record_spec> out;
  for (int r = 0; r < n; ++r) {
    record_spec s;
    s.key = fmt::format("k{}", rng() % kKeys);
    if (rng() % 10 != 0) {
      const size_t pad = 10 + rng() % 200;
      const char c = static_cast<char>('a' + rng() % 26);
      s.value = fmt::format("{}-{}-{}-{}", run, i, r, std::string(pad, c));
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<uint8_t> batch_for(uint64_t run, uint64_t i) {
  storage::batch_builder b(1'700'000'000'000 + static_cast<int64_t>(i));
  for (const auto& s : records_for(run, i)) {
    if (s.value) {
      b.add(s.key, *s.value);
    } else {
      b.add(s.key, std::nullopt);
    }
  }
  return b.build();
}

// ---- child: append and clean forever, report acknowledged batches on stdout ----------
[[noreturn]] void child(const fs::path& dir, uint64_t run) {
  storage::segment_file_cache files(4);  // small: sealed segments are reopened
  base::task_thread shard;
  storage::flusher flusher(1);
  storage::cleaner_thread cleaner_thread(
      {.buffer_bytes = 64 << 10, .io_bytes_per_second = 16 << 20});
  storage::log_environment env{&shard, &flusher, nullptr, base::wall_ms, nullptr, &files};
  storage::recovery_report report;
  auto log = shard.run([&] {
    return storage::partition_log::open(dir, {"crash", 0}, crash_config(), env, report);
  });
  if (!log) {
    std::fprintf(stderr, "child: open failed: %s\n", log.error().message().c_str());
    std::_Exit(3);
  }
  storage::log_cleaner cleaner(cleaner_thread, &shard, base::wall_ms);
  std::atomic<uint64_t> next{0};
  std::function<void()> append_one;
  append_one = [&] {
    const uint64_t i = next++;
    auto bytes = batch_for(run, i);
    auto r = (*log)->append(bytes);
    if (!r) {
      std::fprintf(stderr, "child: append failed: %s\n", r.error().message().c_str());
      std::_Exit(4);
    }
    const int64_t base = r->base_offset;
    (*log)->wait_durable(r->last_offset + 1, [&, i, base](std::error_code ec) {
      if (ec) std::_Exit(5);
      char line[64];
      int n = std::snprintf(line, sizeof line, "%llu %lld\n", static_cast<unsigned long long>(i),
                            static_cast<long long>(base));
      if (::write(1, line, static_cast<size_t>(n)) != n) std::_Exit(6);
      append_one();
    });
  };
  shard.post([&] {
    for (int k = 0; k < kInFlight; ++k) append_one();
  });
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    shard.post([&] {
      if (!cleaner.busy()) {
        cleaner.clean(*log, [](base::result<storage::cleaning_stats> r) {
          if (!r) {
            std::fprintf(stderr, "child: cleaning failed: %s\n", r.error().message().c_str());
            std::_Exit(7);
          }
        });
      }
    });
  }
}

// ---- parent ------------------------------------------------------------------------
struct acked {
  uint64_t run;
  uint64_t index;
  int64_t base;
};

int fail(const std::string& msg) {
  std::fprintf(stderr, "cleaner_crash_test: FAILED: %s\n", msg.c_str());
  return 1;
}

// (run, index, record) of a value written by records_for().
std::optional<std::tuple<uint64_t, uint64_t, size_t>> parse_value(const std::string& v) {
  unsigned long long run, index, r;
  if (std::sscanf(v.c_str(), "%llu-%llu-%llu-", &run, &index, &r) != 3) return std::nullopt;
  return std::tuple(run, index, r);
}

std::string to_string(std::span<const uint8_t> s) {
  return {s.begin(), s.end()};
}

// Checks the reopened log against every acknowledged batch; empty when all is well.
std::string verify(storage::partition_log& l,
                   const std::map<std::pair<uint64_t, uint64_t>, int64_t>& acks,
                   int64_t rewritten_below) {
  for (const auto& e : fs::directory_iterator(l.dir())) {
    const auto name = e.path().filename().string();
    if (name.ends_with(".cleaned") || name.ends_with(".swap") || name.ends_with(".deleted")) {
      return "recovery left " + name + " behind";
    }
  }
  // What must be there: per key the latest acked record, and every acked record at or
  // above rewritten_below.
  std::map<std::string, std::pair<int64_t, std::optional<std::string>>> latest;
  std::map<int64_t, record_spec> must;
  for (const auto& [id, base] : acks) {
    auto specs = records_for(id.first, id.second);
    for (size_t r = 0; r < specs.size(); ++r) {
      const int64_t offset = base + static_cast<int64_t>(r);
      auto& l8 = latest[specs[r].key];
      if (offset >= l8.first) l8 = {offset, specs[r].value};
      if (offset >= rewritten_below) must[offset] = specs[r];
    }
  }
  std::map<std::string, std::pair<int64_t, std::optional<std::string>>> found;
  std::map<int64_t, record_spec> seen;
  int64_t next = l.log_start_offset(), last_offset = -1;
  std::string problem;
  while (next < l.log_end_offset() && problem.empty()) {
    auto rd = l.read(next, 1 << 20, {.max_offset = l.log_end_offset(), .copy_bytes = true});
    if (!rd) return "read at " + std::to_string(next) + ": " + rd.error().message();
    auto bytes = *rd->data.linearize();
    for (size_t pos = 0; pos < bytes.size() && problem.empty();) {
      auto h = storage::validate_batch(std::span(bytes).subspan(pos));
      if (!h) return "invalid batch at offset " + std::to_string(next);
      if (h->base_offset < next) return "batch offsets go back at " + std::to_string(next);
      auto st = storage::for_each_record(
          std::span(bytes).subspan(pos, h->size_bytes()), [&](const storage::record_view& r) {
            if (r.offset <= last_offset) {
              problem = "record offsets go back at " + std::to_string(r.offset);
              return false;
            }
            last_offset = r.offset;
            if (!r.key) {
              problem = "a record without key at " + std::to_string(r.offset);
              return false;
            }
            const auto key = to_string(*r.key);
            std::optional<std::string> value;
            if (r.value) {
              value = to_string(*r.value);
              auto id = parse_value(*value);
              auto specs =
                  id ? records_for(std::get<0>(*id), std::get<1>(*id)) : std::vector<record_spec>{};
              if (!id || std::get<2>(*id) >= specs.size() || specs[std::get<2>(*id)].key != key ||
                  specs[std::get<2>(*id)].value != value) {
                problem = "a record nobody wrote at " + std::to_string(r.offset);
                return false;
              }
              auto a = acks.find({std::get<0>(*id), std::get<1>(*id)});
              if (a != acks.end() &&
                  a->second + static_cast<int64_t>(std::get<2>(*id)) != r.offset) {
                problem = "an acknowledged record moved to offset " + std::to_string(r.offset);
                return false;
              }
            }
            found[key] = {r.offset, value};
            seen[r.offset] = {key, value};
            return true;
          });
      if (!st) return "unreadable batch at " + std::to_string(h->base_offset);
      next = h->next_offset();
      pos += h->size_bytes();
    }
  }
  if (!problem.empty()) return problem;
  for (const auto& [key, want] : latest) {
    auto it = found.find(key);
    if (it == found.end()) return "key " + key + " is gone";
    if (it->second.first < want.first) {
      return "key " + key + ": latest acknowledged record at " + std::to_string(want.first) +
             " is gone (found " + std::to_string(it->second.first) + ")";
    }
    if (it->second.first == want.first && it->second.second != want.second) {
      return "key " + key + ": wrong latest value at " + std::to_string(want.first);
    }
  }
  for (const auto& [offset, spec] : must) {
    auto it = seen.find(offset);
    if (it == seen.end() || it->second.key != spec.key || it->second.value != spec.value) {
      return "acknowledged record at " + std::to_string(offset) +
             " (not yet reachable by the cleaner) is missing";
    }
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--child") == 0) child(argv[2], std::stoull(argv[3]));
  int kills = 20, max_seconds = 120;
  uint64_t seed = static_cast<uint64_t>(std::random_device{}());
  std::string keep;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--kills") {
      kills = std::stoi(argv[i + 1]);
    } else if (flag == "--max-seconds") {
      max_seconds = std::stoi(argv[i + 1]);
    } else if (flag == "--seed") {
      seed = std::stoull(argv[i + 1]);
    } else if (flag == "--keep") {
      keep = argv[i + 1];
    } else {
      return fail("unknown flag " + flag + " (use --kills, --max-seconds, --seed, --keep)");
    }
  }
  const fs::path dir = keep.empty() ? fs::temp_directory_path() /
                                          ("riptide-cleaner-crash-" + std::to_string(::getpid()))
                                    : fs::path(keep);
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::printf("cleaner_crash_test: %d kills, seed %llu, log in %s\n", kills,
              static_cast<unsigned long long>(seed), dir.c_str());
  std::mt19937_64 rng(seed);
  std::map<std::pair<uint64_t, uint64_t>, int64_t> acks;  // (run, index) -> base offset
  const auto started = std::chrono::steady_clock::now();
  size_t swaps_finished = 0, rollbacks = 0;
  for (int k = 0; k < kills; ++k) {
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(max_seconds)) {
      return fail("time budget of " + std::to_string(max_seconds) + " s ran out after " +
                  std::to_string(k) + " kills");
    }
    const uint64_t run = static_cast<uint64_t>(k) + 1;
    int out[2];
    if (::pipe(out) != 0) return fail("pipe");
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      const std::string run_s = std::to_string(run);
      ::execl("/proc/self/exe", argv[0], "--child", dir.c_str(), run_s.c_str(), nullptr);
      std::_Exit(127);
    }
    ::close(out[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 1400));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      return fail("child exited on its own with status " + std::to_string(status));
    }
    std::string lines;
    char buf[65536];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) {
      lines.append(buf, static_cast<size_t>(n));
    }
    ::close(out[0]);
    size_t new_acks = 0;
    for (size_t pos = 0;;) {
      const size_t nl = lines.find('\n', pos);
      if (nl == std::string::npos) break;  // a torn last line is never a complete ack
      unsigned long long idx;
      long long base;
      if (std::sscanf(lines.c_str() + pos, "%llu %lld", &idx, &base) != 2) {
        return fail("bad ack line");
      }
      acks[{run, idx}] = base;
      ++new_acks;
      pos = nl + 1;
    }

    storage::segment_file_cache files(4);  // small: sealed segments are reopened
    base::task_thread shard;
    storage::flusher flusher(1);
    storage::log_environment env{&shard, &flusher, nullptr, base::wall_ms, nullptr, &files};
    storage::recovery_report report;
    auto log = shard.run([&] {
      return storage::partition_log::open(dir, {"crash", 0}, crash_config(), env, report);
    });
    if (!log) return fail("reopen: " + log.error().message());
    swaps_finished += report.swaps_completed;
    rollbacks += report.cleanings_rolled_back > 0 ? 1 : 0;
    const int64_t rewritten_below =
        shard.run([&] { return (*log)->cleaner_state().rewritten_below; });
    const std::string problem = shard.run([&] { return verify(**log, acks, rewritten_below); });
    const size_t segments = shard.run([&] { return (*log)->segment_count(); });
    const int64_t log_end = shard.run([&] { return (*log)->log_end_offset(); });
    std::promise<std::error_code> closed;
    shard.post([&] { (*log)->close([&](std::error_code ec) { closed.set_value(ec); }); });
    if (auto ec = closed.get_future().get()) return fail("close: " + ec.message());
    if (!problem.empty()) {
      return fail("after kill " + std::to_string(k + 1) + ": " + problem + " (rerun with --seed " +
                  std::to_string(seed) + ")");
    }
    std::printf("kill %2d: +%zu acked, log end %lld in %zu segment(s), %s\n", k + 1, new_acks,
                static_cast<long long>(log_end), segments, report.summary().c_str());
    std::fflush(stdout);
  }
  if (keep.empty()) fs::remove_all(dir);
  std::printf(
      "cleaner_crash_test: PASSED: %d kills, %zu acknowledged batches checked; recovery "
      "finished %zu interrupted swap(s) and rolled back %zu unfinished rewrite(s)\n",
      kills, acks.size(), swaps_finished, rollbacks);
  return 0;
}
