#include "broker/topic_table.h"

#include <fmt/format.h>

#include <charconv>
#include <sstream>
#include <variant>

#include "base/crc32c.h"
#include "base/logging.h"
#include "broker/errc.h"

namespace broker {
namespace {

constexpr std::string_view kAddingFrom = "adding-from-";

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

uint32_t checksum(std::string_view body) {
  return base::crc32c(as_bytes(body));
}

std::string with_checksum(std::string_view body) {
  return fmt::format("{:08x} {}\n", checksum(body), body);
}

// Config keys and values are written percent-escaped, so that neither a space nor the
// separators can end up inside one.
bool needs_escape(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u >= 0x7f || c == '%' || c == ';' || c == '=';
}

void escape_into(std::string& out, std::string_view s) {
  for (char c : s) {
    if (needs_escape(c)) {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
}

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    uint8_t b = 0;
    if (i + 2 >= s.size()) return std::nullopt;  // fewer than two hex digits follow
    auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, b, 16);
    if (ec != std::errc() || end != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(b);
    i += 2;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

std::optional<int32_t> parse_int32(std::string_view s) {
  int32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// One line's change: a topic's new state, or the name of a topic dropped.
using table_change = std::variant<table_entry, std::string>;

// Checks what a line says, as a message for the operator (nullopt: valid).
std::optional<std::string> check_entry(const table_entry& e) {
  if (auto bad = validate_topic_name(e.name)) return bad;
  if (e.partitions <= 0 || e.partitions > max_partitions_per_topic) {
    return fmt::format("{} partitions is outside 1-{}", e.partitions, max_partitions_per_topic);
  }
  if (e.state == topic_state::adding_partitions &&
      (e.partitions_before <= 0 || e.partitions_before >= e.partitions)) {
    return fmt::format("adding partitions from {} to a topic of {} partitions", e.partitions_before,
                       e.partitions);
  }
  for (const auto& [k, v] : e.configs) {
    if (auto bad = validate_topic_config(k, v)) return bad;
  }
  return std::nullopt;
}

// The configs field: `-` or key=value;... (escaped as the file writes them).
std::optional<std::string> parse_configs(std::string_view field, config_map& out, bool escaped) {
  if (field == "-") return std::nullopt;
  for (auto kv : split(field, ';')) {
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) {
      return fmt::format("topic config \"{}\" has no '='", kv);
    }
    std::optional<std::string> key = std::string(kv.substr(0, eq));
    std::optional<std::string> value = std::string(kv.substr(eq + 1));
    if (escaped) {
      key = unescape(kv.substr(0, eq));
      value = unescape(kv.substr(eq + 1));
      if (!key || !value) return fmt::format("topic config \"{}\" has a bad %-escape", kv);
    }
    out[*key] = *value;
  }
  return std::nullopt;
}

// A v2 line without its checksum: the change, or what is wrong with it.
std::variant<table_change, std::string> parse_body(std::string_view body) {
  auto f = split(body, ' ');
  if (f.size() == 2 && f[0] == "remove") {
    if (auto bad = validate_topic_name(f[1])) return *bad;
    return table_change(std::string(f[1]));
  }
  if (f.size() != 6 || f[0] != "topic") {
    return fmt::format(
        "expected \"topic <name> <partitions> <id> <configs> <state>\" or \"remove <name>\", "
        "found \"{}\"",
        body.substr(0, 200));
  }
  table_entry e;
  e.name = std::string(f[1]);
  auto partitions = parse_int32(f[2]);
  if (!partitions) return fmt::format("partition count \"{}\" is not a number", f[2]);
  e.partitions = *partitions;
  auto id = parse_hex_id(f[3]);
  if (!id) return fmt::format("topic id \"{}\" is not 32 hexadecimal digits", f[3]);
  e.id = *id;
  if (auto bad = parse_configs(f[4], e.configs, /*escaped=*/true)) return *bad;
  const auto state = f[5];
  if (state == "live") {
    e.state = topic_state::live;
  } else if (state == "creating") {
    e.state = topic_state::creating;
  } else if (state == "deleting") {
    e.state = topic_state::deleting;
  } else if (state.starts_with(kAddingFrom)) {
    auto from = parse_int32(state.substr(kAddingFrom.size()));
    if (!from) return fmt::format("unknown topic state \"{}\"", state);
    e.state = topic_state::adding_partitions;
    e.partitions_before = *from;
  } else {
    return fmt::format("unknown topic state \"{}\"", state);
  }
  if (auto bad = check_entry(e)) return *bad;
  return table_change(std::move(e));
}

}  // namespace

std::string to_string(topic_state s) {
  switch (s) {
    case topic_state::live:
      return "live";
    case topic_state::creating:
      return "creating";
    case topic_state::adding_partitions:
      return "adding partitions";
    case topic_state::deleting:
      return "deleting";
  }
  return "unknown";
}

std::string hex_id(const std::array<uint8_t, 16>& id) {
  std::string s;
  for (uint8_t b : id) s += fmt::format("{:02x}", b);
  return s;
}

std::optional<std::array<uint8_t, 16>> parse_hex_id(std::string_view s) {
  if (s.size() != 32) return std::nullopt;
  std::array<uint8_t, 16> id{};
  for (size_t i = 0; i < id.size(); ++i) {
    const char* first = s.data() + 2 * i;
    auto [end, ec] = std::from_chars(first, first + 2, id[i], 16);
    if (ec != std::errc() || end != first + 2) return std::nullopt;
  }
  return id;
}

std::string topic_table_file::encode(const table_entry& e) {
  std::string configs;
  for (const auto& [k, v] : e.configs) {
    if (!configs.empty()) configs += ';';
    escape_into(configs, k);
    configs += '=';
    escape_into(configs, v);
  }
  std::string state;
  if (e.state == topic_state::adding_partitions) {
    state = fmt::format("{}{}", kAddingFrom, e.partitions_before);
  } else {
    state = to_string(e.state);
  }
  return with_checksum(fmt::format("topic {} {} {} {} {}", e.name, e.partitions, hex_id(e.id),
                                   configs.empty() ? "-" : configs, state));
}

topic_table_file::topic_table_file(std::filesystem::path path, table_file_options opts)
    : path_(std::move(path)), opts_(opts), live_bytes_(magic.size() + 1) {}

topic_table_file::~topic_table_file() = default;

base::result<loaded_table> topic_table_file::open(std::filesystem::path path,
                                                  table_file_options opts) {
  loaded_table out;
  std::unique_ptr<topic_table_file> f(new topic_table_file(path, opts));
  auto content = base::read_whole_file(path);
  if (!content) {
    if (content.error() != std::errc::no_such_file_or_directory) {
      base::logger("broker")->error("cannot read the topic table {}: {}", path.string(),
                                    content.error().message());
      return content.error();
    }
    f->rewrite_next_ = true;  // the first change creates it
    out.file = std::move(f);
    return out;
  }
  const std::string_view all = *content;
  bool legacy = false;
  auto damaged = [&](size_t line_no, std::string_view what) -> std::error_code {
    base::logger("broker")->error(
        "{}, line {}: {}. The topic table is damaged: restore it from a backup, or {} that "
        "line and start again (the change it recorded is then lost; partition directories of "
        "topics the table does not name are moved to orphaned/ in the data directory, not "
        "deleted)",
        path.string(), line_no, what, legacy ? "fix or remove" : "remove");
    return errc::damaged_metadata;
  };
  const auto first_end = all.find('\n');
  const std::string_view first = all.substr(0, first_end);
  std::map<std::string, table_entry, std::less<>> table;
  if (first == legacy_magic) {
    // Earlier versions: the whole table, one topic per line, rewritten on each change.
    legacy = true;
    std::istringstream in(
        std::string(all.substr(first_end == std::string_view::npos ? all.size() : first_end + 1)));
    std::string line;
    for (size_t line_no = 2; std::getline(in, line); ++line_no) {
      std::istringstream fields(line);
      table_entry e;
      std::string id, cfg, extra;
      if (!(fields >> e.name >> e.partitions >> id >> cfg) || (fields >> extra)) {
        return damaged(line_no, fmt::format("expected \"<topic> <partitions> <id> <configs>\", "
                                            "found \"{}\"",
                                            line));
      }
      auto parsed_id = parse_hex_id(id);
      if (!parsed_id) {
        return damaged(line_no, fmt::format("topic id \"{}\" is not 32 hexadecimal digits", id));
      }
      e.id = *parsed_id;
      if (auto bad = parse_configs(cfg, e.configs, /*escaped=*/false)) {
        return damaged(line_no, *bad);
      }
      if (auto bad = check_entry(e)) return damaged(line_no, *bad);
      ++out.changes;
      table[e.name] = std::move(e);
    }
    f->rewrite_next_ = true;
    f->end_ = all.size();
  } else {
    if (first != magic || first_end == std::string_view::npos) {
      return damaged(1, fmt::format("expected \"{}\"", magic));
    }
    size_t pos = first_end + 1;
    for (size_t line_no = 2; pos < all.size(); ++line_no) {
      const auto end = all.find('\n', pos);
      const bool last = end == std::string_view::npos || end + 1 == all.size();
      std::optional<std::string_view> body;
      if (end != std::string_view::npos) {
        const auto line = all.substr(pos, end - pos);
        uint32_t crc = 0;
        if (line.size() > 9 && line[8] == ' ') {
          auto [p, ec] = std::from_chars(line.data(), line.data() + 8, crc, 16);
          if (ec == std::errc() && p == line.data() + 8 && checksum(line.substr(9)) == crc) {
            body = line.substr(9);
          }
        }
      }
      if (!body) {
        if (!last) return damaged(line_no, "checksum mismatch (the line is not as written)");
        // A change being appended when the broker stopped: it was never acted on.
        out.truncated_bytes = all.size() - pos;
        base::logger("broker")->warn(
            "{}: cut off a partly written last change ({} bytes at line {}); it was being "
            "recorded when the broker stopped and was never acted on",
            path.string(), out.truncated_bytes, line_no);
        auto file = base::file::open(path, base::file::mode::read_write);
        if (!file) return file.error();
        RIPTIDE_TRY((*file)->truncate(pos));
        RIPTIDE_TRY((*file)->sync());
        break;
      }
      auto parsed = parse_body(*body);
      if (auto* bad = std::get_if<std::string>(&parsed)) return damaged(line_no, *bad);
      auto& change = std::get<table_change>(parsed);
      if (auto* e = std::get_if<table_entry>(&change)) {
        table[e->name] = std::move(*e);
      } else {
        const auto& name = std::get<std::string>(change);
        if (auto it = table.find(name); it != table.end()) table.erase(it);
      }
      ++out.changes;
      pos = end + 1;
    }
    f->end_ = pos;
  }
  for (auto& [name, e] : table) {
    f->apply(name, encode(e));
    out.entries.push_back(std::move(e));
  }
  out.legacy = legacy;
  out.file = std::move(f);
  return out;
}

void topic_table_file::apply(std::string_view name, std::optional<std::string> line) {
  auto it = lines_.find(name);
  if (it != lines_.end()) {
    live_bytes_ -= it->second.size();
    if (!line) {
      lines_.erase(it);
      return;
    }
    it->second = std::move(*line);
    live_bytes_ += it->second.size();
    return;
  }
  if (!line) return;
  live_bytes_ += line->size();
  lines_.emplace(std::string(name), std::move(*line));
}

base::status topic_table_file::put(const table_entry& e) {
  return change(e.name, encode(e));
}

base::status topic_table_file::remove(std::string_view name) {
  return change(name, std::nullopt);
}

base::status topic_table_file::change(std::string_view name, std::optional<std::string> line) {
  if (rewrite_next_) {
    std::optional<std::string> before;
    if (auto it = lines_.find(name); it != lines_.end()) before = it->second;
    apply(name, line);
    if (auto st = rewrite(); !st) {
      apply(name, std::move(before));
      return st;
    }
    return {};
  }
  RIPTIDE_TRY(append(line ? *line : with_checksum(fmt::format("remove {}", name))));
  apply(name, std::move(line));
  if (end_ > opts_.compact_min_bytes && end_ > opts_.compact_ratio * live_bytes_) {
    if (auto st = rewrite(); !st) {
      // The change itself is durable; the next one tries the rewrite again.
      base::logger("broker")->warn("cannot rewrite the topic table {}: {}", path_.string(),
                                   st.error().message());
    }
  }
  return {};
}

base::status topic_table_file::append(const std::string& line) {
  if (!out_) {
    auto f = base::file::open(path_, base::file::mode::read_write);
    if (!f) return f.error();
    out_ = std::move(*f);
  }
  auto st = out_->pwrite_all(as_bytes(line), end_);
  if (st) st = out_->datasync();
  if (!st) {
    // What reached the file is unknown: the next change rewrites the whole table.
    rewrite_next_ = true;
    out_.reset();
    return st;
  }
  end_ += line.size();
  return {};
}

base::status topic_table_file::rewrite() {
  std::string all;
  all.reserve(live_bytes_);
  all += magic;
  all += '\n';
  for (const auto& [_, line] : lines_) all += line;
  out_.reset();  // it names the file being replaced
  if (auto st = base::write_file_atomically(path_, as_bytes(all)); !st) {
    rewrite_next_ = true;
    return st;
  }
  rewrite_next_ = false;
  end_ = all.size();
  ++rewrites_;
  return {};
}

}  // namespace broker
