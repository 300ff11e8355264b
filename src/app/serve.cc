#include "app/serve.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>

#include "app/server_config.h"
#include "base/config.h"
#include "base/executor.h"
#include "base/logging.h"
#include "storage/disk_space.h"
#include "storage/flusher.h"
#include "storage/log_manager.h"

namespace app {
namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Blocks the shutdown signals in this and every thread started later, so that only
// the main thread's sigtimedwait sees them.
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace

int serve(const serve_options& opts) {
  auto inputs = base::config_inputs::from_environ();
  if (!opts.config_file.empty()) inputs.file = opts.config_file;
  inputs.flags = opts.flags;
  if (opts.print_example) {
    std::fputs(base::render_example_toml(server_config_keys()).c_str(), stdout);
    return 0;
  }
  auto loaded = base::load(server_config_keys(), inputs);
  if (!loaded) {
    std::fprintf(stderr, "riptide: invalid configuration:\n%s\n", loaded.error().message.c_str());
    return 2;
  }
  const base::config& cfg = *loaded;
  if (opts.print_config) {
    std::fputs(base::render_effective(cfg).c_str(), stdout);
    return 0;
  }

  base::init_logging(*base::parse_log_format(cfg.get_string("log.format")),
                     *base::parse_log_level(cfg.get_string("log.level")));
  auto log = base::logger("app");
  const sigset_t signals = block_shutdown_signals();

  const std::filesystem::path data_dir = cfg.get_string("data_dir");
  const auto defaults = log_config_from(cfg);
  log->info("riptide {} starting: data directory {}, durability {}", opts.version,
            std::filesystem::absolute(data_dir).string(), storage::to_string(defaults.policy));

  base::task_thread shard;
  storage::disk_space disk(data_dir, static_cast<uint64_t>(cfg.get_int("storage.min_free_bytes")));
  int exit_code = 0;
  {
    storage::flusher flusher(static_cast<size_t>(cfg.get_int("storage.flush_threads")));
    storage::log_manager logs(data_dir, defaults, {&shard, &flusher, &disk, wall_ms});
    auto reports = shard.run([&] { return logs.open_all(); });
    if (!reports) {
      log->error(
          "cannot open data directory {}: {}. Check that it exists and is writable, and "
          "that no other riptide process uses it.",
          data_dir.string(), reports.error().message());
      return 1;
    }
    size_t truncated = 0;
    for (const auto& r : *reports) {
      if (r.clean()) {
        log->info("recovered {}", r.summary());
      } else {
        ++truncated;
        log->warn("recovered {}", r.summary());
      }
    }
    log->info("opened {} partition(s){}; ready. Stop with SIGINT or SIGTERM.", reports->size(),
              truncated ? fmt::format(", {} with a truncated unacknowledged tail", truncated) : "");

    const auto tick = cfg.get_duration("storage.housekeeping_interval");
    timespec timeout{static_cast<time_t>(tick.count() / 1000),
                     static_cast<long>(tick.count() % 1000) * 1'000'000};
    for (;;) {
      int sig = sigtimedwait(&signals, nullptr, &timeout);
      if (sig == SIGINT || sig == SIGTERM) {
        log->info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
      }
      shard.run([&] { logs.housekeeping(); });
    }

    std::promise<std::error_code> closed;
    shard.post([&] { logs.close_all([&](std::error_code ec) { closed.set_value(ec); }); });
    if (auto ec = closed.get_future().get()) {
      log->error("shutdown: some partitions could not be made durable: {}", ec.message());
      exit_code = 1;
    }
  }
  log->info("stopped; everything acknowledged is durable");
  return exit_code;
}

}  // namespace app
