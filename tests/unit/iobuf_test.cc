#include "base/iobuf.h"

#include <gtest/gtest.h>

#include <string>

#include "test_dir.h"

namespace {

std::string as_string(const std::vector<uint8_t>& v) {
  return {v.begin(), v.end()};
}

TEST(Iobuf, CoalescesSmallAppends) {
  base::iobuf b;
  for (int i = 0; i < 100; ++i) b.append(std::string_view("ab"));
  EXPECT_EQ(b.size(), 200u);
  EXPECT_EQ(b.fragments().size(), 1u);
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "ab";
  EXPECT_EQ(as_string(*b.linearize()), expected);
}

TEST(Iobuf, MixesMemoryAndFileRangesInOrder) {
  riptide::testing::temp_dir dir;
  auto f = base::file::open(dir.path() / "data", base::file::mode::create_read_write);
  ASSERT_TRUE(f);
  std::string content = "0123456789";
  ASSERT_TRUE(
      (*f)->pwrite_all({reinterpret_cast<const uint8_t*>(content.data()), content.size()}, 0));

  base::iobuf b;
  b.append(std::string_view("head:"));
  b.append_file_range(*f, 2, 3);
  b.append_file_range(*f, 5, 2);  // adjacent: merges into one range
  b.append(std::vector<uint8_t>{'|'});
  b.append(std::string_view(":tail"));
  EXPECT_EQ(b.size(), 5u + 5 + 1 + 5);
  EXPECT_EQ(b.fragments().size(), 4u);
  EXPECT_EQ(as_string(*b.linearize()), "head:23456|:tail");

  base::iobuf c;
  c.append(std::string_view("<"));
  c.append(std::move(b));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(as_string(*c.linearize()), "<head:23456|:tail");
}

TEST(Iobuf, FileRangeOutlivesUnlink) {
  riptide::testing::temp_dir dir;
  base::iobuf b;
  {
    auto f = base::file::open(dir.path() / "gone", base::file::mode::create_read_write);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->pwrite_all(std::vector<uint8_t>{'o', 'k'}, 0));
    b.append_file_range(*f, 0, 2);
  }
  std::filesystem::remove(dir.path() / "gone");
  EXPECT_EQ(as_string(*b.linearize()), "ok");
}

TEST(Iobuf, LargeAppendIsOneFragment) {
  base::iobuf b;
  std::string big(100000, 'z');
  b.append(std::string_view(big));
  EXPECT_EQ(b.fragments().size(), 1u);
  EXPECT_EQ(b.size(), big.size());
}

}  // namespace
