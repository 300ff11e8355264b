#pragma once
// delay_store: the records held for delayed delivery on one shard, and their move to
// their topics when due (delayed_records.h has the formats).
//
// Held records are records of the shard's partition of the internal topic
// `__riptide_delayed` (compacted; durable like any fsync topic), written before the
// produce that held them is answered. What is in memory is an index, not the records:
//   - a bit per offset of the partition (pending or not), from the oldest pending one;
//   - the (due, offset) pairs due within delay_options::near_ms, in a heap;
//   - later ones in files per minute (per hour beyond a day) of due time under
//     <data>/.delayed-index/, read back into the heap when their time comes near.
// The index is rebuilt from the partition at start, so its files need no fsync.
//
// A move is exactly once across crashes: an intent record (the target partition, its log
// end before the move, the held offsets) is durable before the records are appended to
// their topic; tombstones for the held records and the intent follow. At start, and
// after a failed append, an open intent is resolved by reading the target from the log end
// it names for the records' `riptide-delayed-id` headers: those found are done, the
// others are moved again.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <system_error>
#include <vector>

#include "base/result.h"
#include "broker/delayed_records.h"
#include "net/task.h"

namespace storage {
class partition_log;
}

namespace broker {

class broker;

struct delay_options {
  std::chrono::milliseconds tick{10};  // how often due records are looked for
  int64_t near_ms = 60'000;            // held records due within this are in memory
  size_t max_move_records = 5000;      // per round of moves
  size_t max_move_bytes = 8u << 20;
};

class delay_store {
 public:
  delay_store(broker& b, unsigned shard, delay_options opts);
  ~delay_store();
  delay_store(const delay_store&) = delete;
  delay_store& operator=(const delay_store&) = delete;

  // At start, on this shard: rebuilds the index from the shard's partitions of the
  // internal topic, if it exists.
  base::status load();
  // Whether this shard has a partition to hold records in (looking again for one of a
  // topic made since).
  bool ready();
  // Resolves the moves a stop interrupted, then moves records as they fall due.
  net::task<void> run();
  void stop();

  struct hold_result {
    std::error_code error;
    std::shared_ptr<storage::partition_log> log;  // wait_durable(end) before answering
    int64_t end = -1;
    std::vector<int64_t> offsets;  // where each record is held
  };
  // On this shard: writes `records` to the shard's partition of the internal topic (not
  // yet durable) and indexes them.
  hold_result hold(std::span<const held_record> records);
  // Takes back records hold() wrote whose produce then failed (tombstones).
  void release(const hold_result& held);

  uint64_t pending() const;  // held records on this shard

 private:
  struct part;
  part* local_part();
  bool attach();
  net::task<void> move_due(part& p);
  net::task<void> resolve_open(part& p);
  // Reads the target of an intent from its log end before the move; the held records
  // found there are finished (tombstoned), and `missing` gets the others.
  net::task<std::error_code> resolve(part& p, int64_t intent_offset, move_intent m,
                                     std::vector<int64_t>* missing);
  std::error_code finish(part& p, std::span<const int64_t> held, int64_t intent_offset);

  broker& broker_;
  unsigned shard_;
  delay_options opts_;
  std::filesystem::path index_dir_;
  std::vector<std::unique_ptr<part>> parts_;
  struct ticker;
  std::unique_ptr<ticker> timer_;
  bool stopping_ = false;
  std::shared_ptr<std::atomic<int64_t>> held_;  // over this shard's partitions
  uint64_t gauge_id_ = 0;
};

}  // namespace broker
