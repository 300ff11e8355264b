#pragma once
// broker: the rules of the platform, shared by every front door (Kafka, HTTP).
// Owns the topic table (kept on shard 0, persisted in the data directory as a log of
// changes, published to every shard as an immutable snapshot) and, per shard, the logs
// of the partitions that shard owns.

#include <array>
#include <atomic>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "base/metrics.h"
#include "base/result.h"
#include "broker/delay_store.h"
#include "broker/errc.h"
#include "broker/group_coordinator.h"
#include "broker/group_service.h"
#include "broker/identity.h"
#include "broker/partition_service.h"
#include "broker/placement.h"
#include "broker/queue_coordinator.h"
#include "broker/topic_config.h"
#include "broker/topic_table.h"
#include "net/task.h"
#include "storage/cleaner_thread.h"
#include "storage/disk_space.h"
#include "storage/flusher.h"
#include "storage/log_manager.h"

namespace net {
class shard_set;
}

namespace broker {

struct topic_metadata {
  std::string name;
  int32_t partitions = 0;
  config_map configs;  // this topic's own overrides
  // The topic configs the dynamic broker configs set as defaults (topic keys), and those
  // with `configs` over them: what applies to the topic.
  config_map inherited;
  config_map effective;
  std::array<uint8_t, 16> id{};
  storage::log_config log;        // broker defaults with this topic's overrides applied
  int64_t delivery_delay_ms = 0;  // riptide.delivery.delay.ms of `effective` (delayed delivery)
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
  std::string failure;  // why the log is read-only or not open (empty: it is writable)
};

struct metadata_snapshot {
  std::map<std::string, std::shared_ptr<const topic_metadata>, std::less<>> topics;
  config_map broker_configs;  // the dynamic broker configs and logger levels
  std::shared_ptr<const topic_metadata> find(std::string_view name) const {
    auto it = topics.find(name);
    return it == topics.end() ? nullptr : it->second;
  }
};

// Bounds on the objects clients can make the broker hold (each partition costs
// descriptors, memory and start time). Over one, an admin operation is refused with an
// error naming the limit's configuration key; nothing is created.
struct object_limits {
  int32_t max_topics = 10000;             // limits.max_topics (__consumer_offsets included)
  int32_t max_partitions = 10000;         // limits.max_partitions, over every topic
  int32_t max_topics_per_request = 1000;  // limits.max_topics_per_request
};

// What an admin operation answers: success, or an error and the message a client is
// shown (empty: the error's own message).
struct admin_result {
  std::error_code error;
  std::string message;

  admin_result() = default;
  admin_result(std::error_code ec, std::string msg = {})  // NOLINT(implicit)
      : error(ec), message(std::move(msg)) {}
  admin_result(errc e, std::string msg = {})  // NOLINT(implicit)
      : error(make_error_code(e)), message(std::move(msg)) {}
  bool ok() const { return !error; }
  std::string text() const { return message.empty() ? error.message() : message; }
};

struct broker_options {
  std::filesystem::path data_dir;
  storage::log_config defaults;
  bool auto_create_topics = true;
  queue_options queues;
  delay_options delays;
  int32_t default_partitions = 1;
  size_t flush_threads = 2;
  // A write-ahead journal per shard for topics under durability::fsync.
  bool journal = true;
  uint64_t journal_file_bytes = 16ull << 20;
  uint64_t min_free_bytes = 64ull << 20;
  // Open .log files of sealed segments, over all shards (each shard caches its share).
  size_t max_open_segment_files = 1024;
  storage::cleaner_options cleaner;  // compaction of cleanup.policy=compact topics
  group_options groups;
  object_limits limits;
  table_file_options table_file;  // when the topic table's file is rewritten
  bool fault_injection = false;
  std::string log_level = "info";  // the level loggers without a dynamic level use
};

// Fault injection for tests of client retries; refused unless enabled in the
// configuration. Front doors watch it; the HTTP admin listener flips it.
struct fault_switch {
  bool enabled = false;
  // Bumped to make every Kafka connection close instead of sending its next response.
  std::atomic<uint64_t> cut_connections{0};
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
  // Periodic retention and compaction on every shard. Not from a shard thread.
  void housekeeping();

  const broker_options& options() const { return opts_; }
  // The data directory's cluster id and node id (after start()).
  const data_dir_identity& identity() const { return identity_; }
  int32_t node_id() const { return node_id_; }
  // Where each partition lives (node, shard, replicas); owner() is its shard here.
  const placement& partitions() const { return *placement_; }
  unsigned owner(std::string_view topic, int32_t partition) const;
  // The calling shard's snapshot of the topic table.
  std::shared_ptr<const metadata_snapshot> metadata() const;
  // What every front door does with partitions' records (produce, read, wait, offsets).
  partition_service& data() { return *data_; }
  // The log of a partition owned by the calling shard (nullptr if none).
  std::shared_ptr<storage::partition_log> local_log(const storage::ntp& name) const;

