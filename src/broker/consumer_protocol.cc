#include "broker/consumer_protocol.h"

#include <algorithm>

namespace broker {
namespace {

class writer {
 public:
  void i16(int16_t v) {
    out.push_back(static_cast<uint8_t>(static_cast<uint16_t>(v) >> 8));
    out.push_back(static_cast<uint8_t>(v));
  }
  void i32(int32_t v) {
    const auto u = static_cast<uint32_t>(v);
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(u >> s));
  }
  void str(const std::string& s) {
    i16(static_cast<int16_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  std::vector<uint8_t> out;
};

class reader {
 public:
  explicit reader(std::span<const uint8_t> b) : b_(b) {}
  bool i16(int16_t& v) {
    if (b_.size() - pos_ < 2) return false;
    v = static_cast<int16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool i32(int32_t& v) {
    if (b_.size() - pos_ < 4) return false;
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u = (u << 8) | b_[pos_ + i];
    v = static_cast<int32_t>(u);
    pos_ += 4;
    return true;
  }
  bool str(std::string& s) {
    int16_t n = 0;
    if (!i16(n) || n < 0 || b_.size() - pos_ < static_cast<size_t>(n)) return false;
    s.assign(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }
  // An array count that the remaining bytes could hold (each element at least `min` bytes).
  bool count(int32_t& n, size_t min) {
    if (!i32(n)) return false;
    if (n < 0) return false;
    return static_cast<size_t>(n) <= (b_.size() - pos_) / std::max<size_t>(min, 1);
  }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<uint8_t> encode_subscription(const std::vector<std::string>& topics) {
  writer w;
  w.i16(0);
  w.i32(static_cast<int32_t>(topics.size()));
  for (const auto& t : topics) w.str(t);
  w.i32(-1);  // no user data
  return std::move(w.out);
}

std::optional<std::vector<std::string>> decode_subscription(std::span<const uint8_t> bytes) {
  reader r(bytes);
  int16_t version = 0;
  int32_t n = 0;
  if (!r.i16(version) || version < 0 || !r.count(n, 2)) return std::nullopt;
  std::vector<std::string> topics(static_cast<size_t>(n));
  for (auto& t : topics) {
    if (!r.str(t)) return std::nullopt;
  }
  return topics;  // user data and later fields are not needed
}

std::vector<uint8_t> encode_assignment(const partition_assignment& a) {
  writer w;
  w.i16(0);
  w.i32(static_cast<int32_t>(a.size()));
  for (const auto& [topic, parts] : a) {
    w.str(topic);
    w.i32(static_cast<int32_t>(parts.size()));
    for (int32_t p : parts) w.i32(p);
  }
  w.i32(-1);  // no user data
  return std::move(w.out);
}

std::optional<partition_assignment> decode_assignment(std::span<const uint8_t> bytes) {
  partition_assignment out;
  if (bytes.empty()) return out;  // a member given nothing
  reader r(bytes);
  int16_t version = 0;
  int32_t n = 0;
  if (!r.i16(version) || version < 0 || !r.count(n, 6)) return std::nullopt;
  for (int32_t i = 0; i < n; ++i) {
    std::string topic;
    int32_t m = 0;
    if (!r.str(topic) || !r.count(m, 4)) return std::nullopt;
    auto& parts = out[topic];
    for (int32_t j = 0; j < m; ++j) {
      int32_t p = 0;
      if (!r.i32(p)) return std::nullopt;
      parts.push_back(p);
    }
  }
  return out;
}

std::map<std::string, partition_assignment> assign_range(
    const std::map<std::string, std::vector<std::string>>& members,
    const std::map<std::string, int32_t>& partitions) {
  std::map<std::string, partition_assignment> out;
  std::map<std::string, std::vector<std::string>> by_topic;  // members sorted (map order)
  for (const auto& [member, topics] : members) {
    out[member];
    for (const auto& t : topics) {
      auto& list = by_topic[t];
      if (std::find(list.begin(), list.end(), member) == list.end()) list.push_back(member);
    }
  }
  for (const auto& [topic, subscribers] : by_topic) {
    auto it = partitions.find(topic);
    if (it == partitions.end() || subscribers.empty()) continue;
    const int32_t count = it->second;
    const auto n = static_cast<int32_t>(subscribers.size());
    const int32_t per = count / n;
    const int32_t extra = count % n;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t start = i * per + std::min(i, extra);
      const int32_t len = per + (i < extra ? 1 : 0);
      if (len == 0) continue;
      auto& parts = out[subscribers[static_cast<size_t>(i)]][topic];
      for (int32_t p = start; p < start + len; ++p) parts.push_back(p);
    }
  }
  return out;
}

}  // namespace broker
