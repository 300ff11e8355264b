#include "broker/offsets_log.h"

namespace broker {
namespace {

constexpr uint8_t kVersion = 1;

void put(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put(out, s.size(), 2);
  out.insert(out.end(), s.begin(), s.end());
}

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

}  // namespace

std::vector<uint8_t> encode_offset_key(const offset_key& k) {
  std::vector<uint8_t> out;
  out.push_back(kVersion);
  put_string(out, k.group);
  put_string(out, k.topic);
  put(out, static_cast<uint32_t>(k.partition), 4);
  return out;
}

std::vector<uint8_t> encode_offset_value(const committed_offset& v) {
  std::vector<uint8_t> out;
  out.push_back(kVersion);
  put(out, static_cast<uint64_t>(v.offset), 8);
  put(out, static_cast<uint32_t>(v.leader_epoch), 4);
  put(out, static_cast<uint64_t>(v.commit_time_ms), 8);
  if (v.metadata) {
    put_string(out, *v.metadata);
  } else {
    put(out, 0xffff, 2);
  }
  return out;
}

std::optional<offset_key> decode_offset_key(std::span<const uint8_t> bytes) {
  cursor c(bytes);
  if (c.be(1) != kVersion) return std::nullopt;
  offset_key k;
  k.group = c.str(c.be(2));
  k.topic = c.str(c.be(2));
  k.partition = static_cast<int32_t>(c.be(4));
  if (!c.done()) return std::nullopt;
  return k;
}

std::optional<committed_offset> decode_offset_value(std::span<const uint8_t> bytes) {
  cursor c(bytes);
  if (c.be(1) != kVersion) return std::nullopt;
  committed_offset v;
  v.offset = static_cast<int64_t>(c.be(8));
  v.leader_epoch = static_cast<int32_t>(c.be(4));
  v.commit_time_ms = static_cast<int64_t>(c.be(8));
  const auto len = c.be(2);
  if (len != 0xffff) v.metadata = c.str(len);
  if (!c.done()) return std::nullopt;
  return v;
}

}  // namespace broker
