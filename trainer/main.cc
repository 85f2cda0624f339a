// swapserve-train: trains the seed's MLP or a small CNN on Fashion-MNIST (or
// MNIST) like Keras's model.fit, writing TF-format checkpoints the way Keras
// ModelCheckpoint does, and optionally a SavedModel that swapserve serves.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "trainer/trainer.h"

ABSL_FLAG(std::string, model, "mlp", "mlp (Dense 512 relu, Dropout 0.2, Dense 10) or cnn.");
ABSL_FLAG(int32_t, mlp_units, 512,
          "The mlp's hidden Dense units (wider: larger models; --resume needs the same).");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (Fashion-MNIST or MNIST).");
ABSL_FLAG(int64_t, train_examples, -1, "Train on the first N examples (-1: all 60000).");
ABSL_FLAG(int64_t, test_examples, -1, "Validate and test on the first N test examples (-1: all).");
ABSL_FLAG(int32_t, batch_size, 32, "Mini-batch size.");
ABSL_FLAG(int32_t, epochs, 1, "Epochs to train (with --resume: the total, counting earlier ones).");
ABSL_FLAG(uint32_t, seed, 0, "Seed for initialisation, shuffling and dropout.");
ABSL_FLAG(int32_t, threads, 2, "Worker threads (a run is deterministic for a given seed and count).");
ABSL_FLAG(double, learning_rate, 1e-3, "Adam's learning rate (Keras default 1e-3).");
ABSL_FLAG(std::string, checkpoint_path, "",
          "Checkpoint prefix pattern, e.g. 'ckpt/cp-{epoch:04d}.ckpt' ({epoch}, {batch}); empty: none.");
ABSL_FLAG(std::string, save_freq, "epoch", "'epoch', or save every N batches.");
ABSL_FLAG(int32_t, max_to_keep, 0, "Keep the newest K checkpoints, deleting older ones (0: all).");
ABSL_FLAG(bool, save_weights_only, true,
          "Weights only (as ModelCheckpoint(save_weights_only=True)); false adds Adam's slots and "
          "iteration counter, which --resume needs.");
ABSL_FLAG(std::string, checkpoint_format, "tf",
          "tf: TF tensor bundles and a `checkpoint` pointer (Keras 2's ModelCheckpoint); keras3: "
          "*.weights.h5 files as Keras 3's ModelCheckpoint(save_weights_only=True) writes them "
          "(with Adam's state, no pointer; --checkpoint_path must end in .weights.h5).");
ABSL_FLAG(bool, resume, false,
          "Restore weights, optimizer state and position from the latest checkpoint and continue. "
          "With no `checkpoint` pointer yet, start at step 0; a pointer whose checkpoint cannot "
          "be restored is an error.");
ABSL_FLAG(std::string, export_dir, "",
          "Write the final model here: a SavedModel directory, or with --export_format=keras a "
          ".keras file.");
ABSL_FLAG(std::string, export_format, "saved_model",
          "saved_model, or keras: a Keras 3 .keras file as model.save() writes it.");
ABSL_FLAG(bool, quiet, false, "No progress output.");
ABSL_FLAG(std::string, log_json, "", "Append one JSON record per epoch to this file.");
ABSL_FLAG(std::string, write_examples, "",
          "Instead of training: write the first --test_examples test images as a predict input "
          "JSON ({\"inputs\": {...}, \"labels\": [...]}) to this file, for swapserve-cli.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains a model on Fashion-MNIST, writing Keras-compatible checkpoints.\n"
      "  swapserve-train --model=mlp --epochs=5 --checkpoint_path='ckpt/cp-{epoch:04d}.ckpt'");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) { return absl::StrContains(file, "trainer/"); };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);

  swapserve::trainer::TrainOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.mlp_units = absl::GetFlag(FLAGS_mlp_units);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.train_examples = absl::GetFlag(FLAGS_train_examples);
  o.test_examples = absl::GetFlag(FLAGS_test_examples);
  o.batch_size = absl::GetFlag(FLAGS_batch_size);
  o.epochs = absl::GetFlag(FLAGS_epochs);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.learning_rate = static_cast<float>(absl::GetFlag(FLAGS_learning_rate));
  o.checkpoint_path = absl::GetFlag(FLAGS_checkpoint_path);
  o.max_to_keep = absl::GetFlag(FLAGS_max_to_keep);
  o.save_weights_only = absl::GetFlag(FLAGS_save_weights_only);
  o.resume = absl::GetFlag(FLAGS_resume);
  o.checkpoint_format = absl::GetFlag(FLAGS_checkpoint_format);
  o.export_dir = absl::GetFlag(FLAGS_export_dir);
  o.export_format = absl::GetFlag(FLAGS_export_format);
  o.quiet = absl::GetFlag(FLAGS_quiet);
  o.log_json = absl::GetFlag(FLAGS_log_json);
  const std::string freq = absl::GetFlag(FLAGS_save_freq);
  if (freq != "epoch" && (!absl::SimpleAtoi(freq, &o.save_freq_batches) || o.save_freq_batches <= 0)) {
    std::fprintf(stderr, "swapserve-train: --save_freq must be 'epoch' or a positive number of batches\n");
    return 2;
  }
  const std::string examples = absl::GetFlag(FLAGS_write_examples);
  absl::Status s = examples.empty() ? swapserve::trainer::Train(o)
                                    : swapserve::trainer::WriteExamplesJson(o, examples);
  if (!s.ok()) {
    std::fprintf(stderr, "swapserve-train: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
