#pragma once
// iobuf: a chain of fragments, each either bytes in memory or a range of a file. A
// response can then mix encoded headers (memory) with record batches straight from a
// log segment (file ranges, sent with sendfile) without copying the batches.
//
// Memory fragments are reference-counted and never mutated once appended, so iobufs
// are cheap to copy and share across shards.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "base/file.h"
#include "base/result.h"

namespace base {

struct memory_fragment {
  std::shared_ptr<const uint8_t[]> data;
  size_t offset = 0;
  size_t size = 0;
  std::span<const uint8_t> bytes() const { return {data.get() + offset, size}; }
};

struct file_fragment {
  std::shared_ptr<const file> source;  // keeps the file open even if it is unlinked
  uint64_t offset = 0;
  size_t size = 0;
};

using fragment = std::variant<memory_fragment, file_fragment>;

class iobuf {
 public:
  iobuf() = default;

  // Copies `bytes` into the buffer (coalescing small appends into one allocation).
  void append(std::span<const uint8_t> bytes);
  void append(std::string_view s) {
    append(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  // Takes ownership of `bytes` without copying.
  void append(std::vector<uint8_t>&& bytes);
  void append_file_range(std::shared_ptr<const file> f, uint64_t offset, size_t size);
  void append(iobuf&& other);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::vector<fragment>& fragments() const { return fragments_; }
  void clear();

  // Copies everything into one contiguous vector, reading file ranges with pread.
  result<std::vector<uint8_t>> linearize() const;

 private:
  void seal_tail();

  std::vector<fragment> fragments_;
  size_t size_ = 0;
  // Writable tail buffer for small appends; sealed into a fragment before any other
  // fragment kind is added or the buffer is read.
  std::shared_ptr<uint8_t[]> tail_;
  size_t tail_capacity_ = 0;
  size_t tail_used_ = 0;
  size_t tail_sealed_ = 0;  // bytes of tail_ already covered by fragments_
};

}  // namespace base
