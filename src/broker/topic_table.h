#pragma once
// topic_table_file: the topic table as kept in `<data>/topics`, an append-only log of
// changes. Each change is one checksummed line, appended and fdatasynced before the
// broker acts on it; once the file has grown past a multiple of the live table's size
// it is rewritten whole (temp file, fsync, rename, fsync directory). A change therefore
// costs one short append and one fdatasync, at 100 topics as at 100,000.
//
//   riptide-topics v2
//   5d1c2f0a topic orders 3 9f0c49e1aa0b4f6c8d2e7a1b3c5d7e9f cleanup.policy=compact live
//   0b77a9e3 topic clicks 12 41aa07c2d9e84b1a9c3f5e7d1b2a4c6e - creating
//   a1f4c2d8 remove clicks
//
// The first field is the CRC-32C (hex) of the rest of the line. A `topic` line is the
// whole state of one topic: name, partitions, id, its own configs (key=value;...,
// percent-escaped; `-` for none) and where it stands: `live`, or an operation on its
// partition directories that began and has not finished — `creating`, `adding-from-<n>`
// (partitions n and up are being created), `deleting`. The broker writes such an intent
// before it touches the directories and the outcome after, so a start after a crash
// knows what to roll back or finish. `remove` drops a topic. Replaying the lines in
// order gives the table.
//
// open() cuts off a last line that is incomplete or fails its checksum (a crash while
// it was appended: the change was never acted on); damage anywhere else is
// errc::damaged_metadata, logged naming the file, the line and the fix. The v1 file of
// earlier versions ("riptide-topics v1", then "<name> <partitions> <id> <configs>" per
// topic, rewritten whole on every change) is read as well and replaced by a v2 file at
// the first change.
//
// Not thread-safe: one call at a time, from any thread. The broker makes its calls from
// its flusher threads while it holds its admin lock on shard 0, and from start().

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/file.h"
#include "base/result.h"
#include "broker/topic_config.h"

namespace broker {

// The most partitions one topic may have: a bound on what the file may say, whatever
// the configured limits.
inline constexpr int32_t max_partitions_per_topic = 100000;

enum class topic_state : uint8_t { live, creating, adding_partitions, deleting };

// One topic as the table file records it.
struct table_entry {
  std::string name;
  int32_t partitions = 0;
  std::array<uint8_t, 16> id{};
  config_map configs;  // the topic's own overrides
  topic_state state = topic_state::live;
  // adding_partitions: the partitions the topic had before (directories from this
  // partition on are being created).
  int32_t partitions_before = 0;

  bool operator==(const table_entry&) const = default;
};

struct table_file_options {
  // The file is rewritten once it is larger than both this many times the size of the
  // live table (one line per topic) and compact_min_bytes.
  uint64_t compact_ratio = 4;
  uint64_t compact_min_bytes = 1 << 20;
};

class topic_table_file;

struct loaded_table {
  std::unique_ptr<topic_table_file> file;
  std::vector<table_entry> entries;  // the table, in name order
  size_t changes = 0;                // lines replayed
  uint64_t truncated_bytes = 0;      // a partly written last change, cut off
  bool legacy = false;               // read as a v1 file (rewritten at the first change)
};

class topic_table_file {
 public:
  static constexpr std::string_view magic = "riptide-topics v2";
  static constexpr std::string_view legacy_magic = "riptide-topics v1";

  // Reads `path` (absent: an empty table, the file is created at the first change).
  static base::result<loaded_table> open(std::filesystem::path path, table_file_options opts = {});
  ~topic_table_file();
  topic_table_file(const topic_table_file&) = delete;
  topic_table_file& operator=(const topic_table_file&) = delete;

  // Records `e` as the topic's state, durably. On failure the file is unchanged as far
  // as the table is concerned (a partial line is overwritten, or cut off at the next
  // open) and the next change rewrites the whole file.
  base::status put(const table_entry& e);
  // Drops a topic, durably.
  base::status remove(std::string_view name);
  // Rewrites the file as one line per topic.
  base::status rewrite();

  const std::filesystem::path& path() const { return path_; }
  uint64_t file_bytes() const { return end_; }
  uint64_t live_bytes() const { return live_bytes_; }
  size_t topics() const { return lines_.size(); }
  uint64_t rewrites() const { return rewrites_; }

  // The line format, exposed for tests.
  static std::string encode(const table_entry& e);

 private:
  topic_table_file(std::filesystem::path path, table_file_options opts);
  // Applies a change already made durable (nullopt line: remove).
  void apply(std::string_view name, std::optional<std::string> line);
  base::status append(const std::string& line);
  base::status change(std::string_view name, std::optional<std::string> line);

  std::filesystem::path path_;
  table_file_options opts_;
  // The latest line of every topic: the table as the file holds it.
  std::map<std::string, std::string, std::less<>> lines_;
  uint64_t live_bytes_ = 0;  // header + lines_
  uint64_t end_ = 0;         // bytes of the file that hold the table
  std::shared_ptr<base::file> out_;
  bool rewrite_next_ = false;  // a v1 file, or an append that failed
  uint64_t rewrites_ = 0;
};

std::string to_string(topic_state s);
// The topic id as 32 hexadecimal digits, and back.
std::string hex_id(const std::array<uint8_t, 16>& id);
std::optional<std::array<uint8_t, 16>> parse_hex_id(std::string_view s);

}  // namespace broker
