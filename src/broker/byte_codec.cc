#include "broker/byte_codec.h"

namespace broker::byte_codec {

void put(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put(out, s.size(), 2);
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace broker::byte_codec
