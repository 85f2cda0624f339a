// Network: a ModelSpec's layers with their parameters, computing the forward pass
// and the gradients of the mean sparse softmax cross-entropy (from logits) with
// Eigen. Keras's initialisers (Glorot-uniform kernels, zero biases) and layouts
// (Dense kernel [in, out], Conv2D kernel [kh, kw, in, out], NHWC data), so the
// parameters are exactly what a Keras checkpoint of the same model holds.
//
// Thread safety: Accumulate/Predict are const and may run concurrently on
// different examples (each call uses its own buffers); parameters change only
// through params() between calls.
#ifndef SWAPSERVE_TRAINER_NETWORK_H_
#define SWAPSERVE_TRAINER_NETWORK_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "trainer/model_spec.h"

namespace swapserve::trainer {

// The trainer's float buffers (parameters, gradients, activations, Adam's slots),
// aligned for SIMD. Why: Eigen's vectorized loops start at the first aligned
// element, so with malloc's varying alignment the rounding of sums -- and, after a
// few thousand steps, the trained weights -- depended on the heap's layout (a
// longer --log_json path changed a run's accuracy in the 3rd digit). Aligned, a
// run is a function of its seed and thread count.
using Floats = std::vector<float, Eigen::aligned_allocator<float>>;

struct Param {
  std::string key;             // WeightKey(n, "kernel" | "bias")
  std::string full_name;       // Keras's variable name, e.g. "dense/kernel"
  std::vector<int64_t> shape;
  Floats value;
};

// The loss summed over a batch's examples and how many were classified right.
struct BatchStats {
  double loss_sum = 0;
  int64_t correct = 0;
};

class Network {
 public:
  // Parameters initialised as Keras does, from `seed`.
  Network(ModelSpec spec, uint32_t seed);

  const ModelSpec& spec() const { return spec_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  int64_t input_size() const;

  // Forward and backward over `n` examples; adds the gradient of the *sum* of
  // their losses to `grads` (one vector per parameter, zero-initialised by the
  // caller). Dropout is active when `training`, with masks drawn from `seed`.
  BatchStats Accumulate(const float* x, const int32_t* labels, int64_t n, bool training,
                        uint64_t seed, std::vector<Floats>* grads) const;

  // Logits [n, 10] for `n` examples (no dropout).
  Floats Predict(const float* x, int64_t n) const;

  // The summed loss and correct count over `n` examples (no dropout).
  BatchStats Evaluate(const float* x, const int32_t* labels, int64_t n) const;

 private:
  struct Saved;
  Floats Forward(const float* x, int64_t n, std::mt19937_64* rng,
                 std::vector<Saved>* saved) const;
  void Backward(size_t layer, const Saved& saved, int64_t n, bool training,
                Floats* grad, std::vector<Floats>* grads) const;

  ModelSpec spec_;
  std::vector<Param> params_;
  std::vector<int> param_of_layer_;  // index of a layer's kernel in params_, or -1
};

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_NETWORK_H_
