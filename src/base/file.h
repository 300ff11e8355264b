#pragma once
// A POSIX file descriptor with error-code results, plus the atomic-replace and
// directory-sync helpers that durable metadata needs. Every call that can fail
// returns the errno as a std::error_code; nothing here throws or retries a failed
// fsync (after a failed fsync the page cache state is unknown, so the caller must
// stop acknowledging writes).

#include <sys/uio.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"

namespace base {

class file {
 public:
  enum class mode { read_only, read_write, create_read_write };

  // `permissions`: of a file this creates (the umask applies).
  static result<std::shared_ptr<file>> open(const std::filesystem::path& path, mode m,
                                            unsigned permissions = 0644);
  ~file();
  file(const file&) = delete;
  file& operator=(const file&) = delete;

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }

  // Reads up to `size` bytes at `offset`; fewer only at end of file.
  result<size_t> pread(void* out, size_t size, uint64_t offset) const;
  status pwrite_all(std::span<const uint8_t> data, uint64_t offset);
  // Writes every iovec in order starting at `offset`; `iov` may be modified.
  status pwritev_all(std::span<iovec> iov, uint64_t offset);
  status datasync();
  // Starts writing back the dirty pages of [offset, offset + len) without waiting for
  // them (sync_file_range WRITE): a later datasync then has little left to write.
  // `wait` first waits for earlier writeback of the range and then for this one, which
  // paces a large writer to the disk instead of queueing all of it at once.
  status start_writeback(uint64_t offset, uint64_t len, bool wait = false);
  status sync();
  status truncate(uint64_t size);
  result<uint64_t> size() const;
  // The file's identity (device and inode): tells whether a path still names this file.
  struct identity {
    uint64_t device = 0;
    uint64_t inode = 0;
    bool operator==(const identity&) const = default;
  };
  result<identity> id() const;

 private:
  file(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::filesystem::path path_;
};

status fsync_directory(const std::filesystem::path& dir);

// Creates `dir` and any missing parents, fsyncing the parent of each directory it
// creates, so that the new directory survives a power failure along with what is later
// written (and fsynced) inside it. Returns whether anything was created.
result<bool> create_directories_durably(const std::filesystem::path& dir);

// Replaces `path` with `data` so that a crash leaves either the old or the new content:
// write a temp file, fsync it, rename over `path`, fsync the directory. The new file has
// `permissions` from its creation on (0600 for secrets; the umask applies).
status write_file_atomically(const std::filesystem::path& path, std::span<const uint8_t> data,
                             unsigned permissions = 0644);
result<std::string> read_whole_file(const std::filesystem::path& path);

// Test-only fault injection: when set, the hook is asked before each open, write, fsync
// and truncate and may return an errno to fail that call with (0 lets it through).
enum class io_op { open, write, sync, truncate };
using io_fault_hook = std::function<int(io_op, const std::filesystem::path&)>;
void set_io_fault_hook(io_fault_hook hook);

}  // namespace base
