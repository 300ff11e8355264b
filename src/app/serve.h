#pragma once
// `riptide serve`: load the configuration, open the data directory (running
// recovery), serve until SIGINT/SIGTERM, then make everything durable and exit 0.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace app {

struct serve_options {
  std::string config_file;
  bool print_config = false;
  bool print_example = false;
  bool print_config_reference = false;  // markdown table of every key
  bool print_kafka_apis = false;        // markdown table of the Kafka APIs served
  bool print_topic_configs = false;     // markdown tables of topic and dynamic broker configs
  std::vector<std::pair<std::string, std::string>> flags;  // config key -> value
  std::string version;
};

// Returns the process exit code.
int serve(const serve_options& opts);

// Whether a listen host only accepts connections from this machine (127.0.0.0/8, ::1,
// localhost). Any other host is reachable from the network.
bool is_loopback_host(std::string_view host);

}  // namespace app
