#pragma once
// partition_service: what every front door (Kafka today; HTTP, WebSocket, queues and
// replicas next) does with a partition's records, knowing nothing of any wire format.
//
//   produce  a batch in, offsets out, once the topic's durability policy is met
//   read     whole batches from an offset within byte bounds (file ranges, zero-copy)
//   watch    wake any number of waiters when a partition's readable end moves
//   offsets  earliest, latest, by timestamp, max timestamp; DeleteRecords
//
// Each call names the partition by topic and number and carries who is asking; the
// service finds the partition's owner (placement), hops there, and answers on the
// caller's shard. Errors are broker::errc only (storage and system errors translated
// here), so each front door maps one error type. Call from a shard thread.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "base/iobuf.h"
#include "broker/request_identity.h"
#include "net/task.h"
#include "storage/ntp.h"

namespace storage {
class partition_log;
}

namespace broker {

class broker;
struct topic_metadata;
using topic_partition = storage::ntp;

struct produce_options {
  bool wait_durable = true;   // false: answer at once (Kafka acks=0)
  bool all_replicas = false;  // the caller asks for every in-sync replica (Kafka acks=all)
  bool allow_zstd = true;     // the front door's protocol version allows zstd batches
  // Store the records as they are, whatever their delayed-delivery headers or the topic's
  // riptide.delivery.delay.ms say (the broker moving held records to their topic).
  bool deliver_now = false;
};

struct produce_result {
  std::error_code error;
  int64_t base_offset = -1;
  int64_t log_append_time = -1;  // the broker's time on LogAppendTime topics, else -1
  int64_t log_start_offset = -1;
  int32_t records = 0;  // records stored (0 for a retried batch stored before)
  // Records held for delayed delivery (delay_store.h): their places in the batch (from 0);
  // the others have their offsets from base_offset.
  std::vector<int32_t> held;
  bool duplicate = false;
};

struct read_result {
  std::error_code error;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  int64_t next_offset = -1;  // after the last batch returned
  base::iobuf records;       // whole batches (file ranges where possible)
};

// The partitions of one read, resolved once (their topics and owners) and read as
// often as a long poll needs: one hop per owning shard, the caller's own first.
class read_plan {
 public:
  struct part {
    topic_partition name;
    int64_t offset = 0;
    size_t max_bytes = 0;
  };
  size_t size() const { return parts_.size(); }
  const part& at(size_t i) const { return parts_[i]; }

 private:
  friend class partition_service;
  struct entry {
    size_t index;  // into parts_
    std::shared_ptr<const topic_metadata> topic;
  };
  struct shard_group {
    unsigned owner = 0;
    std::vector<entry> entries;
  };
  std::vector<part> parts_;
  std::vector<std::error_code> errors_;  // per part: unknown before any read
  std::vector<shard_group> groups_;
};

// One party waiting for data (a Kafka long poll, a subscriber, a follower). wake() is
// called at most once, on the owning shard of the first partition that passes its
// offset: it must only hand the news to its own executor. A waiter its owner has
// finished with is forgotten at the next change of any partition it waits on.
class data_waiter {
 public:
  explicit data_waiter(std::function<void()> wake) : wake_(std::move(wake)) {}
  // Any thread: no wake is wanted any more.
  void finish() { finished_.store(true, std::memory_order_relaxed); }
  bool finished() const { return finished_.load(std::memory_order_relaxed); }

 private:
  friend class partition_service;
  // Calls wake_ unless finished or already woken (owner shards only; atomically once).
  void fire();
  std::function<void()> wake_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> fired_{false};
};

enum class offset_spec {
  latest,         // the high watermark: the offset the next readable record gets
  earliest,       // the log start
  max_timestamp,  // the first record with the largest timestamp
  by_timestamp,   // the first record whose timestamp is >= the one given
};

struct offset_result {
  std::error_code error;
  int64_t offset = -1;  // -1: no such record
  int64_t timestamp = -1;
};

struct producer_info {
  int64_t producer_id = -1;
  int16_t epoch = -1;
  int32_t last_sequence = -1;
  int64_t last_write_ms = -1;
};

struct producers_result {
  std::error_code error;
  std::vector<producer_info> producers;
};

struct trim_result {
  std::error_code error;
  int64_t log_start_offset = -1;
};

class partition_service {
 public:
  explicit partition_service(broker& b);
  ~partition_service();
  partition_service(const partition_service&) = delete;
  partition_service& operator=(const partition_service&) = delete;

