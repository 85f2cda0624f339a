// disk_fault_shim: an LD_PRELOAD library that makes writes fail as a full or
// failing disk does, for the tests of what a trainer leaves behind. Files
// whose path contains $SWAPSERVE_FAULT_PATH (opened with open/openat/creat or
// fopen, after the shim loads) accept $SWAPSERVE_FAULT_AFTER_BYTES bytes (0
// when unset) in all; past that, write/pwrite/writev/fwrite fail with
// $SWAPSERVE_FAULT_ERRNO (ENOSPC or EIO; ENOSPC when unset), as do fsync and
// fdatasync on them. Nothing else is touched: without SWAPSERVE_FAULT_PATH the
// shim only forwards. Each failure is counted on stderr once per file, so a
// test can tell that the fault was met.
//
// Not thread-safe against two threads opening matching files at once (the
// trainer writes one checkpoint at a time); descriptors above 4095 are
// ignored.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>

namespace {

constexpr int kMaxFd = 4096;

struct Tracked {
  std::atomic<bool> on{false};
  std::atomic<long long> written{0};
  std::atomic<bool> reported{false};
};
Tracked fds[kMaxFd];

template <typename F>
F Next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

const char* Pattern() {
  const char* p = getenv("SWAPSERVE_FAULT_PATH");
  return p != nullptr && *p != '\0' ? p : nullptr;
}

long long Budget() {
  const char* b = getenv("SWAPSERVE_FAULT_AFTER_BYTES");
  return b != nullptr ? atoll(b) : 0;
}

int FaultErrno() {
  const char* e = getenv("SWAPSERVE_FAULT_ERRNO");
  return e != nullptr && strcmp(e, "EIO") == 0 ? EIO : ENOSPC;
}

void Track(int fd, const char* path) {
  if (fd < 0 || fd >= kMaxFd || path == nullptr) return;
  const char* pattern = Pattern();
  const bool on = pattern != nullptr && strstr(path, pattern) != nullptr;
  fds[fd].on = on;
  fds[fd].written = 0;
  fds[fd].reported = false;
}

// Says on stderr, once per file, that writes to `fd` are being refused.
void Report(int fd) {
  if (fds[fd].reported.exchange(true)) return;
  static const char kMessage[] = "disk_fault_shim: failing a write\n";
  Next<ssize_t (*)(int, const void*, size_t)>("write")(2, kMessage, sizeof(kMessage) - 1);
}

// How many of `n` bytes may be written to `fd` now; -1 (errno set) for none.
ssize_t Allowed(int fd, size_t n) {
  if (fd < 0 || fd >= kMaxFd || !fds[fd].on) return static_cast<ssize_t>(n);
  const long long left = Budget() - fds[fd].written.load();
  if (left <= 0) {
    Report(fd);
    errno = FaultErrno();
    return -1;
  }
  const size_t allowed = static_cast<size_t>(left) < n ? static_cast<size_t>(left) : n;
  if (allowed < n) Report(fd);
  fds[fd].written += static_cast<long long>(allowed);
  return static_cast<ssize_t>(allowed);
}

int ModeArg(int flags, va_list args) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(args, int) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const int mode = ModeArg(flags, args);
  va_end(args);
  const int fd = Next<int (*)(const char*, int, ...)>("open")(path, flags, mode);
  Track(fd, path);
  return fd;
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const int mode = ModeArg(flags, args);
  va_end(args);
  const int fd = Next<int (*)(const char*, int, ...)>("open64")(path, flags, mode);
  Track(fd, path);
  return fd;
}

int openat(int dir, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const int mode = ModeArg(flags, args);
  va_end(args);
  const int fd = Next<int (*)(int, const char*, int, ...)>("openat")(dir, path, flags, mode);
  Track(fd, path);
  return fd;
}

int creat(const char* path, mode_t mode) {
  const int fd = Next<int (*)(const char*, mode_t)>("creat")(path, mode);
  Track(fd, path);
  return fd;
}

FILE* fopen(const char* path, const char* mode) {
  FILE* f = Next<FILE* (*)(const char*, const char*)>("fopen")(path, mode);
  if (f != nullptr) Track(fileno(f), path);
  return f;
}

FILE* fopen64(const char* path, const char* mode) {
  FILE* f = Next<FILE* (*)(const char*, const char*)>("fopen64")(path, mode);
  if (f != nullptr) Track(fileno(f), path);
  return f;
}

ssize_t write(int fd, const void* data, size_t n) {
  const ssize_t allowed = Allowed(fd, n);
  if (allowed < 0) return -1;
  return Next<ssize_t (*)(int, const void*, size_t)>("write")(fd, data, static_cast<size_t>(allowed));
}

ssize_t pwrite(int fd, const void* data, size_t n, off_t at) {
  const ssize_t allowed = Allowed(fd, n);
  if (allowed < 0) return -1;
  return Next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite")(
      fd, data, static_cast<size_t>(allowed), at);
}

ssize_t pwrite64(int fd, const void* data, size_t n, off_t at) {
  const ssize_t allowed = Allowed(fd, n);
  if (allowed < 0) return -1;
  return Next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64")(
      fd, data, static_cast<size_t>(allowed), at);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  size_t n = 0;
  for (int i = 0; i < count; ++i) n += iov[i].iov_len;
  const ssize_t allowed = Allowed(fd, n);
  if (allowed < 0) return -1;
  if (static_cast<size_t>(allowed) == n) {
    return Next<ssize_t (*)(int, const struct iovec*, int)>("writev")(fd, iov, count);
  }
  // A short budget: write what fits from the first buffer only.
  const size_t first = iov[0].iov_len < static_cast<size_t>(allowed) ? iov[0].iov_len
                                                                      : static_cast<size_t>(allowed);
  return Next<ssize_t (*)(int, const void*, size_t)>("write")(fd, iov[0].iov_base, first);
}

size_t fwrite(const void* data, size_t size, size_t count, FILE* f) {
  const int fd = fileno(f);
  if (size == 0 || count == 0) return 0;
  const ssize_t allowed = Allowed(fd, size * count);
  if (allowed < 0) return 0;
  const size_t items = static_cast<size_t>(allowed) / size;
  const size_t done = Next<size_t (*)(const void*, size_t, size_t, FILE*)>("fwrite")(data, size, items, f);
  if (done < count) errno = FaultErrno();
  return done;
}

int fsync(int fd) {
  if (fd >= 0 && fd < kMaxFd && fds[fd].on && fds[fd].written >= Budget()) {
    errno = FaultErrno();
    return -1;
  }
  return Next<int (*)(int)>("fsync")(fd);
}

int fdatasync(int fd) {
  if (fd >= 0 && fd < kMaxFd && fds[fd].on && fds[fd].written >= Budget()) {
    errno = FaultErrno();
    return -1;
  }
  return Next<int (*)(int)>("fdatasync")(fd);
}

}  // extern "C"
