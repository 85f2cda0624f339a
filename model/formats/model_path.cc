#include "model/formats/model_path.h"

#include <dirent.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "model/formats/bundle_format.h"
#include "model/formats/checkpoint_state.h"
#include "model/formats/hdf5_signature.h"
#include "model/formats/keras_archive.h"
#include "model/formats/saved_model.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

std::string StripTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

absl::string_view ModelFormatName(ModelFormat format) {
  switch (format) {
    case ModelFormat::kSavedModel: return "saved_model";
    case ModelFormat::kKerasH5: return "keras_h5";
    case ModelFormat::kKerasArchive: return "keras";
    case ModelFormat::kCheckpoint: return "checkpoint";
  }
  return "unknown";
}

std::vector<VersionDir> ListVersionDirs(const std::string& base) {
  std::vector<VersionDir> versions;
  DIR* dir = ::opendir(base.c_str());
  if (dir == nullptr) return versions;
  while (const dirent* e = ::readdir(dir)) {
    int64_t v = 0;
    std::string child = absl::StrCat(base, "/", e->d_name);
    if (AllDigits(e->d_name) && absl::SimpleAtoi(e->d_name, &v) && IsDirectory(child)) {
      versions.push_back({v, std::move(child)});
    }
  }
  ::closedir(dir);
  std::sort(versions.begin(), versions.end(),
            [](const VersionDir& a, const VersionDir& b) { return a.version < b.version; });
  return versions;
}

absl::StatusOr<ResolvedModelPath> ResolveModelPath(const std::string& raw) {
  const std::string path = StripTrailingSlashes(raw);
  if (!IsDirectory(path) && PathExists(path) &&
      (absl::EndsWith(path, ".h5") || absl::EndsWith(path, ".hdf5") ||
       IsHdf5File(path))) {
    return ResolvedModelPath{ModelFormat::kKerasH5, path, std::nullopt, {}};
  }
  if (!IsDirectory(path) && PathExists(path) &&
      (absl::EndsWith(path, ".keras") || IsZipFile(path))) {
    return ResolvedModelPath{ModelFormat::kKerasArchive, path, std::nullopt, {}};
  }
  if (IsDirectory(path)) {
    if (IsSavedModelDir(path)) {
      return ResolvedModelPath{ModelFormat::kSavedModel, path, std::nullopt, {}};
    }
    const std::vector<VersionDir> versions = ListVersionDirs(path);
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (IsSavedModelDir(it->path)) {
        return ResolvedModelPath{ModelFormat::kSavedModel, it->path, it->version, {}};
      }
    }
    if (PathExists(absl::StrCat(path, "/", kCheckpointStateFilename))) {
      ASSIGN_OR_RETURN(std::string latest, LatestCheckpoint(path));
      ASSIGN_OR_RETURN(tensorflow::CheckpointState state, ReadCheckpointState(path));
      return ResolvedModelPath{
          ModelFormat::kCheckpoint, latest, std::nullopt,
          {state.all_model_checkpoint_paths().begin(),
           state.all_model_checkpoint_paths().end()}};
    }
  }
  if (PathExists(BundleIndexFilename(path))) {
    return ResolvedModelPath{ModelFormat::kCheckpoint, path, std::nullopt, {}};
  }
  return absl::NotFoundError(absl::StrCat(
      raw, " is not a model: expected a SavedModel directory, a base path with "
           "numeric version directories, a Keras .h5 or .keras file, a checkpoint prefix "
           "(PREFIX.index) or a directory with a `checkpoint` file"));
}

}  // namespace swapserve
