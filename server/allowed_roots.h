// AllowedRoots: --allowed_model_roots, the directories the daemon may read
// models and checkpoints from. When set, every path the daemon is asked to
// read must lie inside one of them: a config's base_path and checkpoint_dir
// (from the flags, a config file or HandleReloadConfigRequest), each version
// directory found under a base path, a checkpoint prefix a pin names, and
// every checkpoint the follower or a load would read (a `checkpoint` pointer
// may name any path). A path with a `..` component is refused as written;
// otherwise it is resolved as the kernel would open it (realpath of its
// longest existing prefix), so no symlink leads out. A bundle's index and data
// shards are each resolved too: one linked out is refused.
//
// Unset (no roots), every path is allowed, as in TF Serving.
//
// Checks are made when a path is about to be read, not only when it is named,
// so a link swapped in later is caught at the next load; what an open file
// descriptor reads after a rename is beyond any path check.
//
// Thread safety: immutable after Create; Check from any thread.
#ifndef SWAPSERVE_SERVER_ALLOWED_ROOTS_H_
#define SWAPSERVE_SERVER_ALLOWED_ROOTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace swapserve::server {

class AllowedRoots {
 public:
  AllowedRoots() = default;  // everything allowed

  // Each root must be an existing directory (kept as its real path);
  // INVALID_ARGUMENT naming the one that is not.
  static absl::StatusOr<AllowedRoots> Create(const std::vector<std::string>& roots);

  bool restricts() const { return !roots_.empty(); }

  // OK when `path` resolves inside a root (or nothing restricts); else
  // PERMISSION_DENIED: "<what> <path> ...", naming the roots.
  absl::Status Check(absl::string_view what, const std::string& path) const;

  // Check() of `path` and, for a directory, of everything under it (a
  // SavedModel's variables/ and assets/ may be links), to a depth of 8.
  absl::Status CheckTree(absl::string_view what, const std::string& path) const;

  // Check() of a checkpoint `prefix` and of every file beside it whose name
  // starts with its last component and a '.' (a bundle's .index and
  // .data-NNNNN-of-NNNNN; a Keras file is the prefix itself).
  absl::Status CheckCheckpoint(const std::string& prefix) const;

 private:
  explicit AllowedRoots(std::vector<std::string> roots) : roots_(std::move(roots)) {}
  std::vector<std::string> roots_;  // real paths
};

// `path` as the kernel resolves it: the real path of its longest existing
// prefix, then the rest as written. Errors other than a missing component
// (EACCES, ELOOP) are returned.
absl::StatusOr<std::string> ResolvePath(const std::string& path);

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_ALLOWED_ROOTS_H_
