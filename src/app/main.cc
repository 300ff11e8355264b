// riptide: one binary, subcommands. `riptide serve` runs the broker.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>
#include <string>

#include "app/serve.h"
#include "app/server_config.h"
#include "app/user.h"
#include "base/config.h"
#include "cli/client.h"
#include "cli/commands.h"

namespace {

constexpr const char* kVersion = "0.1.0";

// Adds one --flag per configuration key, collecting what the user gave.
void add_config_flags(CLI::App& cmd, std::map<std::string, std::string>& given) {
  for (const auto& key : app::server_config_keys()) {
    std::string help(key.description);
    help +=
        " [default: " + std::string(key.default_value) + "; env " + base::env_name(key.name) + "]";
    cmd.add_option_function<std::string>(
           base::flag_name(key.name),
           [&given, name = std::string(key.name)](const std::string& v) { given[name] = v; }, help)
        ->type_name(std::string(base::to_string(key.type)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App root{"Riptide: a durable, high-concurrency message broker that speaks Kafka."};
  root.require_subcommand(1);
  root.set_version_flag("--version", kVersion);

  auto* serve = root.add_subcommand("serve", "Run the broker on a data directory.");
  app::serve_options opts;
  std::map<std::string, std::string> given;
  serve->add_option("--config", opts.config_file, "TOML configuration file.")
      ->check(CLI::ExistingFile);
  serve->add_flag("--print-config", opts.print_config,
                  "Print the effective configuration, with where each value came from, and exit.");
  serve->add_flag("--print-example-config", opts.print_example,
                  "Print an example configuration file listing every key, and exit.");
  serve->add_flag("--print-config-reference", opts.print_config_reference,
                  "Print every configuration key as a markdown table, and exit.");
  serve->add_flag("--print-kafka-apis", opts.print_kafka_apis,
                  "Print the Kafka APIs and versions served as a markdown table, and exit.");
  serve->add_flag("--print-topic-configs", opts.print_topic_configs,
                  "Print the topic configs and dynamic broker configs as markdown tables, and "
                  "exit.");
  add_config_flags(*serve, given);

  cli::action run;
  cli::add_verbs(root, run);
  app::declare_user(root, run);

  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as documented in docs/cli.md.
    return root.exit(e) == 0 ? 0 : cli::exit_usage;
  }
  if (run) return run();
  opts.flags.assign(given.begin(), given.end());
  opts.version = kVersion;
  return app::serve(opts);
}
