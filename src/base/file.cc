#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

namespace base {
namespace {

std::mutex g_hook_mutex;
std::shared_ptr<const io_fault_hook> g_hook;  // guarded by g_hook_mutex
std::atomic<bool> g_hook_set{false};

int injected_errno(io_op op, const std::filesystem::path& path) {
  if (!g_hook_set.load(std::memory_order_acquire)) return 0;
  std::shared_ptr<const io_fault_hook> hook;
  {
    std::lock_guard lock(g_hook_mutex);
    hook = g_hook;
  }
  return hook ? (*hook)(op, path) : 0;
}

std::error_code errno_code(int e) {
  return {e, std::system_category()};
}

}  // namespace

void set_io_fault_hook(io_fault_hook hook) {
  std::lock_guard lock(g_hook_mutex);
  g_hook = hook ? std::make_shared<const io_fault_hook>(std::move(hook)) : nullptr;
  g_hook_set.store(g_hook != nullptr, std::memory_order_release);
}

result<std::shared_ptr<file>> file::open(const std::filesystem::path& path, mode m,
                                         unsigned permissions) {
  int flags = O_CLOEXEC;
  switch (m) {
    case mode::read_only:
      flags |= O_RDONLY;
      break;
    case mode::read_write:
      flags |= O_RDWR;
      break;
    case mode::create_read_write:
      flags |= O_RDWR | O_CREAT;
      break;
  }
  if (int e = injected_errno(io_op::open, path)) return errno_code(e);
  int fd = ::open(path.c_str(), flags, static_cast<mode_t>(permissions));
  if (fd < 0) return last_system_error();
  return std::shared_ptr<file>(new file(fd, path));
}

file::~file() {
  ::close(fd_);
}

result<size_t> file::pread(void* out, size_t size, uint64_t offset) const {
  auto p = static_cast<uint8_t*>(out);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_system_error();
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

status file::pwrite_all(std::span<const uint8_t> data, uint64_t offset) {
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  return pwritev_all(std::span<iovec>(&iov, 1), offset);
}

status file::pwritev_all(std::span<iovec> iov, uint64_t offset) {
  if (int e = injected_errno(io_op::write, path_)) return errno_code(e);
  size_t first = 0;
  for (;;) {
    while (first < iov.size() && iov[first].iov_len == 0) ++first;
    if (first == iov.size()) break;
    int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    ssize_t n = ::pwritev(fd_, &iov[first], count, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_system_error();
    }
    if (n == 0) return errno_code(EIO);
    offset += static_cast<uint64_t>(n);
    auto left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (left > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return {};
}

status file::datasync() {
  if (int e = injected_errno(io_op::sync, path_)) return errno_code(e);
  if (::fdatasync(fd_) != 0) return last_system_error();
  return {};
}

status file::start_writeback(uint64_t offset, uint64_t len, bool wait) {
  unsigned flags = SYNC_FILE_RANGE_WRITE;
  if (wait) flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
  if (::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), flags) != 0) {
    return last_system_error();
  }
  return {};
}

status file::sync() {
  if (int e = injected_errno(io_op::sync, path_)) return errno_code(e);
  if (::fsync(fd_) != 0) return last_system_error();
  return {};
}

status file::truncate(uint64_t size) {
  if (int e = injected_errno(io_op::truncate, path_)) return errno_code(e);
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return last_system_error();
  return {};
}

result<uint64_t> file::size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return last_system_error();
  return static_cast<uint64_t>(st.st_size);
}

result<file::identity> file::id() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return last_system_error();
  return identity{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

status fsync_directory(const std::filesystem::path& dir) {
  if (int e = injected_errno(io_op::open, dir)) return errno_code(e);
  if (int e = injected_errno(io_op::sync, dir)) return errno_code(e);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return last_system_error();
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) return errno_code(saved);
  return {};
}

result<bool> create_directories_durably(const std::filesystem::path& dir) {
  std::error_code ec;
  const auto full = std::filesystem::absolute(dir, ec);
  if (ec) return ec;
  // Top down: each missing component is made, then its parent fsynced.
  std::filesystem::path at;
  bool created = false;
  for (const auto& part : full) {
    at /= part;
    if (std::filesystem::is_directory(at, ec)) continue;
    if (!std::filesystem::create_directory(at, ec) && ec) return ec;
    created = true;
    RIPTIDE_TRY(fsync_directory(at.parent_path()));
  }
  return created;
}

status write_file_atomically(const std::filesystem::path& path, std::span<const uint8_t> data,
                             unsigned permissions) {
  auto tmp = path;
  tmp += ".tmp";
  {
    // A temp file left by a crash is made anew, so that it has `permissions`.
    if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return last_system_error();
    auto f = file::open(tmp, file::mode::create_read_write, permissions);
    if (!f) return f.error();
    RIPTIDE_TRY((*f)->truncate(0));
    RIPTIDE_TRY((*f)->pwrite_all(data, 0));
    RIPTIDE_TRY((*f)->sync());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return last_system_error();
  return fsync_directory(path.parent_path().empty() ? "." : path.parent_path());
}

result<std::string> read_whole_file(const std::filesystem::path& path) {
  auto f = file::open(path, file::mode::read_only);
  if (!f) return f.error();
  auto size = (*f)->size();
  if (!size) return size.error();
  std::string out(*size, '\0');
  auto n = (*f)->pread(out.data(), out.size(), 0);
  if (!n) return n.error();
  out.resize(*n);
  return out;
}

}  // namespace base
