#pragma once
// The broker's configuration keys: one table that validates values, provides the
// defaults, the `--flags`, the RIPTIDE_* environment names, the help text and the
// example config file (config/riptide.example.toml).

#include <span>

#include "base/config.h"
#include "storage/cleaner_thread.h"
#include "storage/log_config.h"

namespace app {

std::span<const base::config_key> server_config_keys();

// The inputs of `riptide serve` from this process's environment. The RIPTIDE_* variables that
// belong to the client verbs (RIPTIDE_BROKERS) are left to them instead of being refused as
// unknown server settings.
base::config_inputs server_config_inputs_from_environ();

// The storage defaults every partition starts from.
storage::log_config log_config_from(const base::config& cfg);
// The log cleaner's memory and I/O bounds.
storage::cleaner_options cleaner_options_from(const base::config& cfg);

}  // namespace app
