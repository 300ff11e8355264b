#pragma once
// Big-endian fields for the broker's own records in internal topics (the offsets topic's
// offsets and queue state): integers of 1 to 8 bytes and strings with a u16 length.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace broker::byte_codec {

void put(std::vector<uint8_t>& out, uint64_t v, int bytes);
void put_string(std::vector<uint8_t>& out, std::string_view s);

class cursor {
 public:
  explicit cursor(std::span<const uint8_t> b) : b_(b) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == b_.size(); }
  uint64_t be(size_t bytes) {
    if (!ok_ || b_.size() - pos_ < bytes) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v = (v << 8) | b_[pos_++];
    return v;
  }
  std::string str(size_t n) {
    if (!ok_ || b_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace broker::byte_codec
