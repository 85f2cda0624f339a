// The models swapserve-train trains, described as Keras Sequential layers: what
// the trainer builds, what the SavedModel exporter writes as a graph, and what the
// checkpoint keys are numbered after (Keras numbers `layer_with_weights-N` over
// the layers that have weights, in order). Plain data, thread-safe.
#ifndef SWAPSERVE_TRAINER_MODEL_SPEC_H_
#define SWAPSERVE_TRAINER_MODEL_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace swapserve::trainer {

struct LayerSpec {
  enum class Kind { kDense, kConv2D, kMaxPool2D, kFlatten, kDropout };
  Kind kind = Kind::kDense;
  std::string name;  // Keras's default name: "dense", "dense_1", "conv2d", ...
  int units = 0;     // Dense: outputs; Conv2D: filters
  int kernel = 0;    // Conv2D: kernel height = width (VALID padding, stride 1)
  int pool = 0;      // MaxPool2D: pool size = stride (VALID padding)
  float rate = 0;    // Dropout: fraction dropped while training
  bool relu = false; // activation relu; otherwise linear

  bool has_weights() const { return kind == Kind::kDense || kind == Kind::kConv2D; }
};

struct ModelSpec {
  std::string name;                  // "mlp" or "cnn"
  std::vector<int64_t> input_shape;  // without the batch: {784} or {28, 28, 1}
  std::vector<LayerSpec> layers;

  // The serving signature's input and output keys, as Keras names them:
  // "<first layer>_input" and the last layer's name.
  std::string input_name() const { return layers.front().name + "_input"; }
  std::string output_name() const { return layers.back().name; }
};

// The seed's model: Dense(units, relu) → Dropout(0.2) → Dense(10) logits, 784
// inputs (the seed has 512 units; wider ones make large models for the
// memory tests: 32768 units are ~104 MB of weights).
ModelSpec MlpSpec(int units = 512);
// Conv2D(32, 3×3, relu) → MaxPool(2) → Conv2D(64, 3×3, relu) → MaxPool(2) →
// Flatten → Dense(128, relu) → Dense(10) logits, on 28×28×1.
ModelSpec CnnSpec();
// "mlp" (with `mlp_units`) or "cnn"; INVALID_ARGUMENT naming the choices
// otherwise, or for mlp_units < 1.
absl::StatusOr<ModelSpec> ModelSpecByName(const std::string& name, int mlp_units = 512);

// Keras's checkpoint key of weight `what` ("kernel" or "bias") of the n-th layer
// with weights: "layer_with_weights-N/kernel/.ATTRIBUTES/VARIABLE_VALUE".
std::string WeightKey(int n, const std::string& what);

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_MODEL_SPEC_H_
