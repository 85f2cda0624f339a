#include "trainer/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "model/formats/checkpoint_state.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "trainer/adam.h"
#include "trainer/checkpoint_manager.h"
#include "trainer/export_hook.h"
#include "trainer/idx_reader.h"
#include "trainer/keras3_checkpoint.h"
#include "trainer/keras_checkpoint.h"
#include "trainer/network.h"

namespace swapserve::trainer {
namespace {

uint64_t Mix(uint64_t a, uint64_t b) {  // splitmix64 of a combined pair
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct EpochStats {
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  double loss() const { return seen ? loss_sum / seen : 0; }
  double accuracy() const { return seen ? static_cast<double>(correct) / seen : 0; }
};

// Keras's progress line: "  375/1875 [=====>........................] - 2s 1ms/step - loss: ..."
std::string ProgressLine(int64_t done, int64_t total, absl::Duration elapsed, const EpochStats& s) {
  const int width = 30;
  const int filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
  std::string bar(filled, '=');
  if (filled < width) bar += '>' + std::string(width - filled - 1, '.');
  const int digits = static_cast<int>(std::to_string(total).size());
  return absl::StrFormat("%*d/%d [%s] - %ds %dms/step - loss: %.4f - accuracy: %.4f", digits, done,
                         total, bar, static_cast<int>(absl::ToInt64Seconds(elapsed)),
                         static_cast<int>(absl::ToDoubleMilliseconds(elapsed) / std::max<int64_t>(done, 1)),
                         s.loss(), s.accuracy());
}

EpochStats Evaluate(const Network& net, const Dataset& data) {
  EpochStats s;
  const int64_t in = net.input_size();
  for (int64_t begin = 0; begin < data.size; begin += 1000) {
    const int64_t n = std::min<int64_t>(1000, data.size - begin);
    const BatchStats b = net.Evaluate(&data.images[begin * in], &data.labels[begin], n);
    s.loss_sum += b.loss_sum;
    s.correct += b.correct;
    s.seen += n;
  }
  return s;
}

class Run {
 public:
  Run(const TrainOptions& o, Network net, Dataset train, Dataset test)
      : o_(o), net_(std::move(net)), adam_(AdamConfig{o.learning_rate}, net_.params()),
        train_(std::move(train)), test_(std::move(test)),
        steps_per_epoch_((train_.size + o.batch_size - 1) / o.batch_size),
        tty_(isatty(1) != 0) {}

  absl::Status Go();

 private:
  void Step(const std::vector<int64_t>& order, int64_t first, int64_t n, EpochStats* stats);
  absl::Status MaybeSave(int64_t epoch, int64_t batch, bool epoch_end);
  absl::Status Resume(int64_t* start_epoch, int64_t* skip);

  const TrainOptions& o_;
  Network net_;
  Adam adam_;
  Dataset train_, test_;
  const int64_t steps_per_epoch_;
  const bool tty_;
  std::unique_ptr<CheckpointManager> checkpoints_;
  std::string last_checkpoint_;
};

void Run::Step(const std::vector<int64_t>& order, int64_t first, int64_t n, EpochStats* stats) {
  const int64_t in = net_.input_size();
  Floats x(static_cast<size_t>(n * in));
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t src = order[first + i];
    std::copy_n(&train_.images[src * in], in, &x[i * in]);
    y[i] = train_.labels[src];
  }
  const int shards = static_cast<int>(std::clamp<int64_t>(o_.threads, 1, n));
  std::vector<std::vector<Floats>> grads(shards);
  std::vector<BatchStats> shard_stats(shards);
  auto work = [&](int s) {
    for (const Param& p : net_.params()) grads[s].emplace_back(p.value.size(), 0.0f);
    const int64_t begin = n * s / shards, end = n * (s + 1) / shards;
    shard_stats[s] = net_.Accumulate(&x[begin * in], &y[begin], end - begin, true,
                                     Mix(Mix(o_.seed, adam_.iterations()), s), &grads[s]);
  };
  std::vector<std::thread> workers;
  for (int s = 1; s < shards; ++s) workers.emplace_back(work, s);
  work(0);
  for (auto& w : workers) w.join();
  for (int s = 1; s < shards; ++s) {
    for (size_t p = 0; p < grads[0].size(); ++p) {
      for (size_t i = 0; i < grads[0][p].size(); ++i) grads[0][p][i] += grads[s][p][i];
    }
  }
  for (const BatchStats& b : shard_stats) {
    stats->loss_sum += b.loss_sum;
    stats->correct += b.correct;
  }
  stats->seen += n;
  adam_.Apply(grads[0], 1.0f / static_cast<float>(n), &net_.params());
}

absl::Status Run::MaybeSave(int64_t epoch, int64_t batch, bool epoch_end) {
  if (checkpoints_ == nullptr) return absl::OkStatus();
  const bool due = o_.save_freq_batches > 0 ? adam_.iterations() % o_.save_freq_batches == 0 : epoch_end;
  if (!due) return absl::OkStatus();
  // Keras 3 saves the optimizer with the weights; TF checkpoints only without
  // save_weights_only.
  const bool with_optimizer = !o_.save_weights_only || o_.checkpoint_format == "keras3";
  ASSIGN_OR_RETURN(last_checkpoint_,
                   checkpoints_->Save(epoch, batch, net_, with_optimizer ? &adam_ : nullptr));
  return absl::OkStatus();
}

absl::Status Run::Resume(int64_t* start_epoch, int64_t* skip) {
  *start_epoch = 0;
  *skip = 0;
  if (!o_.resume) return absl::OkStatus();
  if (checkpoints_ == nullptr) return absl::InvalidArgumentError("--resume needs --checkpoint_path");
  if (o_.checkpoint_format != "tf") {
    return absl::UnimplementedError(
        "--resume reads TF-format checkpoints; it does not read --checkpoint_format=keras3 files yet");
  }
  // No pointer yet is a first run (a Job's first pod): it starts from step 0.
  // A pointer whose checkpoint cannot be restored is an error, never a silent
  // fresh start that would overwrite the run's checkpoints.
  const std::string& dir = checkpoints_->directory();
  if (!PathExists(dir + "/" + std::string(kCheckpointStateFilename))) {
    if (!o_.quiet) std::printf("No checkpoint to resume from in %s; starting afresh\n", dir.c_str());
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> latest = LatestCheckpoint(dir);
  if (!latest.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--resume: ", dir, " has a checkpoint pointer but ", latest.status().message()));
  }
  if (absl::Status s = RestoreKerasCheckpoint(*latest, &net_, &adam_); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--resume: cannot resume from ", *latest, ": ", s.message()));
  }
  *start_epoch = adam_.iterations() / steps_per_epoch_;
  *skip = adam_.iterations() % steps_per_epoch_;
  if (!o_.quiet) {
    std::printf("Resumed from %s (step %lld: epoch %lld, batch %lld)\n", latest->c_str(),
                static_cast<long long>(adam_.iterations()), static_cast<long long>(*start_epoch + 1),
                static_cast<long long>(*skip));
  }
  return absl::OkStatus();
}

absl::Status Run::Go() {
  ASSIGN_OR_RETURN(CheckpointFormat format, CheckpointFormatByName(o_.checkpoint_format));
  if (o_.export_format != "saved_model" && o_.export_format != "keras") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--export_format: '", o_.export_format, "' is neither saved_model nor keras"));
  }
  if (!o_.checkpoint_path.empty()) {
    checkpoints_ = std::make_unique<CheckpointManager>(o_.checkpoint_path, o_.max_to_keep, format);
  }
  int64_t start_epoch, skip;
  RETURN_IF_ERROR(Resume(&start_epoch, &skip));
  std::ofstream log;
  if (!o_.log_json.empty()) {
    log.open(o_.log_json, std::ios::app);
    if (!log) return absl::PermissionDeniedError("cannot write --log_json " + o_.log_json);
  }
  for (int64_t epoch = start_epoch; epoch < o_.epochs; ++epoch) {
    if (!o_.quiet) std::printf("Epoch %lld/%d\n", static_cast<long long>(epoch + 1), o_.epochs);
    std::vector<int64_t> order(static_cast<size_t>(train_.size));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(Mix(o_.seed, 1000 + epoch)));
    EpochStats stats;
    const absl::Time start = absl::Now();
    absl::Time shown = absl::InfinitePast();
    for (int64_t b = epoch == start_epoch ? skip : 0; b < steps_per_epoch_; ++b) {
      const int64_t first = b * o_.batch_size;
      Step(order, first, std::min<int64_t>(o_.batch_size, train_.size - first), &stats);
      RETURN_IF_ERROR(MaybeSave(epoch + 1, b + 1, b + 1 == steps_per_epoch_));
      if (!o_.quiet && tty_ && absl::Now() - shown > absl::Milliseconds(100)) {
        std::printf("\r%s", ProgressLine(b + 1, steps_per_epoch_, absl::Now() - start, stats).c_str());
        std::fflush(stdout);
        shown = absl::Now();
      }
    }
    const absl::Duration took = absl::Now() - start;
    const EpochStats val = Evaluate(net_, test_);
    if (!o_.quiet) {
      std::printf("%s%s - val_loss: %.4f - val_accuracy: %.4f\n", tty_ ? "\r" : "",
                  ProgressLine(steps_per_epoch_, steps_per_epoch_, took, stats).c_str(), val.loss(),
                  val.accuracy());
    }
    if (log.is_open()) {
      nlohmann::json j = {{"epoch", epoch + 1}, {"loss", stats.loss()}, {"accuracy", stats.accuracy()},
                          {"val_loss", val.loss()}, {"val_accuracy", val.accuracy()},
                          {"seconds", absl::ToDoubleSeconds(took)},
                          {"samples_per_second", stats.seen / std::max(1e-9, absl::ToDoubleSeconds(took))},
                          {"step", adam_.iterations()}, {"checkpoint", last_checkpoint_}};
      log << j.dump() << std::endl;
    }
  }
  const EpochStats test = Evaluate(net_, test_);
  if (!o_.quiet) {
    std::printf("Test accuracy: %.4f (loss %.4f, %lld examples)\n", test.accuracy(), test.loss(),
                static_cast<long long>(test.seen));
  }
  if (!o_.export_dir.empty() && o_.export_format == "keras") {
    RETURN_IF_ERROR(ExportKerasModel(o_.export_dir, net_, &adam_));
    if (!o_.quiet) std::printf("Exported the Keras model to %s\n", o_.export_dir.c_str());
  } else if (!o_.export_dir.empty()) {
    RETURN_IF_ERROR(ExportTrainedModel(net_, o_.export_dir));
    if (!o_.quiet) std::printf("Exported the SavedModel to %s\n", o_.export_dir.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteExamplesJson(const TrainOptions& o, const std::string& path) {
  ASSIGN_OR_RETURN(ModelSpec spec, ModelSpecByName(o.model, o.mlp_units));
  ASSIGN_OR_RETURN(Dataset test, ReadMnistSplit(o.data_dir, "test", o.test_examples < 0 ? 100 : o.test_examples));
  std::vector<int64_t> shape = {test.size};
  shape.insert(shape.end(), spec.input_shape.begin(), spec.input_shape.end());
  nlohmann::json j;
  j["inputs"][spec.input_name()] = {{"dtype", "DT_FLOAT"}, {"shape", shape}, {"values", test.images}};
  j["labels"] = test.labels;
  std::ofstream out(path);
  out << j.dump() << "\n";
  if (!out) return absl::PermissionDeniedError("cannot write " + path);
  return absl::OkStatus();
}

absl::Status Train(const TrainOptions& o) {
  if (o.batch_size <= 0 || o.epochs < 0 || o.threads <= 0 || o.max_to_keep < 0 ||
      o.save_freq_batches < 0) {
    return absl::InvalidArgumentError(
        "--batch_size and --threads must be > 0; --epochs, --max_to_keep, --save_freq >= 0");
  }
  ASSIGN_OR_RETURN(ModelSpec spec, ModelSpecByName(o.model, o.mlp_units));
  ASSIGN_OR_RETURN(Dataset train, ReadMnistSplit(o.data_dir, "train", o.train_examples));
  ASSIGN_OR_RETURN(Dataset test, ReadMnistSplit(o.data_dir, "test", o.test_examples));
  if (train.size == 0) return absl::InvalidArgumentError("no training examples");
  Run run(o, Network(std::move(spec), o.seed), std::move(train), std::move(test));
  return run.Go();
}

}  // namespace swapserve::trainer
