#pragma once
// `riptide user`: manages the SASL/SCRAM users file of a data directory.

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace app {

void declare_user(CLI::App& root, cli::action& run);

}  // namespace app
