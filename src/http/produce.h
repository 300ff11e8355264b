#pragma once
// Producing records given as JSON (Riptide's /v1 and the REST Proxy v2 paths share it):
// checks, partitioning (explicit, murmur2 of the key like the Kafka clients, or one
// partition per request for keyless records), one batch per partition, and the
// partition service's answer per record.

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "http/api.h"
#include "http/record_json.h"

namespace http {

class server_context;

struct produce_row {
  int32_t partition = -1;
  int64_t offset = -1;
  std::error_code error;
  bool duplicate = false;  // an idempotent producer's retry: stored the first time
  bool held = false;       // held for delayed delivery: no offset until it is due
};

// An idempotent producer (POST /v1/producers) and the sequence of the request's first
// record: the partition deduplicates retries, across restarts too.
struct producer_fields {
  int64_t id = -1;
  int16_t epoch = 0;
  int32_t sequence = 0;
};

struct produce_outcome {
  std::optional<response> bad;    // the request is refused as a whole (nothing stored)
  std::vector<produce_row> rows;  // per record, in request order
};

// `records`: the request's "records" array; `partition`: every record goes there
// (required with `producer`).
net::task<produce_outcome> produce_json_records(server_context& ctx, const request& req,
                                                std::string topic,
                                                const boost::json::value* records, format f,
                                                std::optional<int32_t> partition,
                                                std::optional<producer_fields> producer = {});

}  // namespace http
