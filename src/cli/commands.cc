#include "cli/commands.h"

#include <array>
#include <string>

#include "cli/bench.h"
#include "cli/client.h"

namespace cli {

std::span<const verb> verbs() {
  static const std::array table{
      verb{"topic", "Create, list, describe, alter and delete topics.", declare_topic},
      verb{"produce", "Send lines from stdin or a file as messages to a topic.", declare_produce},
      verb{"consume", "Print messages of a topic.", declare_consume},
      verb{"group", "List, describe, reset and delete consumer groups.", declare_group},
      verb{"cluster", "Show the brokers and the cluster.", declare_cluster},
      verb{"http", "Show what a broker's HTTP listener has served (routes, streams).",
           declare_http},
      verb{"queue", "Create, inspect and work queues over topics (through the HTTP listener).",
           declare_queue},
      verb{"dlq", "List, inspect and replay the dead-letter topics of queues.", declare_dlq},
      verb{"bench", "Load-test a Kafka-protocol broker: throughput and end-to-end latency.",
           declare_bench},
  };
  return table;
}

void add_verbs(CLI::App& app, action& run) {
  app.footer(std::string("Commands other than serve:\n") + exit_codes_help);
  for (const auto& v : verbs()) {
    auto* cmd = app.add_subcommand(v.name, v.help);
    cmd->footer(exit_codes_help);
    v.declare(*cmd, run);
  }
}

}  // namespace cli
