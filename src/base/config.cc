#include "base/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "base/file.h"

namespace base {
namespace {

constexpr std::string_view env_prefix = "RIPTIDE_";

struct unit {
  std::string_view suffix;
  int64_t factor;
};
// Largest first, binary before decimal: formatting takes the first unit that divides exactly.
constexpr unit size_units[] = {{"TiB", int64_t{1} << 40},
                               {"GiB", int64_t{1} << 30},
                               {"MiB", int64_t{1} << 20},
                               {"KiB", int64_t{1} << 10},
                               {"TB", 1'000'000'000'000},
                               {"GB", 1'000'000'000},
                               {"MB", 1'000'000},
                               {"KB", 1'000},
                               {"B", 1}};
constexpr unit duration_units[] = {
    {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};

[[noreturn]] void misuse(const std::string& what) {
  fmt::print(stderr, "fatal: configuration misuse: {}\n", what);
  std::abort();
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view space = " \t\r\n";
  const size_t begin = s.find_first_not_of(space);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return lower(x) == lower(y); });
}

std::string join(const auto& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::optional<int64_t> parse_scaled(std::string_view text, std::span<const unit> units) {
  text = trim(text);
  const char* end = text.data() + text.size();
  uint64_t n = 0;  // unsigned: from_chars then rejects a sign
  auto [rest, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || rest == text.data()) return std::nullopt;
  const std::string_view suffix = trim(std::string_view(rest, static_cast<size_t>(end - rest)));
  int64_t factor = 1;
  if (!suffix.empty()) {
    auto it = std::find_if(units.begin(), units.end(),
                           [&](const unit& u) { return iequals(u.suffix, suffix); });
    if (it == units.end()) return std::nullopt;
    factor = it->factor;
  }
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / factor)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(n) * factor;
}

std::string format_scaled(int64_t value, std::span<const unit> units) {
  const uint64_t mag = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  for (const unit& u : units) {
    const auto factor = static_cast<uint64_t>(u.factor);
    if (mag != 0 && mag % factor == 0) {
      return fmt::format("{}{}{}", value < 0 ? "-" : "", mag / factor, u.suffix);
    }
  }
  return fmt::format("0{}", units.back().suffix);
}

std::string format_in_unit(const config_key& key, int64_t value) {
  if (value == -1) return "-1";  // "unlimited" where a key allows it
  if (key.type == config_type::size) return format_size(value);
  if (key.type == config_type::duration) return format_duration_ms(value);
  return std::to_string(value);
}

bool is_table_of(std::string_view table, std::string_view key) {
  return key.size() > table.size() && key.starts_with(table) && key[table.size()] == '.';
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

// Fills the typed field of `out`; false if `text` is not acceptable for `key`.
bool parse_value(const config_key& key, std::string_view text, config_value& out) {
  std::optional<int64_t> n;
  switch (key.type) {
    case config_type::string:
      out.text = text;
      return true;
    case config_type::choice: {
      auto it = std::find_if(key.choices.begin(), key.choices.end(),
                             [&](std::string_view c) { return iequals(c, trim(text)); });
      if (it == key.choices.end()) return false;
      out.text = *it;
      return true;
    }
    case config_type::boolean: {
      auto b = parse_bool(text);
      out.flag = b.value_or(false);
      return b.has_value();
    }
    case config_type::integer:
      n = parse_integer(text);
      break;
    case config_type::size:
      n = parse_size(text);
      break;
    case config_type::duration:
      n = parse_duration_ms(text);
      break;
  }
  // As in Kafka, -1 stands for "unlimited" where a size or duration key allows it.
  if (!n && key.min == -1 && trim(text) == "-1" &&
      (key.type == config_type::size || key.type == config_type::duration)) {
    n = -1;
  }
  if (!n || *n < key.min || *n > key.max) return false;
  out.number = *n;
  return true;
}

std::optional<config_value> default_of(const config_key& key) {
  config_value v;
  v.key = &key;
  v.raw = key.default_value;
  v.origin = "default";
  if (!parse_value(key, key.default_value, v)) return std::nullopt;
  return v;
}

// TOML basic-string syntax, which is also readable in error messages.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\u{:04X}", u);
    } else {
      out += c;
    }
  }
  return out + '"';
}

std::string render_value(const config_value& v) {
  const config_type type = v.key->type;
  if (type == config_type::integer) return std::to_string(v.number);
  if (type == config_type::boolean) return v.flag ? "true" : "false";
  if (v.number == -1 && (type == config_type::size || type == config_type::duration)) return "-1";
  if (type == config_type::size) return quote(format_size(v.number));
  if (type == config_type::duration) return quote(format_duration_ms(v.number));
  return quote(v.text);
}

// Optimal string alignment distance: a swapped pair of letters counts as one edit.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean X?)" for the closest candidate within a few edits, else "".
std::string suggestion(std::string_view name, const std::vector<std::string>& candidates) {
  const size_t limit = name.size() <= 4 ? 1 : name.size() <= 8 ? 2 : 3;
  const std::string* best = nullptr;
  size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    if (size_t d = edit_distance(name, c); d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  return best ? fmt::format(" (did you mean {}?)", *best) : "";
}

std::string_view toml_type_name(toml::node_type type) {
  constexpr std::string_view names[] = {
      "nothing",      "a TOML table",   "a TOML array", "a TOML string", "a TOML integer",
      "a TOML float", "a TOML boolean", "a TOML date",  "a TOML time",   "a TOML date-time"};
  const auto i = static_cast<size_t>(type);
  return i < std::size(names) ? names[i] : "an unknown TOML value";
}

// The text of a TOML scalar if its type suits the key: strings always (they are parsed like
// any other text), integers for numeric keys, booleans for boolean keys.
std::optional<std::string> toml_text(const toml::node& node, config_type type) {
  if (const auto* s = node.as_string()) return s->get();
  const bool numeric =
      type == config_type::integer || type == config_type::size || type == config_type::duration;
  if (const auto* i = node.as_integer(); i && numeric) return std::to_string(i->get());
  if (const auto* b = node.as_boolean(); b && type == config_type::boolean) {
    return b->get() ? "true" : "false";
  }
  return std::nullopt;
}

// Wraps `text` into "# " lines; a newline in `text` starts a new line.
void append_comment(std::string& out, std::string_view text) {
  constexpr size_t width = 96;
  std::string line;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find_first_of(" \n", pos), text.size());
    const std::string_view word = text.substr(pos, end - pos);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += fmt::format("# {}\n", line);
      line.clear();
    }
    if (!line.empty() && !word.empty()) line += ' ';
    line += word;
    if (end == text.size() || text[end] == '\n') {
      out += line.empty() ? "#\n" : fmt::format("# {}\n", line);
      line.clear();
    }
    pos = end + 1;
  }
}

}  // namespace

