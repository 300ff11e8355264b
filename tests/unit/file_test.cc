#include "base/file.h"

#include <gtest/gtest.h>

#include <string>

#include "test_dir.h"

namespace {

TEST(File, AtomicReplaceWritesEmptyAndNonEmptyContent) {
  riptide::testing::temp_dir dir;
  const auto p = dir.path() / "meta";
  ASSERT_TRUE(base::write_file_atomically(p, std::vector<uint8_t>{'a', 'b'}));
  EXPECT_EQ(*base::read_whole_file(p), "ab");
  ASSERT_TRUE(base::write_file_atomically(p, {}));
  EXPECT_EQ(*base::read_whole_file(p), "");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "meta.tmp"));
}

TEST(File, VectoredWriteSkipsEmptyPiecesAndKeepsOrder) {
  riptide::testing::temp_dir dir;
  auto f = base::file::open(dir.path() / "v", base::file::mode::create_read_write);
  ASSERT_TRUE(f);
  char a[] = "one", b[] = "two";
  iovec iov[] = {{nullptr, 0}, {a, 3}, {nullptr, 0}, {b, 3}, {nullptr, 0}};
  ASSERT_TRUE((*f)->pwritev_all(iov, 2));
  EXPECT_EQ(*(*f)->size(), 8u);
  std::string back(6, '\0');
  ASSERT_EQ(*(*f)->pread(back.data(), 6, 2), 6u);
  EXPECT_EQ(back, "onetwo");
}

TEST(File, InjectedFaultsSurfaceAsErrors) {
  riptide::testing::temp_dir dir;
  auto f = base::file::open(dir.path() / "x", base::file::mode::create_read_write);
  ASSERT_TRUE(f);
  base::set_io_fault_hook([](base::io_op op, const std::filesystem::path&) {
    return op == base::io_op::sync ? EIO : 0;
  });
  EXPECT_EQ((*f)->datasync().error(), std::error_code(EIO, std::system_category()));
  EXPECT_TRUE((*f)->pwrite_all(std::vector<uint8_t>{1}, 0));
  base::set_io_fault_hook(nullptr);
  EXPECT_TRUE((*f)->datasync());
}

TEST(File, OpeningAMissingFileNamesTheErrno) {
  auto f = base::file::open("/nonexistent/dir/file", base::file::mode::read_only);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), std::errc::no_such_file_or_directory);
}

}  // namespace