  // Admin operations; each runs on shard 0, one at a time, and fans out to the
  // partition owners. A create or delete writes its intent to the topic table before it
  // touches partition directories and its outcome after: one that fails half-way is
  // rolled back (create) or finished (delete), at once or at the next start.
  // Creations over the object limits are refused before anything is written.
  // `who` asked for it: the log of admin operations names it.
  net::task<admin_result> create_topic(const request_identity& who, std::string name,
                                       int32_t partitions, config_map configs,
                                       bool validate_only = false);
  net::task<std::error_code> delete_topic(const request_identity& who, std::string name);
  net::task<admin_result> create_partitions(const request_identity& who, std::string name,
                                            int32_t total, bool validate_only = false);
  // The refusal of a topic beyond limits.max_topics_per_request in one request
  // (errc::too_many_topics_in_request), counted and logged (rate-limited).
  admin_result refuse_over_request_limit(std::string_view topic, std::string_view api) const;
  net::task<std::error_code> alter_topic_config(const request_identity& who, std::string name,
                                                config_map configs, bool validate_only = false);
  // Replaces the dynamic broker configs and logger levels (see broker_config.h), persists
  // them and applies them to every topic that does not override them.
  net::task<std::error_code> alter_broker_config(const request_identity& who, config_map dynamic,
                                                 bool validate_only = false);
  // Incremental forms: `edit` changes the current configs (a topic's overrides, or the
  // dynamic broker configs) in place on shard 0, while no other admin operation runs, so
  // two concurrent edits of one resource both apply. An error from `edit` is returned
  // and nothing changes.
  net::task<std::error_code> edit_topic_config(const request_identity& who, std::string name,
                                               config_edit edit, bool validate_only = false);
  net::task<std::error_code> edit_broker_config(const request_identity& who, config_edit edit,
                                                bool validate_only = false);

  net::shard_set& shards() { return shards_; }
  fault_switch& faults() { return faults_; }
  // The data directory's free-space guard (any thread).
  storage::disk_space& disk() { return disk_; }

  // Consumer groups: the partition of the offsets topic a group's commits go to, and
  // the shard that owns that partition and therefore the group.
  int32_t offsets_partition(std::string_view group_id) const;
  unsigned group_shard(std::string_view group_id) const {
    return owner(offsets_topic, offsets_partition(group_id));
  }
  // Consumer groups for every front door (routes each call to the group's shard).
  group_service& groups() { return groups_; }
  // The calling shard's coordinator, and any shard's (use it only on that shard).
  group_coordinator& local_groups();
  group_coordinator& coordinator(unsigned shard) { return *coordinators_[shard]; }
  // Queue subscriptions (queue_coordinator.h): a queue lives on the shard that owns its
  // partition of the offsets topic, as a group of the same name would.
  unsigned queue_shard(std::string_view queue) const { return group_shard(queue); }
  queue_coordinator& local_queues();
  // The calling shard's partitions of the offsets topic.
  std::vector<std::shared_ptr<storage::partition_log>> local_offsets_logs() const;
  static bool is_internal(std::string_view topic) {
    return topic == offsets_topic || topic == delayed_topic;
  }
  // The calling shard's records held for delayed delivery (delay_store.h).
  delay_store& local_delays();
  // Makes the internal topic of held records if it does not exist yet (any shard).
  net::task<std::error_code> create_delayed_topic();

  // A producer id never handed out before by this data directory (InitProducerId);
  // -1 if the reservation could not be written.
  net::task<int64_t> allocate_producer_id();
  // Every partition of the broker (each gathered on its owning shard).
  net::task<std::vector<partition_stats>> partition_stats_all();

 private:
  // Admin operations one at a time on shard 0: each holds it from its checks to its
  // outcome, so none sees another's half-done state (or interleaves its table lines).
  class admin_lock {
   public:
    net::task<void> lock();
    void unlock();

   private:
    bool held_ = false;
    std::deque<std::function<void(bool)>> waiters_;
  };
  struct admin_hold;

