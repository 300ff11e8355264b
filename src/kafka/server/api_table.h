#pragma once
// The Kafka APIs this broker serves, with the version range of each. ApiVersions
// answers from this table, so what is advertised is exactly what is implemented.
// Adding an API: one row here and one file in kafka/handlers/.

#include <cstdint>
#include <span>
#include <string_view>

#include "kafka/server/request_context.h"

namespace kafka {

using handler_fn = net::task<handler_result> (*)(request_context&);

struct api_entry {
  int16_t key;
  std::string_view name;
  int16_t min_version;
  int16_t max_version;
  handler_fn handler;
  // The oldest version ApiVersions advertises, when it differs from min_version: librdkafka
  // (up to 2.8) compresses gzip, snappy and lz4 batches only for a broker that lists
  // Produce v0, as Kafka 4 does for that reason while refusing v0-2 when they are used.
  int16_t advertised_min_version = -1;

  int16_t advertised_min() const {
    return advertised_min_version >= 0 ? advertised_min_version : min_version;
  }
};

std::span<const api_entry> supported_apis();
const api_entry* find_api(int16_t key);

}  // namespace kafka
