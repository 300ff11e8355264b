#pragma once
// Environment variables read by the client verbs. They share the RIPTIDE_ prefix with the
// server's configuration variables, so `riptide serve` must know to leave them alone.

#include <array>
#include <string_view>

namespace cli {

// Default for --brokers.
inline constexpr std::string_view brokers_env = "RIPTIDE_BROKERS";

// Default for `riptide http`'s --url.
inline constexpr std::string_view http_url_env = "RIPTIDE_HTTP_URL";

// Every RIPTIDE_* name the client verbs read; `riptide serve` ignores these.
inline constexpr std::array<std::string_view, 2> client_env_names{brokers_env, http_url_env};

}  // namespace cli
