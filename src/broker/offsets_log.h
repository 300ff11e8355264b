#pragma once
// The records of the offsets topic (`__consumer_offsets`): one record per committed
// (group, topic, partition). Replaying the topic's partitions in order rebuilds every
// group's committed offsets; a record without a value deletes the offset.
//
// Key:   u8 version (1) | u16 group length | group | u16 topic length | topic | i32 partition
// Value: u8 version (1) | i64 offset | i32 leader epoch | i64 commit time (ms) |
//        i16 metadata length (-1: null) | metadata
// All integers big-endian.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace broker {

inline constexpr const char* offsets_topic = "__consumer_offsets";

struct committed_offset {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  int64_t commit_time_ms = -1;
  std::optional<std::string> metadata;
};

struct offset_key {
  std::string group;
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const offset_key&) const = default;
};

std::vector<uint8_t> encode_offset_key(const offset_key& k);
std::vector<uint8_t> encode_offset_value(const committed_offset& v);
std::optional<offset_key> decode_offset_key(std::span<const uint8_t> bytes);
std::optional<committed_offset> decode_offset_value(std::span<const uint8_t> bytes);

}  // namespace broker