  // Appends one RecordBatch v2 to the partition and answers once it is durable under
  // the topic's policy (or at once without wait_durable). The batch's bytes must stay
  // valid until the call completes. Records due later (delayed_records.h) are held, durably
  // before the answer, and appended when due; the rest of the batch is stored at once
  // (base_offset -1 when nothing is).
  net::task<produce_result> produce(const request_identity& who, topic_partition tp,
                                    std::span<const uint8_t> batch, produce_options opts);

  // Resolves the partitions of a read (topics, owners); unknown ones answer
  // errc::unknown_topic from every read of the plan.
  read_plan plan_read(const request_identity& who, std::vector<read_plan::part> parts) const;
  // Reads every partition of the plan, in the plan's order within each owning shard,
  // within each part's max_bytes and `total_max_bytes` over all (KIP-74): only the first
  // batch of the whole read may exceed them, so a reader always makes progress; a later
  // partition whose next batch does not fit returns nothing. Results in the plan's order.
  net::task<std::vector<read_result>> read(const request_identity& who, const read_plan& plan,
                                           size_t total_max_bytes);
  // Parks `w` on each (partition, offset) of the plan for which `wanted` is true, until
  // that partition's high watermark passes the offset; wakes it at once if one already
  // has (or has failed). Any number of waiters per partition.
  net::task<void> watch(const read_plan& plan, std::vector<bool> wanted,
                        std::shared_ptr<data_waiter> w);

  net::task<offset_result> list_offset(const request_identity& who, topic_partition tp,
                                       offset_spec spec, int64_t timestamp = -1);
  // The offset the partition's next record will get (written, not yet durable included).
  net::task<offset_result> log_end(const request_identity& who, topic_partition tp);
  // DeleteRecords: moves the log start up to `offset` (-1: the high watermark); answers
  // once the new start is on disk.
  net::task<trim_result> delete_records(const request_identity& who, topic_partition tp,
                                        int64_t offset);
  // The partition's idempotent producers, as its sequence checks know them.
  net::task<producers_result> producers(const request_identity& who, topic_partition tp);

 private:
  struct shard_waiters;
  // Checks the topic and partition against the calling shard's topic table.
  std::error_code check_partition(const topic_partition& tp,
                                  std::shared_ptr<const topic_metadata>* out) const;
  struct append_request {
    bool wait = true;
    bool deliver_now = false;
    int64_t delay_ms = 0;     // the topic's riptide.delivery.delay.ms
    bool made_store = false;  // the internal topic of held records was just made
    std::array<uint8_t, 16> topic_id{};
  };
  net::task<produce_result> append_on_owner(topic_partition tp, std::span<const uint8_t> batch,
                                            append_request req);
  // The part of append_on_owner for a batch with records to hold.
  net::task<produce_result> hold_on_owner(std::shared_ptr<storage::partition_log> log,
                                          topic_partition tp, std::span<const uint8_t> batch,
                                          append_request req);
  net::task<std::vector<read_result>> read_on_owner(const read_plan& plan, size_t group,
                                                    size_t used, size_t total_max_bytes);
  void park(const topic_partition& tp, int64_t offset, const std::shared_ptr<data_waiter>& w);
  net::task<void> park_on_owner(std::vector<std::pair<topic_partition, int64_t>> parts,
                                std::shared_ptr<data_waiter> w);
  net::task<offset_result> offset_on_owner(topic_partition tp, offset_spec spec, int64_t ts);
  net::task<offset_result> log_end_on_owner(topic_partition tp);
  net::task<trim_result> trim_on_owner(topic_partition tp, int64_t offset);
  net::task<producers_result> producers_on_owner(topic_partition tp);

  broker& broker_;
  std::vector<std::unique_ptr<shard_waiters>> waiters_;  // index: shard
};

}  // namespace broker
