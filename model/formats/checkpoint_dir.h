// What a training run's checkpoint directory holds and which checkpoint in it
// is the latest, for both kinds of run:
// - TF checkpoints (Keras 2 ModelCheckpoint, tf.train.CheckpointManager): the
//   `checkpoint` pointer file decides (checkpoint_state.h), never the names.
// - Keras 3 ModelCheckpoint writes `*.weights.h5` (save_weights_only) or
//   `*.keras` files and no pointer: the latest is the one with the highest
//   step in its name (the last run of digits before the extension:
//   `cp-0012.weights.h5` is 12), then the newest modification time (a
//   `best.weights.h5` that save_best_only rewrites in place has no step and
//   is taken by its time), then the name.
// When a pointer file exists it alone decides. Stateless functions,
// thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_CHECKPOINT_DIR_H_
#define SWAPSERVE_MODEL_FORMATS_CHECKPOINT_DIR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace swapserve {

// True for names Keras 3 checkpoints have: "*.weights.h5", "*.keras".
bool IsKerasCheckpointName(absl::string_view name);

// The step in a checkpoint's name (a bundle prefix or a Keras file): its last
// run of digits once a `.weights.h5`/`.keras` extension is dropped;
// -1 when it has none. "cp-0005.ckpt": 5, "model.ckpt-1000": 1000,
// "cp-0012.weights.h5": 12, "best.weights.h5": -1.
int64_t CheckpointStep(absl::string_view path);

struct KerasCheckpointFile {
  std::string path;
  int64_t step = -1;
  int64_t mtime_ns = 0;
  int64_t size = 0;
};

// The Keras checkpoint files (regular files) in `dir`, oldest first in the
// order above (so the last is the latest).
std::vector<KerasCheckpointFile> ListKerasCheckpoints(const std::string& dir);

// The latest checkpoint in `dir`: the pointer's (a bundle prefix) when DIR/checkpoint
// exists, else the latest Keras file's path. NOT_FOUND with the reason otherwise.
absl::StatusOr<std::string> LatestCheckpointInDir(const std::string& dir);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_CHECKPOINT_DIR_H_
