#pragma once
// Declarative configuration. A program describes its settings once, as a static table of
// config_key rows; that table drives validation, defaults, help text, the example file and
// --print-config, so none of them can drift from the others.
//
// Values are layered: built-in default < TOML file < RIPTIDE_* environment variable < flag.
// Every layer is validated (even a value that a higher layer overrides) and all problems are
// reported together, each naming the key, where the value came from and what would be accepted.
// A loaded config is immutable; share it read-only between shards.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace base {

enum class config_type {
  string,
  integer,   // signed decimal
  boolean,   // true/false, also 1/0, yes/no, on/off
  size,      // bytes: a plain integer or suffixed B, KiB, MiB, GiB, TiB, KB, MB, GB, TB
  duration,  // milliseconds: a plain integer or suffixed ms, s, m, h, d
  choice,    // one of config_key::choices
};
std::string_view to_string(config_type type);

// One setting. Tables are constexpr arrays with static storage duration; a config keeps
// pointers into its table. `min` and `max` bound integer, size (bytes) and duration (ms) values.
// Suffixes and boolean words are matched case-insensitively.
struct config_key {
  std::string_view name;  // lower-case dotted path: "data_dir", "storage.segment_bytes"
  config_type type;
  std::string_view default_value;  // written as a user would write it: "1GiB", "7d", "json"
  std::string_view description;    // one or more sentences for help text and the example file
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
  std::span<const std::string_view> choices = {};
};

enum class config_source { default_value, file, env, flag };
std::string_view to_string(config_source source);  // "default", "file", "env", "flag"

// The other spellings of a key: "storage.segment_bytes" is set by the environment variable
// RIPTIDE_STORAGE_SEGMENT_BYTES and the flag --storage-segment-bytes.
std::string env_name(std::string_view key);
std::string flag_name(std::string_view key);

// Parsers for the value syntaxes above, for use wherever users type sizes or durations.
// They reject empty text, signs, fractions, unknown suffixes, trailing garbage and overflow;
// surrounding whitespace and spaces before a suffix are allowed.
std::optional<int64_t> parse_size(std::string_view text);
std::optional<int64_t> parse_duration_ms(std::string_view text);
std::optional<int64_t> parse_integer(std::string_view text);
std::optional<bool> parse_bool(std::string_view text);
// The inverse: the largest unit that represents the value exactly ("1GiB", "1536MiB", "1MB",
// "1023B"; "7d", "90s", "1500ms"). parse_size(format_size(n)) == n for every n >= 0.
std::string format_size(int64_t bytes);
std::string format_duration_ms(int64_t ms);

// What a key accepts, as used in error messages and help text, e.g. "a size such as
// 1073741824 or 1GiB, between 1MiB and 2GiB" or "one of text, json".
std::string describe_expected(const config_key& key);

// Mistakes in a table itself (bad names, duplicates, a key that is also another key's table,
// invalid defaults, min > max, choices missing). Empty when the table is sound; a unit test of
// each program's table should assert that. load() aborts on an unsound table.
std::vector<std::string> table_problems(std::span<const config_key> table);

// One resolved setting.
struct config_value {
  const config_key* key = nullptr;
  config_source source = config_source::default_value;
  std::string raw;     // the text as given (a TOML integer or boolean is rendered as text)
  std::string origin;  // "default", "/etc/riptide.toml:12", "environment variable RIPTIDE_X",
                       // "flag --x"
  std::string text;    // string and choice keys
  int64_t number = 0;  // integer, size (bytes) and duration (ms) keys
  bool flag = false;   // boolean keys
};

// Resolved, typed settings in table order. Asking for a key that is not in the table, or with
// the wrong type, is a programming error and aborts with a message.
class config {
 public:
  config() = default;

  const std::string& get_string(std::string_view key) const;  // string and choice keys
  int64_t get_int(std::string_view key) const;                // integer, size, duration keys
  bool get_bool(std::string_view key) const;
  std::chrono::milliseconds get_duration(std::string_view key) const;

  config_source source(std::string_view key) const;
  const std::string& raw(std::string_view key) const;
  const std::string& origin(std::string_view key) const;
  bool contains(std::string_view key) const;

  std::span<const config_value> values() const { return values_; }

 private:
  friend class config_loader;
  const config_value& find(std::string_view key) const;
  const config_value& find(std::string_view key, std::initializer_list<config_type> types,
                           std::string_view getter) const;
  std::vector<config_value> values_;
};

// A problem with user-supplied configuration. `message` has one line per problem.
struct config_error {
  std::string message;
};

// A value or a config_error (std::error_code cannot carry the message users need).
template <typename T>
class [[nodiscard]] config_result {
 public:
  config_result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(implicit)
  config_result(config_error error)                                         // NOLINT(implicit)
      : v_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const config_error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, config_error> v_;
};

struct config_inputs {
  std::optional<std::filesystem::path> file;  // TOML; absent means defaults only
  // NAME=VALUE pairs as in environ. Only RIPTIDE_* names are looked at; an unknown RIPTIDE_*
  // name is an error unless listed in ignored_env (names used by other tools, e.g.
  // RIPTIDE_BROKERS for the CLI). A later duplicate wins.
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> ignored_env;
  // Key name ("storage.segment_bytes", not the flag spelling) -> value. A later duplicate wins.
  std::vector<std::pair<std::string, std::string>> flags;

  // Inputs holding the RIPTIDE_* variables of this process's environment.
  static config_inputs from_environ();
};

config_result<config> load(std::span<const config_key> table, const config_inputs& inputs);

// A commented TOML file setting every key to its default: keys without a dot first, then one
// [table] per prefix before the first '.', in table order. load() accepts it unchanged.
std::string render_example_toml(std::span<const config_key> table);

// "key = value   # origin", one line per key, as dotted TOML keys that load() accepts.
std::string render_effective(const config& cfg);

}  // namespace base
