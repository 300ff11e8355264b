// libFuzzer target for what an HTTP client hands the broker besides the HTTP framing
// (Beast's own parser): base64 record bytes, UTF-8 checks, gzip bodies (inflated within
// a bound), SSE resume positions, and the consumer-protocol bytes a Kafka member puts in
// a group that HTTP consumers read, and the records of queue state (HTTP queues) read back
// from the offsets topic at start. Besides "no crash", it checks that what decodes
// encodes back to the same value.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "broker/consumer_protocol.h"
#include "broker/queue_state.h"
#include "http/encoding.h"
#include "http/gzip.h"
#include "http/positions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto bytes = http::base64_decode(text)) {
    if (http::base64_encode(*bytes) != text) std::abort();
  }
  (void)http::valid_utf8(text);
  if (auto plain = http::gunzip(text, 1 << 16)) {
    if (plain->size() > (1u << 16)) std::abort();
  }
  if (auto p = http::parse_positions(text)) {
    if (http::parse_positions(http::format_positions(*p)) != p) std::abort();
  }
  const std::span<const uint8_t> bytes(data, size);
  if (auto topics = broker::decode_subscription(bytes)) {
    if (broker::decode_subscription(broker::encode_subscription(*topics)) != topics) std::abort();
  }
  if (auto a = broker::decode_assignment(bytes)) {
    if (broker::decode_assignment(broker::encode_assignment(*a)) != a) std::abort();
  }
  if (auto k = broker::decode_queue_key(bytes)) {
    if (broker::decode_queue_key(broker::encode_queue_key(*k)) != k) std::abort();
  }
  if (auto q = broker::decode_queue_definition(bytes)) {
    if (broker::decode_queue_definition(broker::encode_queue_definition(*q)) != q) std::abort();
  }
  if (auto p = broker::decode_queue_partition(bytes)) {
    if (broker::decode_queue_partition(broker::encode_queue_partition(*p)) != p) std::abort();
  }
  return 0;
}
