// Working out what a user-supplied model path is: a SavedModel directory, a TF
// Serving base path of numeric version directories, a Keras .h5 file, a
// checkpoint prefix, or a directory with a `checkpoint` pointer file. One rule set
// shared by the CLI, the daemon and the trainer. Stateless, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_MODEL_PATH_H_
#define SWAPSERVE_MODEL_FORMATS_MODEL_PATH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace swapserve {

enum class ModelFormat { kSavedModel, kKerasH5, kKerasArchive, kCheckpoint };

// "saved_model", "keras_h5", "keras", "checkpoint".
absl::string_view ModelFormatName(ModelFormat format);

struct ResolvedModelPath {
  ModelFormat format;
  // SavedModel directory, .h5 file, .keras file, or checkpoint prefix.
  std::string path;
  // The version directory chosen under a base path.
  std::optional<int64_t> version;
  // For checkpoints found through a pointer file: every prefix it lists.
  std::vector<std::string> all_checkpoints;
};

struct VersionDir {
  int64_t version;
  std::string path;  // base/<name as on disk, leading zeros kept>
};

// The numeric subdirectories of `base` (TF Serving's version layout), ascending
// by version. Names that are not plain non-negative integers are ignored.
std::vector<VersionDir> ListVersionDirs(const std::string& base);

// Resolves `path` in this order: .h5/HDF5 file (by its bytes whatever its
// name: tf.keras 2 wrote HDF5 to files named .keras); zip archive or .keras
// file; SavedModel directory; base path
// (highest version that is a SavedModel); directory with a `checkpoint` file
// (latest checkpoint, as tf.train.latest_checkpoint); checkpoint prefix
// (PATH.index exists). NOT_FOUND naming what was looked for otherwise.
absl::StatusOr<ResolvedModelPath> ResolveModelPath(const std::string& path);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_MODEL_PATH_H_
