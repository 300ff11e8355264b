#pragma once

// The client verbs of the `riptide` binary. Each verb is one row of the table in
// commands.cc: its name, one line of help, and the function that declares its options and
// sub-verbs on a CLI11 subcommand. The help text comes from the same table.

#include <CLI/CLI.hpp>

#include <functional>
#include <span>

namespace cli {

// Runs after parsing; returns the process exit code.
using action = std::function<int()>;

struct verb {
  const char* name;
  const char* help;
  // Declares options on `cmd` and stores the action to run when `cmd` was chosen.
  void (*declare)(CLI::App& cmd, action& run);
};

std::span<const verb> verbs();

// Adds every verb of the table to `app`; `run` receives the chosen verb's action.
void add_verbs(CLI::App& app, action& run);

}  // namespace cli
