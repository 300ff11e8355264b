#pragma once
// Wall-clock milliseconds since the Unix epoch: record timestamps, retention and
// segment age are all measured in it.

#include <chrono>
#include <cstdint>

namespace base {

inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace base
