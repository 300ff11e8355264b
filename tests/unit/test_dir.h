#pragma once
// A fresh directory under the system temp dir, removed when the test ends.

#include <filesystem>

namespace riptide::testing {

class temp_dir {
 public:
  // `in_memory` puts it on /dev/shm when present: fsync is then free, for tests that
  // reopen a log hundreds of times and check recovery logic rather than the disk.
  explicit temp_dir(bool in_memory = false);
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace riptide::testing
