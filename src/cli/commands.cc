#include "cli/commands.h"

#include <array>

#include "cli/bench.h"

namespace cli {

std::span<const verb> verbs() {
  static const std::array<verb, 1> table{{
      {"bench", "Load-test a Kafka-protocol broker: throughput and end-to-end latency.",
       declare_bench},
  }};
  return table;
}

void add_verbs(CLI::App& app, action& run) {
  for (const auto& v : verbs()) {
    auto* cmd = app.add_subcommand(v.name, v.help);
    v.declare(*cmd, run);
  }
}

}  // namespace cli
