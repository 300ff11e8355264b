// Crash test for the partition log: a child process appends with fsync-before-ack
// and reports every acknowledged batch to the parent through a pipe; the parent
// kill -9s it at a random moment, reopens the log (running recovery) and checks that
// every acknowledged batch is present, byte-identical, at the offset it was given,
// and that offsets are contiguous from log start to log end. Repeats --kills times.
// Every other child writes through a shard journal (small files, so they are reused
// often); the parent then replays the journal into the reopened log as the broker
// does at start, and removes it.
//
//   crash_test [--kills N] [--max-seconds S] [--seed X] [--keep DIR]

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"
#include "storage/batch_builder.h"
#include "storage/journal.h"
#include "storage/partition_log.h"

namespace {

namespace fs = std::filesystem;

constexpr int kInFlight = 6;

storage::log_config crash_config() {
  storage::log_config cfg;
  cfg.segment_bytes = 256 * 1024;  // roll often: rolls and checkpoints get killed too
  cfg.index_interval_bytes = 1024;
  cfg.policy = storage::durability::fsync;
  return cfg;
}

// Batch `i` of run `run` — the parent rebuilds it to compare bytes.
std::vector<uint8_t> batch_for(uint64_t run, uint64_t i) {
  std::mt19937_64 rng(run * 1'000'003 + i);
  const int records = 1 + static_cast<int>(rng() % 20);
  const size_t value_size = 10 + rng() % 800;
  storage::batch_builder b(1'700'000'000'000 + static_cast<int64_t>(i));
  for (int r = 0; r < records; ++r) {
    std::string value(value_size, '\0');
    for (auto& c : value) c = static_cast<char>('a' + rng() % 26);
    b.add("run" + std::to_string(run) + "-" + std::to_string(i) + "-" + std::to_string(r), value);
  }
  return b.build();
}

// ---- child: append forever, report acknowledged batches on stdout -----------------
[[noreturn]] void child(const fs::path& dir, uint64_t run) {
  storage::segment_file_cache files(4);  // small: sealed segments are reopened
  base::task_thread shard;
  storage::flusher flusher(1);
  storage::log_environment env{&shard, &flusher, nullptr, base::wall_ms, nullptr, &files};
  if (run % 2 == 1) {
    auto j = shard.run(
        [&] { return storage::journal::open(dir / "journal", 0, &shard, &flusher, {128 * 1024}); });
    if (!j) {
      std::fprintf(stderr, "child: journal failed: %s\n", j.error().message().c_str());
      std::_Exit(3);
    }
    env.shard_journal = *j;
  }
  storage::recovery_report report;
  auto log = shard.run([&] {
    return storage::partition_log::open(dir, {"crash", 0}, crash_config(), env, report);
  });
  if (!log) {
    std::fprintf(stderr, "child: open failed: %s\n", log.error().message().c_str());
    std::_Exit(3);
  }
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
  for (;;) ::pause();
}

// ---- parent ------------------------------------------------------------------------
struct acked {
  uint64_t run;
  uint64_t index;
};

struct options {
  int kills = 50;
  int max_seconds = 300;
  uint64_t seed = 0;
  std::string keep;
};

int fail(const std::string& msg) {
  std::fprintf(stderr, "crash_test: FAILED: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--child") == 0) {
    child(argv[2], std::stoull(argv[3]));
  }
  options opt;
  opt.seed = static_cast<uint64_t>(std::random_device{}());
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--kills")
      opt.kills = std::stoi(argv[i + 1]);
    else if (flag == "--max-seconds")
      opt.max_seconds = std::stoi(argv[i + 1]);
    else if (flag == "--seed")
      opt.seed = std::stoull(argv[i + 1]);
    else if (flag == "--keep")
      opt.keep = argv[i + 1];
    else
      return fail("unknown flag " + flag + " (use --kills, --max-seconds, --seed, --keep)");
  }
  fs::path dir = opt.keep.empty()
                     ? fs::temp_directory_path() / ("riptide-crash-" + std::to_string(::getpid()))
                     : fs::path(opt.keep);
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::printf("crash_test: %d kills, seed %llu, log in %s\n", opt.kills,
              static_cast<unsigned long long>(opt.seed), dir.c_str());
  std::mt19937_64 rng(opt.seed);

  std::map<int64_t, acked> by_offset;  // every batch ever acknowledged, by base offset
  const auto started = std::chrono::steady_clock::now();
  uint64_t truncated_bytes = 0, truncations = 0;
  int kills = 0;
  for (; kills < opt.kills; ++kills) {
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(opt.max_seconds)) {
      return fail("time budget of " + std::to_string(opt.max_seconds) + " s ran out after " +
                  std::to_string(kills) + " kills");
    }
    const uint64_t run = static_cast<uint64_t>(kills) + 1;
    int out[2];
    if (::pipe(out) != 0) return fail("pipe");
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      std::string run_s = std::to_string(run);
      ::execl("/proc/self/exe", argv[0], "--child", dir.c_str(), run_s.c_str(), nullptr);
      std::_Exit(127);
    }
    ::close(out[1]);
    // Kill at a random moment: sometimes during recovery, mostly mid-append.
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      return fail("child exited on its own with status " + std::to_string(status));
    }
    std::string acks;
    char buf[65536];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
      acks.append(buf, static_cast<size_t>(n));
    ::close(out[0]);
    size_t new_acks = 0;
    for (size_t pos = 0; pos < acks.size();) {
      size_t nl = acks.find('\n', pos);
      if (nl == std::string::npos) break;  // a torn last line: never a complete ack
      unsigned long long idx;
      long long base;
      if (std::sscanf(acks.c_str() + pos, "%llu %lld", &idx, &base) != 2)
        return fail("bad ack line");
      by_offset[base] = {run, idx};
      ++new_acks;
      pos = nl + 1;
    }

    // Reopen and verify.
    storage::segment_file_cache files(4);  // small: sealed segments are reopened
    base::task_thread shard;
    storage::flusher flusher(1);
    storage::log_environment env{&shard, &flusher, nullptr, base::wall_ms, nullptr, &files};
    storage::recovery_report report;
    auto log = shard.run([&] {
      return storage::partition_log::open(dir, {"crash", 0}, crash_config(), env, report);
    });
    if (!log) return fail("reopen: " + log.error().message());
    size_t replayed = 0;
    {
      auto contents = storage::read_journals(dir / "journal");
      if (!contents) return fail("read journal: " + contents.error().message());
      std::string err = shard.run([&]() -> std::string {
        for (const auto& payload : contents->batches[{"crash", 0}]) {
          auto r = (*log)->replay(payload);
          if (!r) return r.error().message();
          replayed += *r;
        }
        if (auto st = (*log)->sync_now(); !st) return st.error().message();
        return {};
      });
      if (!err.empty()) return fail("journal replay: " + err);
      if (auto st = storage::remove_journals(dir / "journal"); !st) {
        return fail("remove journal: " + st.error().message());
      }
    }
    if (report.bytes_truncated) {
      ++truncations;
      truncated_bytes += report.bytes_truncated;
    }
    std::string problem = shard.run([&]() -> std::string {
      auto& l = **log;
      auto it = by_offset.begin();
      int64_t next = l.log_start_offset();
      while (next < l.log_end_offset()) {
        auto r = l.read(next, 1 << 20, {.max_offset = l.log_end_offset(), .copy_bytes = true});
        if (!r) return "read at " + std::to_string(next) + ": " + r.error().message();
        auto bytes = *r->data.linearize();
        for (size_t pos = 0; pos < bytes.size();) {
          auto h = storage::validate_batch(std::span(bytes).subspan(pos));
          if (!h) return "invalid batch at offset " + std::to_string(next);
          if (h->base_offset != next) {
            return "offsets not contiguous: expected " + std::to_string(next) + ", found " +
                   std::to_string(h->base_offset);
          }
          if (it != by_offset.end() && it->first == h->base_offset) {
            auto want = batch_for(it->second.run, it->second.index);
            if (want.size() != h->size_bytes() ||
                !std::equal(want.begin() + 16, want.end(),
                            bytes.begin() + static_cast<long>(pos) + 16)) {
              return "acknowledged batch at offset " + std::to_string(next) + " differs";
            }
            ++it;
          } else if (it != by_offset.end() && it->first < h->base_offset) {
            return "acknowledged batch at offset " + std::to_string(it->first) + " is missing";
          }
          next = h->next_offset();
          pos += h->size_bytes();
        }
        if (r->next_offset != next) return "read cursor mismatch";
      }
      if (it != by_offset.end()) {
        return "acknowledged batch at offset " + std::to_string(it->first) +
               " lies beyond the recovered log end " + std::to_string(next);
      }
      return {};
    });
    std::promise<std::error_code> closed;
    shard.post([&] { (*log)->close([&](std::error_code ec) { closed.set_value(ec); }); });
    if (auto ec = closed.get_future().get()) return fail("close: " + ec.message());
    if (!problem.empty()) {
      return fail("after kill " + std::to_string(kills + 1) + ": " + problem +
                  " (rerun with --seed " + std::to_string(opt.seed) + ")");
    }
    std::printf(
        "kill %3d: +%zu acked, %zu acked in all verified, log end %lld, %s%s\n", kills + 1,
        new_acks, by_offset.size(), static_cast<long long>((*log)->log_end_offset()),
        report.clean() ? "recovery clean" : "recovery truncated a torn tail",
        run % 2 == 1 ? (replayed ? ", journal replayed" : ", journal (nothing to replay)") : "");
    std::fflush(stdout);
  }
  if (opt.keep.empty()) fs::remove_all(dir);
  std::printf(
      "crash_test: PASSED: %d kills, %zu acknowledged batches, none lost; %llu recoveries "
      "truncated %llu unacknowledged bytes\n",
      kills, by_offset.size(), static_cast<unsigned long long>(truncations),
      static_cast<unsigned long long>(truncated_bytes));
  return 0;
}
