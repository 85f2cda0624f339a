#include "server/allowed_roots.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "model/util/file.h"

namespace swapserve::server {
namespace {

constexpr int kMaxTreeDepth = 8;

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using Dir = std::unique_ptr<DIR, DirCloser>;

bool HasDotDot(absl::string_view path) {
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return true;
  }
  return false;
}

bool Inside(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path == root || absl::StartsWith(path, root + "/");
}

}  // namespace

absl::StatusOr<std::string> ResolvePath(const std::string& path) {
  std::string existing = path;
  while (existing.size() > 1 && existing.back() == '/') existing.pop_back();
  if (existing.empty()) existing = ".";
  std::string tail;
  for (;;) {
    std::unique_ptr<char, decltype(&free)> real(realpath(existing.c_str(), nullptr), &free);
    if (real != nullptr) {
      std::string resolved(real.get());
      if (tail.empty()) return resolved;
      return resolved == "/" ? "/" + tail : absl::StrCat(resolved, "/", tail);
    }
    if (errno != ENOENT) return ErrnoError("cannot resolve", path);
    const size_t slash = existing.find_last_of('/');
    const std::string name = slash == std::string::npos ? existing : existing.substr(slash + 1);
    if (!name.empty() && name != ".") tail = tail.empty() ? name : absl::StrCat(name, "/", tail);
    if (slash == std::string::npos) {
      existing = ".";
    } else {
      existing = slash == 0 ? "/" : existing.substr(0, slash);
    }
  }
}

absl::StatusOr<AllowedRoots> AllowedRoots::Create(const std::vector<std::string>& roots) {
  std::vector<std::string> real;
  for (const std::string& root : roots) {
    if (root.empty()) continue;
    std::unique_ptr<char, decltype(&free)> r(realpath(root.c_str(), nullptr), &free);
    if (r == nullptr || !IsDirectory(r.get())) {
      return absl::InvalidArgumentError(
          absl::StrCat("--allowed_model_roots: ", root, " is not an existing directory"));
    }
    real.emplace_back(r.get());
  }
  return AllowedRoots(std::move(real));
}

absl::Status AllowedRoots::Check(absl::string_view what, const std::string& path) const {
  if (!restricts()) return absl::OkStatus();
  const std::string roots = absl::StrJoin(roots_, ", ");
  if (HasDotDot(path)) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " ", path, " contains '..', which --allowed_model_roots (", roots, ") refuses"));
  }
  absl::StatusOr<std::string> resolved = ResolvePath(path);
  if (!resolved.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, " ", path, ": ", resolved.status().message()));
  }
  for (const std::string& root : roots_) {
    if (Inside(*resolved, root)) return absl::OkStatus();
  }
  const std::string via = *resolved == path ? "" : absl::StrCat(" (resolves to ", *resolved, ")");
  return absl::PermissionDeniedError(
      absl::StrCat(what, " ", path, via, " is outside --allowed_model_roots (", roots, ")"));
}

absl::Status AllowedRoots::CheckTree(absl::string_view what, const std::string& path) const {
  if (!restricts()) return absl::OkStatus();
  // (path, depth) pairs still to check.
  std::vector<std::pair<std::string, int>> pending = {{path, 0}};
  while (!pending.empty()) {
    auto [next, depth] = std::move(pending.back());
    pending.pop_back();
    if (absl::Status s = Check(what, next); !s.ok()) return s;
    if (depth >= kMaxTreeDepth || !IsDirectory(next)) continue;
    Dir d(opendir(next.c_str()));
    if (d == nullptr) continue;  // the load reports what it cannot read
    while (const dirent* e = readdir(d.get())) {
      const absl::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      pending.emplace_back(absl::StrCat(next, "/", name), depth + 1);
    }
  }
  return absl::OkStatus();
}

absl::Status AllowedRoots::CheckCheckpoint(const std::string& prefix) const {
  if (!restricts()) return absl::OkStatus();
  if (absl::Status s = Check("checkpoint", prefix); !s.ok()) return s;
  const std::string dir = DirName(prefix), stem = BaseName(prefix) + ".";
  Dir d(opendir(dir.c_str()));
  if (d == nullptr) return absl::OkStatus();  // nothing beside it to read
  while (const dirent* e = readdir(d.get())) {
    if (absl::StartsWith(e->d_name, stem)) {
      if (absl::Status s = Check("checkpoint file", dir + "/" + e->d_name); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace swapserve::server
