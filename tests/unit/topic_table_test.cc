#include "broker/topic_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "base/crc32c.h"
#include "base/file.h"
#include "broker/errc.h"
#include "test_dir.h"

namespace {

namespace fs = std::filesystem;
using broker::table_entry;
using broker::topic_state;
using broker::topic_table_file;

table_entry topic(std::string name, int32_t partitions, broker::config_map configs = {}) {
  table_entry e;
  e.name = std::move(name);
  e.partitions = partitions;
  e.configs = std::move(configs);
  for (size_t i = 0; i < e.id.size(); ++i) {
    e.id[i] = static_cast<uint8_t>(e.name.size() * 31 + i * 7 + static_cast<size_t>(partitions));
  }
  return e;
}

std::string read(const fs::path& p) {
  return *base::read_whole_file(p);
}

void write(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

// A line whose checksum matches, whatever it says.
std::string checksummed(const std::string& body) {
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x ",
                base::crc32c({reinterpret_cast<const uint8_t*>(body.data()), body.size()}));
  return crc + body + "\n";
}

// The file earlier versions wrote.
std::string v1_file(const std::vector<table_entry>& topics) {
  std::string s = "riptide-topics v1\n";
  for (const auto& e : topics) {
    std::string cfg;
    for (const auto& [k, v] : e.configs) cfg += (cfg.empty() ? "" : ";") + k + "=" + v;
    s += e.name + " " + std::to_string(e.partitions) + " " + broker::hex_id(e.id) + " " +
         (cfg.empty() ? "-" : cfg) + "\n";
  }
  return s;
}

std::vector<table_entry> reopen(const fs::path& p, broker::table_file_options opts = {}) {
  auto t = topic_table_file::open(p, opts);
  EXPECT_TRUE(t) << t.error().message();
  return t ? t->entries : std::vector<table_entry>{};
}

class TopicTable : public ::testing::Test {
 protected:
  riptide::testing::temp_dir dir_{/*in_memory=*/true};
  fs::path path_ = dir_.path() / "topics";
};

TEST_F(TopicTable, ChangesAreAppendedAndReplayedInOrder) {
  auto t = topic_table_file::open(path_);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->entries.empty());
  EXPECT_FALSE(fs::exists(path_));  // made at the first change
  auto& f = *t->file;

  // Config values may hold spaces, newlines and the file's own separators.
  auto orders =
      topic("orders", 3,
            {{"cleanup.policy", "compact, delete"}, {"message.format.version", "a;b=c%d\n e"}});
  auto clicks = topic("clicks", 2);
  ASSERT_TRUE(f.put(orders));
  const auto after_first = f.file_bytes();
  ASSERT_TRUE(f.put(clicks));
  // One line per change, appended: the file grows by exactly that line.
  EXPECT_EQ(f.file_bytes(), after_first + topic_table_file::encode(clicks).size());
  auto growing = clicks;
  growing.partitions = 5;
  growing.partitions_before = 2;
  growing.state = topic_state::adding_partitions;
  ASSERT_TRUE(f.put(growing));
  auto doomed = orders;
  doomed.state = topic_state::deleting;
  ASSERT_TRUE(f.put(doomed));
  ASSERT_TRUE(f.remove("orders"));
  ASSERT_TRUE(f.put(topic("orders", 1)));
  EXPECT_EQ(f.rewrites(), 1u);  // only the first change, which created the file
  EXPECT_EQ(f.topics(), 2u);

