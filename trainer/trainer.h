// The training run of swapserve-train, as Keras's model.fit does it: shuffled
// mini-batches each epoch, Adam on the mean sparse softmax cross-entropy,
// a progress bar with loss and accuracy, validation on the test split at each
// epoch's end, checkpoints by ModelCheckpoint's rules, and resume from the latest
// checkpoint. Data-parallel over `threads` (each thread a fixed slice of every
// batch, gradients summed in a fixed order): with the same seed and thread count
// a run is deterministic, and 2 epochs + resume 1 equals 3 epochs.
//
// Thread safety: Train() runs one training at a time on the calling thread plus
// its worker threads.
#ifndef SWAPSERVE_TRAINER_TRAINER_H_
#define SWAPSERVE_TRAINER_TRAINER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace swapserve::trainer {

struct TrainOptions {
  std::string model = "mlp";
  int mlp_units = 512;  // the mlp's hidden Dense units
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t train_examples = -1;  // -1: all
  int64_t test_examples = -1;
  int batch_size = 32;
  int epochs = 1;
  uint32_t seed = 0;
  int threads = 2;
  float learning_rate = 1e-3f;
  std::string checkpoint_path;     // empty: no checkpoints
  int64_t save_freq_batches = 0;   // 0: at each epoch's end
  int max_to_keep = 0;             // 0: keep all
  bool save_weights_only = true;
  std::string checkpoint_format = "tf";  // "tf" or "keras3" (checkpoint_manager.h)
  bool resume = false;
  std::string export_dir;          // empty: no export
  std::string export_format = "saved_model";  // or "keras": export_dir is a .keras file
  bool quiet = false;
  std::string log_json;            // empty: no log
};

absl::Status Train(const TrainOptions& options);

// Writes the first options.test_examples test images (default 100) as
// {"inputs": {INPUT: {dtype, shape, values}}, "labels": [...]} — the input
// format of `swapserve-cli predict`, for demos and load tests.
absl::Status WriteExamplesJson(const TrainOptions& options, const std::string& path);

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_TRAINER_H_
