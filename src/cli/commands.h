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

// The declare functions of the table's rows, one file each.
void declare_topic(CLI::App& cmd, action& run);
void declare_produce(CLI::App& cmd, action& run);
void declare_consume(CLI::App& cmd, action& run);
void declare_group(CLI::App& cmd, action& run);
void declare_cluster(CLI::App& cmd, action& run);
void declare_http(CLI::App& cmd, action& run);
void declare_queue(CLI::App& cmd, action& run);
void declare_dlq(CLI::App& cmd, action& run);

// Adds every verb of the table to `app`; `run` receives the chosen verb's action.
void add_verbs(CLI::App& app, action& run);

}  // namespace cli
