#pragma once
// `riptide bench`: a load generator for any Kafka-protocol broker (built on librdkafka).
// Produces and/or consumes at a target rate or flat out and reports throughput and
// end-to-end latency (send time carried in each record, measured at the consumer).

#include "cli/commands.h"

namespace cli {

void declare_bench(CLI::App& cmd, action& run);

}  // namespace cli