  auto back = reopen(path_);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0], growing);  // in name order
  EXPECT_EQ(back[1], topic("orders", 1));

  auto text = read(path_);
  EXPECT_EQ(text.substr(0, 18), "riptide-topics v2\n");
  EXPECT_NE(text.find(" topic clicks 5 "), std::string::npos) << text;
  EXPECT_NE(text.find(" adding-from-2\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" remove orders\n"), std::string::npos) << text;
  EXPECT_NE(
      text.find("cleanup.policy=compact,%20delete;message.format.version=a%3Bb%3Dc%25d%0A%20e"),
      std::string::npos)
      << text;
  // Nothing else of the file needs escaping: the rest is names, numbers and ids.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 7);
}

TEST_F(TopicTable, APartlyWrittenLastChangeIsCutOff) {
  {
    auto t = topic_table_file::open(path_);
    ASSERT_TRUE(t->file->put(topic("a", 1)));
    ASSERT_TRUE(t->file->put(topic("b", 2)));
  }
  const auto good = read(path_);
  const auto line = topic_table_file::encode(topic("c", 3));
  const std::vector<std::string> tails = {
      line.substr(0, line.size() / 2),                    // cut short, no newline
      std::string(line.size(), '\0'),                     // extended with zeros, never written
      line.substr(0, 20) + std::string(30, '\0') + "\n",  // a page missing, then the newline
      "0000000" + line.substr(7),                         // complete, wrong checksum
  };
  for (const auto& tail : tails) {
    write(path_, good + tail);
    auto t = topic_table_file::open(path_);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(t->truncated_bytes, tail.size());
    ASSERT_EQ(t->entries.size(), 2u);
    EXPECT_EQ(read(path_), good);  // cut off on disk too
    // The next change goes where the torn one was.
    ASSERT_TRUE(t->file->put(topic("c", 3)));
    EXPECT_EQ(read(path_), good + line);
  }
}

TEST_F(TopicTable, DamageBeforeTheLastLineIsAnErrorNamingTheLine) {
  {
    auto t = topic_table_file::open(path_);
    for (auto name : {"a", "b", "c"}) ASSERT_TRUE(t->file->put(topic(name, 1)));
  }
  const auto good = read(path_);
  auto flipped = good;
  const auto second = good.find('\n', good.find('\n') + 1) + 1;  // line 3
  flipped[second + 20] ^= 0x01;
  write(path_, flipped);
  auto t = topic_table_file::open(path_);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error(), broker::errc::damaged_metadata);
  EXPECT_EQ(read(path_), flipped);  // left as it was for the operator

  // A line with a valid checksum that does not parse is damage as well, wherever it is.
  write(path_, good + checksummed("topic a 1"));
  EXPECT_EQ(topic_table_file::open(path_).error(), broker::errc::damaged_metadata);
  write(path_, good + checksummed("topic a 0 " + broker::hex_id(topic("a", 1).id) + " - live"));
  EXPECT_EQ(topic_table_file::open(path_).error(), broker::errc::damaged_metadata);
  write(path_, "riptide-topics v9\n");
  EXPECT_EQ(topic_table_file::open(path_).error(), broker::errc::damaged_metadata);
  write(path_, "");
  EXPECT_EQ(topic_table_file::open(path_).error(), broker::errc::damaged_metadata);
}

TEST_F(TopicTable, TheLogIsRewrittenOnceItOutgrowsTheTable) {
  broker::table_file_options opts;
  opts.compact_ratio = 3;
  opts.compact_min_bytes = 0;
  auto t = topic_table_file::open(path_, opts);
  auto& f = *t->file;
  for (auto name : {"a", "b", "c", "d"}) ASSERT_TRUE(f.put(topic(name, 1)));
  const auto live = f.live_bytes();
  uint64_t largest = 0;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(f.put(topic("b", 1, {{"retention.ms", std::to_string(i)}})));
    largest = std::max(largest, f.file_bytes());
  }
  EXPECT_GT(f.rewrites(), 10u);
  EXPECT_LE(largest, 3 * f.live_bytes() + 200);  // bounded by the ratio (plus one line)
  EXPECT_GE(f.live_bytes(), live);
  EXPECT_EQ(f.file_bytes(), read(path_).size());
  auto back = reopen(path_);
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back[1], topic("b", 1, {{"retention.ms", "199"}}));
  EXPECT_FALSE(fs::exists(path_.string() + ".tmp"));
}