// Applies the layers in precedence order to a config that starts out holding the defaults.
class config_loader {
 public:
  explicit config_loader(std::span<const config_key> table) {
    if (auto problems = table_problems(table); !problems.empty()) misuse(join(problems, "; "));
    for (const config_key& key : table) {
      cfg_.values_.push_back(*default_of(key));
      names_.emplace_back(key.name);
      env_names_.push_back(env_name(key.name));
      flag_names_.push_back(flag_name(key.name));
    }
  }

  void load_file(const std::filesystem::path& path) {
    const std::string name = path.string();
    auto text = read_whole_file(path);
    if (!text) {
      errors_.push_back(
          fmt::format("cannot read config file {}: {}", name, text.error().message()));
      return;
    }
#if TOML_EXCEPTIONS
    try {
      walk(toml::parse(*text, name), name);
    } catch (const toml::parse_error& e) {
      syntax_error(name, e);
    }
#else
    toml::parse_result doc = toml::parse(*text, name);
    if (!doc) return syntax_error(name, doc.error());
    walk(doc.table(), name);
#endif
  }

  void load_env(const config_inputs& in) {
    for (const auto& [name, value] : in.env) {
      if (!name.starts_with(env_prefix)) continue;
      if (std::find(in.ignored_env.begin(), in.ignored_env.end(), name) != in.ignored_env.end()) {
        continue;
      }
      auto it = std::find(env_names_.begin(), env_names_.end(), name);
      if (it == env_names_.end()) {
        errors_.push_back(
            fmt::format("unknown environment variable {}{}", name, suggestion(name, env_names_)));
        continue;
      }
      add(set(cfg_.values_[static_cast<size_t>(it - env_names_.begin())], value, config_source::env,
              "environment variable " + name));
    }
  }

