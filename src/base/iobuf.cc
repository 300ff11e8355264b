#include "base/iobuf.h"

#include <algorithm>
#include <cstring>

namespace base {
namespace {
constexpr size_t kMinChunk = 512;
constexpr size_t kMaxChunk = 64 * 1024;
}  // namespace

void iobuf::append(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  if (tail_used_ + bytes.size() > tail_capacity_) {
    seal_tail();
    size_t chunk = std::clamp(size_ / 2, kMinChunk, kMaxChunk);
    if (bytes.size() > chunk) {
      // Large appends get an exact-size fragment of their own.
      auto owned = std::shared_ptr<uint8_t[]>(new uint8_t[bytes.size()]);
      std::memcpy(owned.get(), bytes.data(), bytes.size());
      fragments_.push_back(memory_fragment{std::move(owned), 0, bytes.size()});
      size_ += bytes.size();
      tail_.reset();
      tail_capacity_ = tail_used_ = tail_sealed_ = 0;
      return;
    }
    tail_ = std::shared_ptr<uint8_t[]>(new uint8_t[chunk]);
    tail_capacity_ = chunk;
    tail_used_ = tail_sealed_ = 0;
  }
  std::memcpy(tail_.get() + tail_used_, bytes.data(), bytes.size());
  tail_used_ += bytes.size();
  size_ += bytes.size();
  seal_tail();
}

void iobuf::seal_tail() {
  if (tail_used_ == tail_sealed_) return;
  // Extend the last fragment when it already points into the tail buffer.
  if (!fragments_.empty()) {
    if (auto* m = std::get_if<memory_fragment>(&fragments_.back());
        m && m->data.get() == tail_.get() && m->offset + m->size == tail_sealed_) {
      m->size += tail_used_ - tail_sealed_;
      tail_sealed_ = tail_used_;
      return;
    }
  }
  fragments_.push_back(memory_fragment{tail_, tail_sealed_, tail_used_ - tail_sealed_});
  tail_sealed_ = tail_used_;
}

void iobuf::append(std::vector<uint8_t>&& bytes) {
  if (bytes.empty()) return;
  auto holder = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  std::shared_ptr<const uint8_t[]> alias(holder, holder->data());
  size_ += holder->size();
  fragments_.push_back(memory_fragment{std::move(alias), 0, holder->size()});
  // Later small appends must not land in an older tail buffer out of order.
  tail_.reset();
  tail_capacity_ = tail_used_ = tail_sealed_ = 0;
}

void iobuf::append_file_range(std::shared_ptr<const file> f, uint64_t offset, size_t size) {
  if (size == 0) return;
  if (!fragments_.empty()) {
    if (auto* last = std::get_if<file_fragment>(&fragments_.back());
        last && last->source == f && last->offset + last->size == offset) {
      last->size += size;
      size_ += size;
      return;
    }
  }
  fragments_.push_back(file_fragment{std::move(f), offset, size});
  size_ += size;
  tail_.reset();
  tail_capacity_ = tail_used_ = tail_sealed_ = 0;
}

void iobuf::append(iobuf&& other) {
  for (auto& frag : other.fragments_) {
    if (auto* m = std::get_if<memory_fragment>(&frag)) {
      size_ += m->size;
      fragments_.push_back(std::move(*m));
    } else {
      auto& ff = std::get<file_fragment>(frag);
      append_file_range(std::move(ff.source), ff.offset, ff.size);
      continue;
    }
  }
  tail_.reset();
  tail_capacity_ = tail_used_ = tail_sealed_ = 0;
  other.clear();
}

void iobuf::clear() {
  fragments_.clear();
  size_ = 0;
  tail_.reset();
  tail_capacity_ = tail_used_ = tail_sealed_ = 0;
}

result<std::vector<uint8_t>> iobuf::linearize() const {
  std::vector<uint8_t> out(size_);
  size_t pos = 0;
  for (const auto& frag : fragments_) {
    if (const auto* m = std::get_if<memory_fragment>(&frag)) {
      std::memcpy(out.data() + pos, m->bytes().data(), m->size);
      pos += m->size;
    } else {
      const auto& f = std::get<file_fragment>(frag);
      auto n = f.source->pread(out.data() + pos, f.size, f.offset);
      if (!n) return n.error();
      if (*n != f.size) return std::make_error_code(std::errc::io_error);
      pos += f.size;
    }
  }
  return out;
}

}  // namespace base
