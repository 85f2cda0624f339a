// Small POSIX file helpers with absl::Status errors that name the path and the
// errno text. Stateless, thread-safe.
#ifndef SWAPSERVE_MODEL_UTIL_FILE_H_
#define SWAPSERVE_MODEL_UTIL_FILE_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace swapserve {

// An error for a failed system call on `path`, from the current errno
// (NOT_FOUND for ENOENT).
absl::Status ErrnoError(absl::string_view what, absl::string_view path);

// Reads a whole file into `out`, refusing files over `max_bytes`.
absl::Status ReadFileToString(const std::string& path, uint64_t max_bytes,
                              std::string* out);

// Writes `contents` to `path` durably and atomically: a temporary file in the same
// directory, fsync, rename over `path`, fsync of the directory. A crash at any point
// leaves either the old file or the new one.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The directory part of `path` ("." when it has none) and the last component.
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

// Creates `dir` and any missing parents (mkdir -p); OK if it exists.
absl::Status CreateDirectories(const std::string& dir);

// Renames `from` to `to` after fsyncing `from`, then fsyncs the directory of `to`.
absl::Status SyncAndRename(const std::string& from, const std::string& to);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_UTIL_FILE_H_
