/* An LD_PRELOAD shim for end-to-end tests of the real binary's file-system behaviour.
 *
 *   IO_SHIM_LOG=<file>             appends "mkdir <path>", "fsync <path>" and
 *                                  "fdatasync <path>" lines for every such call
 *   IO_SHIM_FAIL_WRITES=<text>  with IO_SHIM_FAIL_WHILE=<file>: while that file
 *                                  exists, pwritev to a path containing <text> fails
 *                                  with EIO (a disk that stopped accepting writes)
 *   IO_SHIM_FAIL_CREATES=<text> with IO_SHIM_FAIL_WHILE=<file>: while that file exists,
 *                                  open() with O_CREAT of a path containing <text> (a
 *                                  new segment, index or checkpoint file) fails with the
 *                                  errno named in the file (EMFILE, ENFILE, EACCES,
 *                                  ENOSPC; EMFILE when empty)
 *   IO_SHIM_FAIL_OPENS=<text>   the same for every open() of such a path
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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
#define REAL(fn)                      \
  static __typeof__(&fn) real_##fn;   \
  if (real_##fn == NULL) {            \
    void* p = next(#fn);              \
    memcpy(&real_##fn, &p, sizeof p); \
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

/* The errno named in the trigger file, or 0 when the trigger file does not exist. */
static int trigger_errno(void) {
  const char* trigger = getenv("IO_SHIM_FAIL_WHILE");
  if (trigger == NULL) return 0;
  FILE* f = fopen(trigger, "re");
  if (f == NULL) return 0;
  char name[32] = {0};
  if (fgets(name, sizeof name, f) == NULL) name[0] = '\0';
  fclose(f);
  name[strcspn(name, " \r\n")] = '\0';
  if (strcmp(name, "ENFILE") == 0) return ENFILE;
  if (strcmp(name, "EACCES") == 0) return EACCES;
  if (strcmp(name, "ENOSPC") == 0) return ENOSPC;
  return EMFILE;
}

static int open_fails(const char* path, int flags) {
  const char* creates = getenv("IO_SHIM_FAIL_CREATES");
  const char* opens = getenv("IO_SHIM_FAIL_OPENS");
  int picked = (opens != NULL && strstr(path, opens) != NULL) ||
               ((flags & O_CREAT) != 0 && creates != NULL && strstr(path, creates) != NULL);
  return picked ? trigger_errno() : 0;
}

int open(const char* path, int flags, ...) {
  REAL(open)
  mode_t mode = 0;
  if ((flags & (O_CREAT | O_TMPFILE)) != 0) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  int err = open_fails(path, flags);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return real_open(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  REAL(open64)
  mode_t mode = 0;
  if ((flags & (O_CREAT | O_TMPFILE)) != 0) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  int err = open_fails(path, flags);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return real_open64(path, flags, mode);
}
