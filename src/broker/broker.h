#pragma once
// broker: the rules of the platform, shared by every front door (Kafka, HTTP).
// Owns the topic table (kept on shard 0, persisted in the data directory, published
// to every shard as an immutable snapshot) and, per shard, the logs of the
// partitions that shard owns.

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "base/metrics.h"
#include "base/result.h"
#include "broker/topic_config.h"
#include "net/asio.h"
#include "net/shard.h"
#include "storage/disk_space.h"
#include "storage/flusher.h"
#include "storage/log_manager.h"

namespace broker {

enum class errc {
  ok = 0,
  topic_exists,
  unknown_topic,
  invalid_topic_name,
  invalid_partitions,
  invalid_config,
  invalid_replication_factor,
  storage_error,
};
const std::error_category& broker_category();
inline std::error_code make_error_code(errc e) {
  return {static_cast<int>(e), broker_category()};
}

struct topic_metadata {
  std::string name;
  int32_t partitions = 0;
  config_map configs;
  std::array<uint8_t, 16> id{};
  storage::log_config log;  // broker defaults with this topic's overrides applied
  // Traffic counters (owned by the metrics registry, shared by every shard).
  base::metrics::counter* bytes_in = nullptr;
  base::metrics::counter* records_in = nullptr;
  base::metrics::counter* bytes_out = nullptr;
  base::metrics::counter* records_out = nullptr;
};

// What /metrics reports per partition, gathered on the owning shard.
struct partition_stats {
  storage::ntp name;
  uint64_t size_bytes;
  int64_t log_start;
  int64_t high_watermark;
  int64_t log_end;
};

struct metadata_snapshot {
  std::map<std::string, std::shared_ptr<const topic_metadata>, std::less<>> topics;
  std::shared_ptr<const topic_metadata> find(std::string_view name) const {
    auto it = topics.find(name);
    return it == topics.end() ? nullptr : it->second;
  }
};

struct broker_options {
  std::filesystem::path data_dir;
  storage::log_config defaults;
  bool auto_create_topics = true;
  int32_t default_partitions = 1;
  size_t flush_threads = 2;
  uint64_t min_free_bytes = 64ull << 20;
};

class broker {
 public:
  broker(net::shard_set& shards, broker_options opts);
  ~broker();

  // Loads the topic table and opens every partition on its owning shard. Call before
  // the shards serve requests, from a thread that is not a shard.
  base::result<std::vector<storage::recovery_report>> start();
  // Closes every log (durable, recovery points written). Not from a shard thread.
  std::error_code stop();
  // Periodic retention on every shard. Not from a shard thread.
  void housekeeping();

  const broker_options& options() const { return opts_; }
  unsigned owner(std::string_view topic, int32_t partition) const;
  // The calling shard's snapshot of the topic table.
  std::shared_ptr<const metadata_snapshot> metadata() const;
  // The log of a partition owned by the calling shard (nullptr if none).
  std::shared_ptr<storage::partition_log> local_log(const storage::ntp& name) const;

  // Admin operations; each runs on shard 0 and fans out to the partition owners.
  net::task<std::error_code> create_topic(std::string name, int32_t partitions, config_map configs,
                                          bool validate_only = false);
  net::task<std::error_code> delete_topic(std::string name);
  net::task<std::error_code> create_partitions(std::string name, int32_t total,
                                               bool validate_only = false);
  net::task<std::error_code> alter_topic_config(std::string name, config_map configs,
                                                bool validate_only = false);

  net::shard_set& shards() { return shards_; }
  // The partitions of the calling shard (run it on each shard to cover all).
  net::task<std::vector<partition_stats>> local_partition_stats();

 private:
  base::status save_table() const;
  base::status load_table();
  net::task<void> publish();
  net::task<std::error_code> open_partitions(std::shared_ptr<const topic_metadata> t, int32_t from);
  // Bodies of the admin operations, run on shard 0.
  net::task<std::error_code> do_create_topic(std::string name, int32_t partitions,
                                             config_map configs, bool validate_only);
  net::task<std::error_code> do_delete_topic(std::string name);
  net::task<std::error_code> do_create_partitions(std::string name, int32_t total,
                                                  bool validate_only);
  net::task<std::error_code> do_alter_topic_config(std::string name, config_map configs,
                                                   bool validate_only);
  // Per-shard steps, run on the shard named.
  net::task<void> set_snapshot(unsigned shard, std::shared_ptr<const metadata_snapshot> s);
  net::task<std::error_code> create_log(unsigned shard, std::shared_ptr<const topic_metadata> t,
                                        int32_t partition);
  net::task<void> remove_log(unsigned shard, std::string topic, int32_t partition);
  net::task<void> configure_log(unsigned shard, std::shared_ptr<const topic_metadata> t,
                                int32_t partition);

  net::shard_set& shards_;
  broker_options opts_;
  storage::disk_space disk_;
  std::unique_ptr<storage::flusher> flusher_;
  std::vector<std::unique_ptr<storage::log_manager>> managers_;  // index: shard
  // The table itself: touched only on shard 0.
  std::map<std::string, std::shared_ptr<const topic_metadata>, std::less<>> table_;
  // Per-shard published snapshot: each is read and replaced only on its shard.
  std::vector<std::shared_ptr<const metadata_snapshot>> snapshots_;
};

}  // namespace broker

template <>
struct std::is_error_code_enum<broker::errc> : true_type {};
