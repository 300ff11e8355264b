#pragma once
// queue_coordinator: the queue subscriptions of one shard (queue_state.h has the model).
//
// A queue is owned, like a consumer group of the same name, by the shard that owns its
// partition of the offsets topic (broker::queue_shard); its definition and one snapshot
// per topic partition are records of that partition, replayed at start and compacted
// with it. Every change a worker is told about (records handed out, acks, nacks,
// extensions, dead letters) is durable before the answer: an acknowledged record is
// never handed out again, a lease survives a restart, and delivery counts too. Records
// are read from the topic through the partition service; dead-lettered ones are
// produced to the queue's dead-letter topic, with headers naming where they came from,
// before they count as finished.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "base/result.h"
#include "broker/queue_state.h"
#include "broker/records.h"
#include "broker/request_identity.h"
#include "net/task.h"

namespace broker {

class broker;

struct queue_options {
  size_t max_queues = 1000;  // queues the broker keeps
  // The largest max_in_flight a queue may ask for: a partition's snapshot (up to this many
  // records, with worker names and error texts) must fit one batch of the offsets topic.
  int32_t max_in_flight = 2000;
  int64_t max_visibility_ms = 12LL * 3600 * 1000;
};

// Headers of a dead-lettered record (besides the record's own).
inline constexpr const char* dlq_header_topic = "riptide-dlq-topic";
inline constexpr const char* dlq_header_partition = "riptide-dlq-partition";
inline constexpr const char* dlq_header_offset = "riptide-dlq-offset";
inline constexpr const char* dlq_header_deliveries = "riptide-dlq-deliveries";
inline constexpr const char* dlq_header_error = "riptide-dlq-error";
inline constexpr const char* dlq_header_queue = "riptide-dlq-queue";

struct queue_message {
  int32_t partition = 0;
  record rec;
  int32_t deliveries = 0;
  int64_t lease_until_ms = 0;
};

struct queue_receive_result {
  std::error_code error;
  std::vector<queue_message> messages;
};

struct queue_settle_item {
  int32_t partition = 0;
  int64_t offset = 0;
};

struct queue_settle_result {
  std::error_code error;
  std::vector<settle_error> outcomes;  // per item, in order
};

struct queue_partition_info {
  int32_t partition = 0;
  int64_t start = -1;
  int64_t next = -1;
  int64_t log_end = -1;  // the partition's high watermark: log_end - next never handed out
  queue_partition::counts counts;
};

struct queue_info {
  std::error_code error;
  queue_definition def;
  std::vector<queue_partition_info> partitions;
  uint64_t dead_lettered = 0;  // since the broker started
  uint64_t redeliveries = 0;
  uint64_t lease_expiries = 0;
};

// Where a queue stands in one partition, for /metrics: with the partition's high watermark
// it gives the records never handed out (high watermark - next).
struct queue_position_stat {
  std::string queue;
  std::string topic;
  int32_t partition = 0;
  int64_t next = 0;
  uint64_t available = 0;  // handed out before and available again, delayed ones included
  uint64_t delayed = 0;
};

struct queue_create_result {
  std::error_code error;
  std::string message;
  queue_definition def;
  bool created = false;  // false: it existed with the same definition
};

// Cuts a waiting receive short, from any thread: a WebSocket worker's decision arrived
// and must not wait behind the long poll for records.
class receive_interrupt {
 public:
  void fire() {
    std::function<void()> cancel;
    {
      std::lock_guard lock(mu_);
      fired_ = true;
      cancel = std::move(cancel_);
      cancel_ = nullptr;
    }
    if (cancel) cancel();
  }
  bool fired() const {
    std::lock_guard lock(mu_);
    return fired_;
  }
  // Before a new receive, on the thread that fires it.
  void reset() {
    std::lock_guard lock(mu_);
    fired_ = false;
  }
  // The receive: `cancel` ends its wait (at once when fired already), until disarm().
  void arm(std::function<void()> cancel) {
    std::unique_lock lock(mu_);
    if (fired_) {
      lock.unlock();
      cancel();
      return;
    }
    cancel_ = std::move(cancel);
  }
  void disarm() {
    std::lock_guard lock(mu_);
    cancel_ = nullptr;
  }

 private:
  mutable std::mutex mu_;
  bool fired_ = false;
  std::function<void()> cancel_;
};

class queue_coordinator {
 public:
  queue_coordinator(broker& b, unsigned shard, queue_options opts);
  ~queue_coordinator();
  queue_coordinator(const queue_coordinator&) = delete;
  queue_coordinator& operator=(const queue_coordinator&) = delete;

  // Replays this shard's partitions of the offsets topic (on this shard, at start).
  base::status load();
  net::task<void> run_timers();
  void stop();

  net::task<queue_create_result> create(request_identity who, queue_definition q);
  net::task<std::error_code> remove(request_identity who, std::string name);
  std::vector<queue_definition> list() const;
  std::vector<queue_position_stat> position_stats() const;
  net::task<queue_info> describe(request_identity who, std::string name);
  // Up to `max_records` records (about `max_bytes`), leased to `consumer`; waits up to
  // `wait` for one, or until `interrupt` (if any) fires.
  net::task<queue_receive_result> receive(request_identity who, std::string name,
                                          std::string consumer, size_t max_records,
                                          size_t max_bytes, std::chrono::milliseconds wait,
                                          std::shared_ptr<receive_interrupt> interrupt);
  // `ms`: nack's delay or extend's lease (0: the visibility timeout); `error`: why (nack,
  // reject), kept for the dead-letter headers.
  net::task<queue_settle_result> settle(request_identity who, std::string name,
                                        std::string consumer, settle_action action,
                                        std::vector<queue_settle_item> items, int64_t ms,
                                        std::string error);

 private:
  struct pending_writes;
  struct entry;
  struct ticker;
  entry* find(const std::string& name);
  // Keys and values (none: a tombstone) of records in the offsets topic.
  using state_records =
      std::vector<std::pair<std::vector<uint8_t>, std::optional<std::vector<uint8_t>>>>;
  net::task<std::error_code> persist(const std::string& name, std::vector<int32_t> partitions,
                                     bool definition);
  // persist() of `partitions` together with the other receives and settles waiting.
  net::task<std::error_code> persist_grouped(const std::string& name,
                                             std::vector<int32_t> partitions);
  net::task<void> write_loop(std::string name, std::shared_ptr<pending_writes> w);
  net::task<std::error_code> write(std::string name, state_records records);
  net::task<void> dead_letter(std::string name, int32_t partition, std::vector<int64_t> offsets);
  net::task<void> expire_all();
  void wake_receivers(entry& e);

  broker& broker_;
  unsigned shard_;
  queue_options opts_;
  std::map<std::string, std::unique_ptr<entry>, std::less<>> queues_;
  std::unique_ptr<ticker> timer_;
  bool stopping_ = false;
};

}  // namespace broker
