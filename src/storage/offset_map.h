#pragma once
// offset_map: the cleaner's memory of "the latest offset of each key" over the dirty
// part of a log, in a fixed amount of memory. Keys are stored as 128-bit hashes (two
// keys sharing a hash would make the cleaner drop the older one's records; at 128 bits
// that is far rarer than a disk error), 24 bytes a slot, with linear probing. The map
// refuses a new key once it is 90% full: the cleaner then cleans up to that point and
// continues in a later round.
//
// Used by one cleaner thread at a time; not thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace storage {

using key_hash = std::array<uint64_t, 2>;

// A 128-bit hash of a record key.
key_hash hash_key(std::span<const uint8_t> key);

class offset_map {
 public:
  // Uses about `memory_bytes` (at least room for a few keys).
  explicit offset_map(size_t memory_bytes);

  // Records `offset` as the latest of `key`. False, changing nothing, when the key is
  // new and the map is full.
  bool put(const key_hash& key, int64_t offset);
  std::optional<int64_t> get(const key_hash& key) const;
  void clear();

  size_t size() const { return size_; }
  size_t capacity() const { return max_entries_; }  // keys it accepts before it is full
  size_t memory_bytes() const { return slots_.size() * sizeof(slot); }

 private:
  struct slot {
    key_hash hash;
    int64_t offset;  // -1: empty
  };
  size_t find(const key_hash& key) const;  // the key's slot or the empty one ending its probe

  std::vector<slot> slots_;
  size_t size_ = 0;
  size_t max_entries_ = 0;
};

}  // namespace storage
