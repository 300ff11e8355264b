// Storage micro-benchmarks: append throughput per durability policy, batch size and
// number of concurrent appenders; sequential read; and, in the same run and on the
// same directory, a plain one-writer write+fsync loop — the disk's physical limit for
// acknowledging one write at a time. A summary at the end compares them. Also the CRC-32C
// every produced batch is checked with, per implementation.
//
//   storage_bench --dir DIR [google benchmark flags]

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/crc32c.h"
#include "base/executor.h"
#include "storage/batch_builder.h"
#include "storage/partition_log.h"

namespace {

namespace fs = std::filesystem;

fs::path g_dir = "bench-data";
int g_run = 0;

struct figure {
  double mb_per_s = 0;
  double batches_per_fsync = 0;
  double avg_fsync_us = 0;
};
std::map<std::string, figure> g_figures;

// One uncompressed batch of about `bytes` bytes (10 records).
std::vector<uint8_t> batch_of(size_t bytes) {
  storage::batch_builder b(base::wall_ms());
  const size_t per_record = bytes > 200 ? (bytes - 61) / 10 - 12 : 4;
  std::string value(per_record, 'x');
  for (int i = 0; i < 10; ++i) b.add("key", value);
  return b.build();
}

fs::path fresh_dir(const std::string& name) {
  auto d = g_dir / (name + "-" + std::to_string(g_run++));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const char* policy_name(int p) {
  return p == 0 ? "fsync" : p == 1 ? "interval" : "page_cache";
}

// One timed round of appends; shared by the callbacks so it outlives the last of them.
struct iteration {
  std::promise<void> done;
  int target = 0;
  int issued = 0;
  int acked = 0;
  std::string error;
};

// One appender's request: append, wait until acknowledged, then (as a new task on the
// shard, like the next request of a producer) issue the next one.
void issue(const std::shared_ptr<iteration>& it, storage::partition_log* log,
           const std::vector<uint8_t>* batch, base::executor* shard) {
  if (it->issued == it->target) return;
  ++it->issued;
  auto r = log->append(*batch);
  if (!r) {
    it->error = r.error().message();
    it->target = --it->issued;  // stop issuing; finish once the issued ones are acked
    if (it->acked == it->target) it->done.set_value();
    return;
  }
  log->wait_durable(r->last_offset + 1, [it, log, batch, shard](std::error_code ec) {
    if (ec && it->error.empty()) it->error = ec.message();
    if (++it->acked == it->target) {
      it->done.set_value();
    } else {
      shard->post([it, log, batch, shard] { issue(it, log, batch, shard); });
    }
  });
}

// Appends `total` batches keeping `appenders` in flight (each one appends, waits until
// its batch is acknowledged under the policy, then appends the next), as a shard does
// with concurrent producer requests.
void BM_Append(benchmark::State& state) {
  const auto policy = static_cast<storage::durability>(state.range(0));
  const auto size = static_cast<size_t>(state.range(1));
  const int appenders = static_cast<int>(state.range(2));
  const auto batch = batch_of(size);
  const auto dir = fresh_dir("append");

  base::task_thread shard;
  storage::flusher flusher(2);
  storage::log_config cfg;
  cfg.policy = policy;
  cfg.segment_bytes = 256u << 20;
  storage::recovery_report report;
  auto log = *shard.run([&] {
    return storage::partition_log::open(dir / "bench-0", {"bench", 0}, cfg,
                                        {&shard, &flusher, nullptr, base::wall_ms, nullptr},
                                        report);
  });

  const int per_iteration = size >= 16384 ? 256 : 1024;
  int64_t batches = 0;
  const auto syncs_before = flusher.get_stats();
  for (auto _ : state) {
    auto it = std::make_shared<iteration>();
    it->target = per_iteration;
    auto done = it->done.get_future();
    shard.post([&] {
      for (int i = 0; i < appenders; ++i) issue(it, log.get(), &batch, &shard);
    });
    done.wait();
    if (!it->error.empty()) {
      state.SkipWithError(it->error.c_str());
      break;
    }
    batches += per_iteration;
  }
  const auto syncs = flusher.get_stats();
  std::promise<void> closed;
  shard.post([&] { log->close([&](std::error_code) { closed.set_value(); }); });
  closed.get_future().wait();
  fs::remove_all(dir);

  const uint64_t n_syncs = syncs.syncs - syncs_before.syncs;
  state.SetBytesProcessed(batches * static_cast<int64_t>(batch.size()));
  state.SetItemsProcessed(batches);
  state.counters["batches_per_fsync"] = n_syncs ? static_cast<double>(batches) / n_syncs : 0;
  state.counters["fsync_us"] =
      n_syncs ? (syncs.sync_nanos - syncs_before.sync_nanos) / 1000.0 / n_syncs : 0;
  state.SetLabel(std::string(policy_name(state.range(0))) + ", " + std::to_string(appenders) +
                 " appender(s)");
}

// The plain loop: one writer, pwrite then fdatasync, one batch-sized write at a time.
void BM_WriteFsyncLoop(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const auto dir = fresh_dir("plain");
  int fd = ::open((dir / "plain.log").c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<uint8_t> buf(batch_of(size).size(), 'x');
  off_t pos = 0;
  for (auto _ : state) {
    if (::pwrite(fd, buf.data(), buf.size(), pos) != static_cast<ssize_t>(buf.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
    pos += static_cast<off_t>(buf.size());
  }
  ::close(fd);
  fs::remove_all(dir);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buf.size()));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("write+fdatasync, 1 writer");
}

// Sequential read of a pre-filled log, 1 MiB per read, every batch's CRC checked.
void BM_SequentialRead(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const auto batch = batch_of(size);
  const auto dir = fresh_dir("read");
  base::task_thread shard;
  storage::flusher flusher(1);
  storage::log_config cfg;
  cfg.policy = storage::durability::page_cache;
  cfg.segment_bytes = 64u << 20;
  storage::recovery_report report;
  auto log = *shard.run([&] {
    return storage::partition_log::open(dir / "bench-0", {"bench", 0}, cfg,
                                        {&shard, &flusher, nullptr, base::wall_ms, nullptr},
                                        report);
  });
  const size_t fill = 256u << 20;
  shard.run([&] {
    for (size_t written = 0; written < fill; written += batch.size()) (void)log->append(batch);
  });
  int64_t bytes = 0;
  for (auto _ : state) {
    shard.run([&] {
      int64_t next = 0;
      while (next < log->log_end_offset()) {
        auto r = log->read(next, 1 << 20, {.max_offset = std::nullopt, .copy_bytes = true});
        if (!r) {
          state.SkipWithError(r.error().message().c_str());
          return;
        }
        bytes += static_cast<int64_t>(r->data.size());
        next = r->next_offset;
      }
    });
  }
  std::promise<void> closed;
  shard.post([&] { log->close([&](std::error_code) { closed.set_value(); }); });
  closed.get_future().wait();
  fs::remove_all(dir);
  state.SetBytesProcessed(bytes);
  state.SetLabel("pread + CRC-32C check, page cache warm");
}

// CRC-32C over one buffer: the dispatching entry point (hardware when the CPU has it) and
// the table-driven fallback.
void BM_Crc32c(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const bool portable = state.range(1) != 0;
  std::vector<uint8_t> buf(size);
  for (size_t i = 0; i < size; ++i) buf[i] = static_cast<uint8_t>(i * 131 + 7);
  for (auto _ : state) {
    uint32_t c = portable ? base::crc32c_extend_portable(0, buf.data(), size)
                          : base::crc32c_extend(0, buf.data(), size);
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
  const bool hardware = !portable && base::crc32c_hardware_available();
  state.SetLabel(hardware ? "crc32 instruction" : "table-driven");
}

void append_args(benchmark::internal::Benchmark* b) {
  for (int policy : {0, 1, 2}) {
    for (int size : {1024, 16384}) {
      for (int appenders : {1, 4}) b->Args({policy, size, appenders});
    }
  }
  b->ArgNames({"policy", "bytes", "appenders"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Append)->Apply(append_args);
BENCHMARK(BM_WriteFsyncLoop)->Arg(1024)->Arg(16384)->ArgName("bytes")->UseRealTime();
BENCHMARK(BM_SequentialRead)
    ->Arg(16384)
    ->ArgName("bytes")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Crc32c)
    ->ArgsProduct({{1024, 16384, 1 << 20}, {0, 1}})
    ->ArgNames({"bytes", "portable"});

// Collects MB/s per benchmark for the summary.
class summary_reporter : public benchmark::ConsoleReporter {
 public:
  summary_reporter() : ConsoleReporter(::isatty(1) ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      figure f;
      auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end()) f.mb_per_s = it->second.value / 1e6;
      if (auto c = r.counters.find("batches_per_fsync"); c != r.counters.end()) {
        f.batches_per_fsync = c->second.value;
      }
      if (auto c = r.counters.find("fsync_us"); c != r.counters.end())
        f.avg_fsync_us = c->second.value;
      g_figures[r.benchmark_name()] = f;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      g_dir = argv[++i];
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  fs::create_directories(g_dir);
  std::printf("storage_bench: data in %s\n", fs::absolute(g_dir).c_str());
  summary_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  auto find = [](const std::string& name) -> const figure* {
    auto it = g_figures.find(name);
    return it == g_figures.end() ? nullptr : &it->second;
  };
  const figure* group = find("BM_Append/policy:0/bytes:16384/appenders:4/real_time");
  const figure* single = find("BM_Append/policy:0/bytes:16384/appenders:1/real_time");
  const figure* plain = find("BM_WriteFsyncLoop/bytes:16384/real_time");
  if (group && plain && plain->mb_per_s > 0) {
    char one[160] = "";
    if (single) {
      std::snprintf(one, sizeof one, " (with 1 appender: %.1f MB/s, %.2f batches per fsync)",
                    single->mb_per_s, single->batches_per_fsync);
    }
    std::printf(
        "\nGroup commit, 16 KiB batches, 4 appenders, fsync before ack: %.1f MB/s = %.2fx the "
        "plain one-writer write+fsync loop (%.1f MB/s).\n",
        group->mb_per_s, group->mb_per_s / plain->mb_per_s, plain->mb_per_s);
    std::printf(
        "Each fsync covered %.2f batches on average and took %.0f us: the bound is the "
        "disk's fsync latency; group commit amortises it over every append made while the "
        "previous fsync ran%s.\n",
        group->batches_per_fsync, group->avg_fsync_us, one);
  }
  return 0;
}
