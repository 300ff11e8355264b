#include "cli/commands.h"

#include <array>

namespace cli {

std::span<const verb> verbs() {
  static const std::array<verb, 0> table{};
  return table;
}

void add_verbs(CLI::App& app, action& run) {
  for (const auto& v : verbs()) {
    auto* cmd = app.add_subcommand(v.name, v.help);
    v.declare(*cmd, run);
  }
}

}  // namespace cli
