/* An LD_PRELOAD shim for end-to-end tests of the real binary's file-system behaviour.
 *
 *   IO_SHIM_LOG=<file>             appends "mkdir <path>", "fsync <path>" and
 *                                  "fdatasync <path>" lines for every such call
 *   IO_SHIM_FAIL_WRITES=<text>  with IO_SHIM_FAIL_WHILE=<file>: while that file
 *                                  exists, pwritev to a path containing <text> fails
 *                                  with EIO (a disk that stopped accepting writes)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* The next definition of `name` (libc's), as a function pointer. */
static void* next(const char* name) {
  return dlsym(RTLD_NEXT, name);
}
#define REAL(fn)                          \
  static __typeof__(&fn) real_##fn;       \
  if (real_##fn == NULL) {                \
    void* p = next(#fn);                  \
    memcpy(&real_##fn, &p, sizeof p);     \
  }

static void fd_path(int fd, char* out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, size - 1);
  out[n < 0 ? 0 : n] = '\0';
}

static void log_line(const char* what, const char* path) {
  const char* log = getenv("IO_SHIM_LOG");
  if (log == NULL) return;
  char line[PATH_MAX + 32];
  int n = snprintf(line, sizeof line, "%s %s\n", what, path);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  /* One write per line: lines from many threads do not interleave. */
  if (write(fd, line, (size_t)n) < 0) {
  }
  close(fd);
}

int mkdir(const char* path, mode_t mode) {
  REAL(mkdir)
  int rc = real_mkdir(path, mode);
  if (rc == 0) {
    char full[PATH_MAX];
    log_line("mkdir", realpath(path, full) != NULL ? full : path);
  }
  return rc;
}

int fsync(int fd) {
  REAL(fsync)
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  int rc = real_fsync(fd);
  if (rc == 0) log_line("fsync", path);
  return rc;
}

int fdatasync(int fd) {
  REAL(fdatasync)
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  int rc = real_fdatasync(fd);
  if (rc == 0) log_line("fdatasync", path);
  return rc;
}

static int write_fails(int fd) {
  const char* text = getenv("IO_SHIM_FAIL_WRITES");
  const char* trigger = getenv("IO_SHIM_FAIL_WHILE");
  if (text == NULL || trigger == NULL || access(trigger, F_OK) != 0) return 0;
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  return strstr(path, text) != NULL;
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  REAL(pwritev)
  if (write_fails(fd)) {
    errno = EIO;
    return -1;
  }
  return real_pwritev(fd, iov, count, offset);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int count, off_t offset) {
  return pwritev(fd, iov, count, offset);
}