TEST_F(TopicTable, AVersionOneFileLoadsAndIsRewrittenAtTheFirstChange) {
  const auto a = topic("events", 2, {{"cleanup.policy", "compact"}, {"retention.ms", "1000"}});
  const auto b = topic("__consumer_offsets", 8);
  write(path_, v1_file({b, a}));
  auto t = topic_table_file::open(path_);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_TRUE(t->legacy);
  ASSERT_EQ(t->entries.size(), 2u);
  EXPECT_EQ(t->entries[0], b);
  EXPECT_EQ(t->entries[1], a);
  EXPECT_EQ(read(path_).substr(0, 18), "riptide-topics v1\n");  // untouched until a change

  const auto c = topic("clicks", 4);
  ASSERT_TRUE(t->file->put(c));
  EXPECT_EQ(read(path_).substr(0, 18), "riptide-topics v2\n");
  auto back = reopen(path_);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0], b);
  EXPECT_EQ(back[1], c);
  EXPECT_EQ(back[2], a);

  // Its damage is reported as before.
  write(path_, "riptide-topics v1\nevents -2 " + broker::hex_id(a.id) + " -\n");
  EXPECT_EQ(topic_table_file::open(path_).error(), broker::errc::damaged_metadata);
}

TEST_F(TopicTable, AFailedAppendLeavesTheTableAsItWasAndTheNextChangeRewritesIt) {
  auto t = topic_table_file::open(path_);
  auto& f = *t->file;
  ASSERT_TRUE(f.put(topic("a", 1)));
  const auto rewrites = f.rewrites();
  int fail_syncs = 1;
  base::set_io_fault_hook([&](base::io_op op, const fs::path& p) {
    return op == base::io_op::sync && p == path_ && fail_syncs-- > 0 ? EIO : 0;
  });
  EXPECT_EQ(f.put(topic("b", 1)).error(), std::error_code(EIO, std::system_category()));
  base::set_io_fault_hook(nullptr);
  EXPECT_EQ(f.topics(), 1u);
  ASSERT_TRUE(f.put(topic("c", 1)));
  EXPECT_EQ(f.rewrites(), rewrites + 1);
  auto back = reopen(path_);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].name, "a");
  EXPECT_EQ(back[1].name, "c");

  // Writes refused (disk full) fail those changes only, appended or rewritten; the table
  // is writable again once they are accepted.
  base::set_io_fault_hook([&](base::io_op op, const fs::path& p) {
    return op == base::io_op::write && p.parent_path() == path_.parent_path() ? ENOSPC : 0;
  });
  EXPECT_EQ(f.put(topic("d", 1)).error(), std::error_code(ENOSPC, std::system_category()));
  EXPECT_EQ(f.put(topic("d", 2)).error(), std::error_code(ENOSPC, std::system_category()));
  base::set_io_fault_hook(nullptr);
  ASSERT_TRUE(f.put(topic("e", 1)));
  back = reopen(path_);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[2].name, "e");
}

std::string numbered(int i) {
  char name[32];
  std::snprintf(name, sizeof name, "topic-%d", i);
  return name;
}

// What a change costs as the table grows: it should not grow with it. Printed, not
// asserted (timings depend on the machine); runs on the real disk, fsyncs included.
TEST(TopicTableCost, PerChangeCostAt500And5000Topics) {
  riptide::testing::temp_dir dir;
  auto t = topic_table_file::open(dir.path() / "topics");
  auto& f = *t->file;
  int next = 0;
  for (int target : {500, 5000}) {
    while (next < target - 50) ASSERT_TRUE(f.put(topic(numbered(next++), 3)));
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(f.put(topic(numbered(next++), 3)));
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::printf(
        "topic table: %d topics, %.3f ms per create (append + fdatasync), file %llu "
        "bytes\n",
        target, static_cast<double>(us) / 50 / 1000,
        static_cast<unsigned long long>(f.file_bytes()));
  }
}

}  // namespace