  void load_flags(const config_inputs& in) {
    for (const auto& [key, value] : in.flags) {
      if (config_value* v = find(key)) {
        add(set(*v, value, config_source::flag, "flag " + flag_name(key)));
      } else {
        const std::string flag = flag_name(key);
        errors_.push_back(fmt::format("unknown flag {}{}", flag, suggestion(flag, flag_names_)));
      }
    }
  }

  config_result<config> finish() && {
    if (!errors_.empty()) return config_error{join(errors_, "\n")};
    return std::move(cfg_);
  }

 private:
  config_value* find(std::string_view name) {
    auto it = std::find_if(cfg_.values_.begin(), cfg_.values_.end(),
                           [&](const config_value& v) { return v.key->name == name; });
    return it == cfg_.values_.end() ? nullptr : &*it;
  }

  // Applies `raw` to `v` if it is valid for the key; otherwise returns what is wrong with it.
  std::optional<std::string> set(config_value& v, std::string_view raw, config_source source,
                                 std::string origin) {
    config_value next = v;
    if (!parse_value(*v.key, raw, next)) {
      return fmt::format("invalid value {} for {} (from {}): expected {}", quote(raw), v.key->name,
                         origin, describe_expected(*v.key));
    }
    next.source = source;
    next.raw = raw;
    next.origin = std::move(origin);
    v = std::move(next);
    return std::nullopt;
  }

  // Collects (line, problem) pairs: TOML tables iterate in key order, not file order.
  void walk(const toml::table& table, const std::string& prefix, const std::string& file,
            std::vector<std::pair<uint32_t, std::string>>& problems) {
    for (auto&& [k, node] : table) {
      const std::string path =
          prefix.empty() ? std::string(k.str()) : fmt::format("{}.{}", prefix, k.str());
      const uint32_t line = node.source().begin.line;
      const std::string where = fmt::format("{}:{}", file, line);
      if (config_value* v = find(path)) {
        if (auto raw = toml_text(node, v->key->type)) {
          if (auto problem = set(*v, *raw, config_source::file, where)) {
            problems.emplace_back(line, std::move(*problem));
          }
        } else {
          problems.emplace_back(
              line,
              fmt::format("invalid value ({}) for {} (from {}): expected {}",
                          toml_type_name(node.type()), path, where, describe_expected(*v->key)));
        }
      } else if (const toml::table* sub = node.as_table(); sub && !sub->empty()) {
        walk(*sub, path, file, problems);  // unknown leaves below are reported by full path
      } else {
        problems.emplace_back(k.source().begin.line,
                              fmt::format("unknown key {} in {}:{}{}", path, file,
                                          k.source().begin.line, suggestion(path, names_)));
      }
    }
  }

  void walk(const toml::table& doc, const std::string& file) {
    std::vector<std::pair<uint32_t, std::string>> problems;
    walk(doc, "", file, problems);
    std::stable_sort(problems.begin(), problems.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [line, problem] : problems) errors_.push_back(std::move(problem));
  }

  void add(std::optional<std::string> problem) {
    if (problem) errors_.push_back(std::move(*problem));
  }

