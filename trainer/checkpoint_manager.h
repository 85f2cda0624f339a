// CheckpointManager: where and when swapserve-train writes checkpoints (TF
// bundles, or Keras 3 `.weights.h5` files), with
// Keras ModelCheckpoint's naming (`DIR/cp-{epoch:04d}.ckpt`, `{batch}`) and
// tf.train.CheckpointManager's bookkeeping: after PREFIX's data and index are in
// place, the `checkpoint` pointer is rewritten atomically (model_checkpoint_path +
// all_model_checkpoint_paths, paths relative like Keras writes them), and only then
// are checkpoints beyond max_to_keep deleted — a crash at any moment leaves a
// pointer that resolves to a complete checkpoint.
//
// Thread safety: not thread-safe; the training thread owns it.
#ifndef SWAPSERVE_TRAINER_CHECKPOINT_MANAGER_H_
#define SWAPSERVE_TRAINER_CHECKPOINT_MANAGER_H_

#include <deque>
#include <string>

#include "absl/status/statusor.h"
#include "trainer/adam.h"
#include "trainer/network.h"

namespace swapserve::trainer {

// Expands {epoch}, {epoch:04d}, {batch}, {batch:05d} (any width) in `pattern`.
// INVALID_ARGUMENT for another field or format.
absl::StatusOr<std::string> FormatCheckpointPath(const std::string& pattern, int64_t epoch,
                                                 int64_t batch);

// kTf: TF tensor bundles and the `checkpoint` pointer (Keras 2, tf.keras).
// kKeras3: `.weights.h5` files as Keras 3 writes them (keras3_checkpoint.h),
// no pointer; the pattern must end in `.weights.h5`, as Keras 3 requires.
enum class CheckpointFormat { kTf, kKeras3 };

// "tf" or "keras3"; INVALID_ARGUMENT otherwise.
absl::StatusOr<CheckpointFormat> CheckpointFormatByName(const std::string& name);

class CheckpointManager {
 public:
  // `pattern`: a path with {epoch}/{batch} fields. max_to_keep 0: keep all.
  // Reads an existing pointer in the directory so that old checkpoints it lists
  // count towards max_to_keep.
  CheckpointManager(std::string pattern, int max_to_keep,
                    CheckpointFormat format = CheckpointFormat::kTf);

  const std::string& directory() const { return dir_; }

  // Writes the checkpoint for (epoch, batch) — both 1-based, as Keras names
  // them — then the pointer (kTf), then deletes the oldest beyond max_to_keep.
  // Returns the prefix (kKeras3: the file) written. kKeras3 always saves Adam's
  // state with the weights, as Keras 3's save_weights does.
  absl::StatusOr<std::string> Save(int64_t epoch, int64_t batch, const Network& network,
                                   const Adam* optimizer);

 private:
  std::string pattern_, dir_;
  int max_to_keep_;
  CheckpointFormat format_;
  std::deque<std::string> kept_;  // basenames, oldest first
};

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_CHECKPOINT_MANAGER_H_
