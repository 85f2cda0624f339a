// The `checkpoint` pointer file TensorFlow keeps in a checkpoint directory: a
// CheckpointState in protobuf text format naming the latest checkpoint prefix
// (model_checkpoint_path) and the ones still kept (all_model_checkpoint_paths).
// Readers resolve paths exactly as tf.train.get_checkpoint_state /
// tf.train.latest_checkpoint do. Stateless functions, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_CHECKPOINT_STATE_H_
#define SWAPSERVE_MODEL_FORMATS_CHECKPOINT_STATE_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "tensorflow/core/protobuf/checkpoint_state.pb.h"

namespace swapserve {

inline constexpr absl::string_view kCheckpointStateFilename = "checkpoint";

// A relative checkpoint path is relative to the directory holding the pointer file.
std::string ResolveCheckpointPath(absl::string_view dir, absl::string_view path);

// Reads DIR/checkpoint with every path resolved against DIR. NOT_FOUND when the file
// is absent; INVALID_ARGUMENT (naming the file) when it does not parse or names no
// model_checkpoint_path.
absl::StatusOr<tensorflow::CheckpointState> ReadCheckpointState(
    const std::string& dir);

// Writes DIR/checkpoint atomically (temporary file, fsync, rename), paths as given.
absl::Status WriteCheckpointState(const std::string& dir,
                                  const tensorflow::CheckpointState& state);

// The prefix of the latest checkpoint in DIR, like tf.train.latest_checkpoint: the
// pointer's model_checkpoint_path, provided PREFIX.index (or, for the old V1 format,
// PREFIX itself) exists. NOT_FOUND otherwise, with the reason.
absl::StatusOr<std::string> LatestCheckpoint(const std::string& dir);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_CHECKPOINT_STATE_H_