  // At start: reads the table's file, rolls back or finishes what a stop interrupted,
  // and moves aside partition directories of no topic in the table.
  base::status load_table();
  base::status resolve_intent(table_entry e);
  base::status sweep_orphaned_directories();
  // Runs blocking file work on a flusher thread; the caller resumes on its shard.
  net::task<base::status> off_shard(std::function<base::status()> job);
  // Appends a change to the table's file on a flusher thread (shard 0, admin lock held).
  net::task<base::status> write_table(table_entry e);
  net::task<base::status> write_table_removal(std::string name);
  // Refusal when `topics` more topics with `partitions` more partitions would pass a
  // limit; logged and counted. (Shard 0.)
  std::optional<admin_result> check_limits(std::string_view topic, int32_t topics,
                                           int64_t partitions, std::string_view api) const;
  admin_result refuse(std::string_view key, errc code, std::string message) const;
  // Why `total` partitions cannot be given to topic `name` now, if they cannot.
  std::optional<admin_result> check_new_partitions(std::string_view name, int32_t total) const;
  std::shared_ptr<topic_metadata> make_topic(const table_entry& e) const;
  // Closes and removes partitions [from, to) of a topic, registered with a log manager
  // or not; the first error, having tried them all.
  net::task<std::error_code> discard_partitions(std::string topic, int32_t from, int32_t to);
  // Undoes a create (`restore` empty: the topic's line is removed) or an addition of
  // partitions (`restore`: the topic as it was) that failed at partitions [from, to):
  // their directories go, then the table records it. What cannot be undone now is logged
  // and finished at the next start.
  net::task<void> roll_back_partitions(std::string topic, int32_t from, int32_t to,
                                       std::optional<table_entry> restore);
  net::task<void> discard_one(std::string topic, int32_t partition,
                              std::shared_ptr<std::error_code> first);
  net::task<std::error_code> discard_log(unsigned shard, std::string topic, int32_t partition);
  // Renames a partition directory out of the way and removes it on a flusher thread.
  std::error_code discard_directory(const std::filesystem::path& dir);
  base::status load_producer_ids();
  net::task<void> publish();
  net::task<std::error_code> open_partitions(std::shared_ptr<const topic_metadata> t, int32_t from);
  // Bodies of the admin operations, run on shard 0 (`who` by value: they may wait for the
  // admin lock long after the caller's request has moved on).
  net::task<admin_result> do_create_topic(request_identity who, std::string name,
                                          int32_t partitions, config_map configs,
                                          bool validate_only);
  net::task<std::error_code> do_delete_topic(request_identity who, std::string name);
  net::task<admin_result> do_create_partitions(request_identity who, std::string name,
                                               int32_t total, bool validate_only);
  net::task<std::error_code> do_alter_topic_config(request_identity who, std::string name,
                                                   config_map configs, bool validate_only,
                                                   config_edit edit);
  net::task<std::error_code> do_alter_broker_config(request_identity who, config_map dynamic,
                                                    bool validate_only, config_edit edit);
  // Sets a topic's inherited and effective configs and its log settings from the broker
  // defaults, the dynamic broker configs and its own overrides (on shard 0).
  void fill_config(topic_metadata& t) const;
  // Per-shard steps, run on the shard named.
  net::task<int64_t> do_allocate_producer_id();
  base::status ensure_offsets_topic();
  base::status ensure_delayed_topic();
  // At start: re-appends what the journals hold beyond the recovered logs, then
  // replaces the journal files by fresh ones (when enabled).
  base::status replay_journals(std::vector<storage::recovery_report>& reports);
  // The partitions of the calling shard.
  net::task<std::vector<partition_stats>> local_partition_stats();
  net::task<void> set_snapshot(unsigned shard, std::shared_ptr<const metadata_snapshot> s);
  net::task<std::error_code> create_log(unsigned shard, std::shared_ptr<const topic_metadata> t,
                                        int32_t partition);
  net::task<void> configure_log(unsigned shard, std::shared_ptr<const topic_metadata> t,
                                int32_t partition);

  net::shard_set& shards_;
  broker_options opts_;
  int32_t node_id_ = 0;  // a single node is node 0
  config_map dynamic_;   // dynamic broker configs: touched only on shard 0
  data_dir_identity identity_;
  storage::disk_space disk_;
  std::unique_ptr<storage::flusher> flusher_;
  // Before the managers: their cleaners must be gone before the thread they use.
  std::unique_ptr<storage::cleaner_thread> cleaner_;
  std::vector<std::unique_ptr<storage::log_manager>> managers_;  // index: shard
  std::vector<std::shared_ptr<storage::journal>> journals_;      // index: shard
  // The table itself (live topics): touched only on shard 0.
  std::map<std::string, std::shared_ptr<const topic_metadata>, std::less<>> table_;
  int64_t table_partitions_ = 0;  // over table_
  // Deleted topics whose directories could not all be removed yet (name: partitions);
  // the name is reused only once they are.
  std::map<std::string, int32_t, std::less<>> unfinished_deletes_;
  std::unique_ptr<topic_table_file> table_file_;  // shard 0's, see write_table
  admin_lock admin_;
  // Per-shard published snapshot: each is read and replaced only on its shard.
  std::vector<std::shared_ptr<const metadata_snapshot>> snapshots_;
  std::unique_ptr<placement> placement_;  // after node_id_ and the shards: built from them
  std::vector<std::unique_ptr<group_coordinator>> coordinators_;  // index: shard
  std::vector<std::unique_ptr<queue_coordinator>> queues_;        // index: shard
  std::vector<std::unique_ptr<delay_store>> delays_;              // index: shard
  std::unique_ptr<partition_service> data_;
  group_service groups_{*this};
  fault_switch faults_;
  int32_t offsets_partitions_ = 1;
  // Producer ids: handed out on shard 0 from a block reserved in the data directory.
  int64_t next_producer_id_ = 0;
  int64_t producer_id_limit_ = 0;
};

}  // namespace broker
