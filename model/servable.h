// Servable: one loaded model version as the daemon serves it — the immutable
// LoadedModel (plans, slots, signature definitions) plus the weights currently
// answering, which can be replaced atomically without touching the plans.
//
// A request calls Weights() once at its start and uses that snapshot to its end:
// a Swap() between two requests changes what the next one sees, never what a
// running one computes with. The old WeightSet is freed when its last request ends.
//
// Thread safety: all methods are thread-safe. Weights() waits at most for the
// pointer exchange inside a Swap(), never for a load or a warm-up.
#ifndef SWAPSERVE_MODEL_SERVABLE_H_
#define SWAPSERVE_MODEL_SERVABLE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "model/loaded_model.h"
#include "model/weights.h"

namespace swapserve {

// The weights a request runs with and which generation they are.
struct ServedWeights {
  std::shared_ptr<const WeightSet> set;
  // 1 for the weights the version loaded with, +1 for each Swap().
  int64_t generation = 1;
};

class Servable {
 public:
  // `model` must have its weights loaded. They become the first current set
  // and model().weights is null from then on: a set swapped out is freed once
  // its last request ends, the first one too.
  explicit Servable(std::unique_ptr<LoadedModel> model);

  Servable(const Servable&) = delete;
  Servable& operator=(const Servable&) = delete;

  const LoadedModel& model() const { return *model_; }

  // The current weights; never null.
  std::shared_ptr<const ServedWeights> Weights() const;

  // Makes `weights` (which must fit model().slots) current; returns its generation.
  int64_t Swap(std::shared_ptr<const WeightSet> weights);

  // True when `weights` are the model's own (SavedModel variables or .h5 file),
  // false when they came from a checkpoint.
  bool IsOwnWeights(const WeightSet& weights) const;
  // "saved_model" for the model's own weights, else the checkpoint prefix's
  // basename (e.g. "cp-0005.ckpt") — what responses name as their weights.
  std::string WeightsName(const WeightSet& weights) const;

  // Runs every signature whose inputs are numeric with a known rank once on
  // `weights`, with zeros (unknown sizes as 1): proves the set computes before it
  // serves, and touches its pages. Signatures fed strings (tf.Examples) are skipped.
  absl::Status WarmUp(const WeightSet& weights) const;

 private:
  std::unique_ptr<const LoadedModel> model_;
  // Orders concurrent Swap() calls so that generations increase; readers never
  // take it.
  std::mutex swap_mu_;
  // Guards only the pointer (readers share it). Not std::atomic<std::shared_ptr>:
  // libstdc++ 12's load() releases its internal lock with a relaxed store, which
  // ThreadSanitizer reports as a race with the next store (tests/tsan.sh), and the
  // lock bit it spins on is no cheaper than this mutex.
  mutable absl::Mutex mu_;
  std::shared_ptr<const ServedWeights> weights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_SERVABLE_H_