  void syntax_error(const std::string& file, const toml::parse_error& e) {
    errors_.push_back(fmt::format("{}:{}:{}: invalid TOML: {}", file, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }

  config cfg_;
  std::vector<std::string> names_, env_names_, flag_names_;
  std::vector<std::string> errors_;
};

std::string_view to_string(config_type type) {
  constexpr std::string_view names[] = {"string", "integer",  "boolean",
                                        "size",   "duration", "choice"};
  return names[static_cast<size_t>(type)];
}

std::string_view to_string(config_source source) {
  constexpr std::string_view names[] = {"default", "file", "env", "flag"};
  return names[static_cast<size_t>(source)];
}

std::string env_name(std::string_view key) {
  std::string out(env_prefix);
  for (char c : key)
    out += c == '.' ? '_' : c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
  return out;
}

std::string flag_name(std::string_view key) {
  std::string out = "--";
  for (char c : key) out += c == '.' || c == '_' ? '-' : c;
  return out;
}

std::optional<int64_t> parse_size(std::string_view text) {
  return parse_scaled(text, size_units);
}

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  return parse_scaled(text, duration_units);
}

std::optional<int64_t> parse_integer(std::string_view text) {
  text = trim(text);
  int64_t n = 0;
  auto [rest, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || text.empty() || rest != text.data() + text.size()) return std::nullopt;
  return n;
}

std::optional<bool> parse_bool(std::string_view text) {
  text = trim(text);
  for (std::string_view yes : {"true", "1", "yes", "on"}) {
    if (iequals(text, yes)) return true;
  }
  for (std::string_view no : {"false", "0", "no", "off"}) {
    if (iequals(text, no)) return false;
  }
  return std::nullopt;
}

std::string format_size(int64_t bytes) {
  return format_scaled(bytes, size_units);
}
std::string format_duration_ms(int64_t ms) {
  return format_scaled(ms, duration_units);
}

std::string describe_expected(const config_key& key) {
  std::string s;
  switch (key.type) {
    case config_type::string:
      return "a string";
    case config_type::boolean:
      return "true or false";
    case config_type::choice:
      return "one of " + join(key.choices, ", ");
    case config_type::integer:
      s = "an integer";
      break;
    case config_type::size: {
      // The default makes the most relevant example; a zero default shows nothing useful.
      const int64_t example = parse_size(key.default_value).value_or(0);
      const int64_t shown = example > 0 ? example : int64_t{1} << 30;
      s = fmt::format("a size such as {} or {}", shown, format_size(shown));
      break;
    }
    case config_type::duration: {
      const int64_t example = parse_duration_ms(key.default_value).value_or(0);
      const int64_t shown = example > 0 ? example : 30'000;
      s = fmt::format("a duration such as {} (milliseconds) or {}", shown,
                      format_duration_ms(shown));
      break;
    }
  }
  const bool has_min = key.min != std::numeric_limits<int64_t>::min();
  const bool has_max = key.max != std::numeric_limits<int64_t>::max();
  if (has_min && has_max) {
    s += fmt::format(", between {} and {}", format_in_unit(key, key.min),
                     format_in_unit(key, key.max));
  } else if (has_min) {
    s += ", at least " + format_in_unit(key, key.min);
  } else if (has_max) {
    s += ", at most " + format_in_unit(key, key.max);
  }
  return s;
}

std::vector<std::string> table_problems(std::span<const config_key> table) {
  std::vector<std::string> out;
  for (size_t i = 0; i < table.size(); ++i) {
    const config_key& k = table[i];
    if (!valid_name(k.name)) {
      out.push_back(
          fmt::format("invalid key name \"{}\": use dot-separated parts of a-z, 0-9, _", k.name));
    }
    for (const config_key& o : table.first(i)) {
      if (env_name(o.name) == env_name(k.name)) {
        out.push_back(fmt::format("keys {} and {} have the same environment variable and flag",
                                  o.name, k.name));
      }
      if (is_table_of(o.name, k.name) || is_table_of(k.name, o.name)) {
        out.push_back(
            fmt::format("keys {} and {} conflict: one would be a TOML table holding the other",
                        o.name, k.name));
      }
    }
    if ((k.type == config_type::choice) == k.choices.empty()) {
      out.push_back(fmt::format("key {}: choices must be given exactly for choice keys", k.name));
    }
    if (k.min > k.max) {
      out.push_back(fmt::format("key {}: min is greater than max", k.name));
    } else if (!default_of(k)) {
      out.push_back(fmt::format("key {}: default {} is invalid, expected {}", k.name,
                                quote(k.default_value), describe_expected(k)));
    }
  }
  return out;
}

const config_value& config::find(std::string_view key) const {
  for (const config_value& v : values_) {
    if (v.key->name == key) return v;
  }
  misuse(fmt::format("key \"{}\" is not in the configuration table", key));
}

const config_value& config::find(std::string_view key, std::initializer_list<config_type> types,
                                 std::string_view getter) const {
  const config_value& v = find(key);
  if (std::find(types.begin(), types.end(), v.key->type) == types.end()) {
    misuse(fmt::format("config::{}(\"{}\") on a {} key", getter, key, to_string(v.key->type)));
  }
  return v;
}

const std::string& config::get_string(std::string_view key) const {
  return find(key, {config_type::string, config_type::choice}, "get_string").text;
}

int64_t config::get_int(std::string_view key) const {
  return find(key, {config_type::integer, config_type::size, config_type::duration}, "get_int")
      .number;
}

bool config::get_bool(std::string_view key) const {
  return find(key, {config_type::boolean}, "get_bool").flag;
}

std::chrono::milliseconds config::get_duration(std::string_view key) const {
  return std::chrono::milliseconds(find(key, {config_type::duration}, "get_duration").number);
}

config_source config::source(std::string_view key) const {
  return find(key).source;
}
const std::string& config::raw(std::string_view key) const {
  return find(key).raw;
}
const std::string& config::origin(std::string_view key) const {
  return find(key).origin;
}

bool config::contains(std::string_view key) const {
  return std::any_of(values_.begin(), values_.end(),
                     [&](const config_value& v) { return v.key->name == key; });
}

config_inputs config_inputs::from_environ() {
  config_inputs in;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view e(*entry);
    const size_t eq = e.find('=');
    if (eq == std::string_view::npos || !e.starts_with(env_prefix)) continue;
    in.env.emplace_back(e.substr(0, eq), e.substr(eq + 1));
  }
  return in;
}

