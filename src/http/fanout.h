#pragma once
// Fan-out of partitions' records to the streams (SSE, WebSocket) of one shard.
//
// Subscribers mostly stand at the same position of a partition: at its end, waiting for
// the next record. Per shard, the records at a position are read from the partition
// once, decoded once and encoded once per format, and every subscriber at that position
// writes the same message (a block). Subscribers waiting at a partition's end share one
// watch per shard and offset: the partition's owner wakes one waiter, which wakes this
// shard's subscribers, instead of each making its own round trip to the owner. Recent
// blocks stay cached (per shard, within 1/32 of the shard's memory budget) for
// subscribers a little behind; the shard's memory account holds a block until the last
// subscriber has written it.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "broker/broker.h"
#include "broker/records.h"
#include "http/memory.h"
#include "http/reader.h"
#include "http/record_json.h"

namespace http {

// The records of one partition from `start` up to `next`, decoded once.
struct block {
  std::string topic;
  int32_t partition = 0;
  int64_t start = 0;
  int64_t next = 0;
  std::vector<broker::record> records;
  // {"topic", "partition", "records": [...]} with every record, in format `f`: encoded by
  // the first subscriber that asks, then shared.
  std::shared_ptr<const std::string> message(format f);
  // The same message with only the first `n` records (a subscriber with less credit).
  std::string message(format f, size_t n) const;

  std::array<std::shared_ptr<const std::string>, 3> encoded{};
  memory_hold hold{};
};

struct block_read {
  std::error_code error{};
  std::shared_ptr<block> records{};  // null: nothing readable at the offset yet
  int64_t next_offset = -1;          // where to read next (past skipped control batches)
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
};

struct block_reads {
  std::vector<block_read> parts;  // in the order asked
  // Nothing definite this time (the shard's memory account had no room for what was
  // read, or another stream's read of a position took too long): wait a little (for
  // memory), then ask again.
  bool retry_later = false;
};

// The blocks of partitions of `topic` (whose id is `topic_id`) at `offsets` (partition,
// offset): cached ones at once; the rest read together, or awaited when another stream of
// this shard is reading the same position already.
net::task<block_reads> read_blocks(broker::broker& b, const broker::request_identity& who,
                                   std::string topic, std::array<uint8_t, 16> topic_id,
                                   std::vector<std::pair<int32_t, int64_t>> offsets,
                                   size_t max_records, size_t max_bytes);

// Wakes `w` (once) when any of the partitions of `topic` passes its offset, through one
// watch per shard, partition and offset shared by every subscriber waiting there.
void watch_blocks(broker::broker& b, const broker::request_identity& who, const std::string& topic,
                  const std::vector<std::pair<int32_t, int64_t>>& offsets,
                  const std::shared_ptr<wakeup>& w);

}  // namespace http