config_result<config> load(std::span<const config_key> table, const config_inputs& inputs) {
  config_loader loader(table);
  if (inputs.file) loader.load_file(*inputs.file);
  loader.load_env(inputs);
  loader.load_flags(inputs);
  return std::move(loader).finish();
}

std::string render_example_toml(std::span<const config_key> table) {
  auto group_of = [](std::string_view name) {
    const size_t dot = name.find('.');
    return dot == std::string_view::npos ? std::string_view() : name.substr(0, dot);
  };
  std::string out =
      "# Riptide configuration (TOML). Every setting is listed with its default value.\n"
      "# Precedence, lowest first: built-in default, this file, environment variable, flag.\n";
  // Keys without a dot must precede the first [table] header, or TOML would put them in it.
  std::vector<std::string_view> groups = {""};
  for (const config_key& k : table) {
    const std::string_view g = group_of(k.name);
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  }
  for (std::string_view g : groups) {
    if (!g.empty()) out += fmt::format("\n[{}]\n", g);
    bool after_header = !g.empty();
    for (const config_key& k : table) {
      if (group_of(k.name) != g) continue;
      auto v = default_of(k);
      if (!v) misuse(fmt::format("invalid default for {}", k.name));
      if (!after_header) out += '\n';
      after_header = false;
      append_comment(out, k.description);
      append_comment(out, fmt::format("Accepts {}. Environment: {}, flag: {}.",
                                      describe_expected(k), env_name(k.name), flag_name(k.name)));
      const std::string_view local = g.empty() ? k.name : k.name.substr(g.size() + 1);
      out += fmt::format("{} = {}\n", local, render_value(*v));
    }
  }
  return out;
}

std::string render_effective(const config& cfg) {
  std::vector<std::string> lines;
  size_t width = 0;
  for (const config_value& v : cfg.values()) {
    lines.push_back(fmt::format("{} = {}", v.key->name, render_value(v)));
    width = std::max(width, lines.back().size());
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const config_value& v = cfg.values()[i];
    out += fmt::format("{:<{}}  # {}{}\n", lines[i], width,
                       v.source == config_source::file ? "file " : "", v.origin);
  }
  return out;
}

}  // namespace base
