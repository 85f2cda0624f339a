// Where a Keras model's layers find their weights, and the keys that name
// them: one rule per file layout, so keras_plan.h builds the same Plan from
// either.
//
// - Legacy .h5 (Keras 2 `model.save('x.h5')`): a layer's weights are found by
//   the layer's configured name and the weight's own name ("dense/kernel:0");
//   their keys are those a Keras 2 ModelCheckpoint writes,
//   `layer_with_weights-N/<attr>/.ATTRIBUTES/VARIABLE_VALUE`, with N counting
//   the layers that own weights in model order.
// - Keras 3 (`model.weights.h5` in a `.keras` zip, `.weights.h5`): Keras 3
//   does not use configured names. Layer k of the model's `layers` list is
//   `layers/<snake_case(class name)>[_n]`, n counting the earlier layers of
//   the same class (`dense`, `dense_1`, ...; Keras's to_snake_case:
//   MaxPooling2D → max_pooling2d), and its variables are `vars/0..` in the
//   layer's trainable-then-non-trainable order (Dense, Conv2D: kernel, bias;
//   BatchNormalization: gamma, beta, moving_mean, moving_variance, without
//   those scale/center turn off; Embedding: embeddings). Those keys are both
//   where the values are read from and the keys the model's checkpoints
//   (later `.weights.h5` files) must hold. A layer whose `vars` group holds
//   another count than its class has is an error: the layout is not the one
//   this rule knows. A nested model's layers sit under its own path
//   (`layers/sequential/layers/dense/vars/0`). tf.keras 2.13's
//   `_layer_checkpoint_dependencies` in place of `layers` is read too.
//
// Thread safety: const methods, safe to share.
#ifndef SWAPSERVE_MODEL_GRAPH_KERAS_WEIGHT_SOURCE_H_
#define SWAPSERVE_MODEL_GRAPH_KERAS_WEIGHT_SOURCE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/formats/keras_config.h"
#include "model/formats/keras_h5.h"
#include "model/formats/keras_weights_h5.h"
#include "model/tensor.h"

namespace swapserve {

struct KerasWeight {
  std::string key;  // Names it in this layout's checkpoints.
  Tensor value;
};

class KerasWeightSource {
 public:
  virtual ~KerasWeightSource() = default;
  // Weight `attr` ("kernel", "bias", "gamma", "beta", "moving_mean",
  // "moving_variance", "embeddings") of layer `layer` of `model`, which sits
  // at `scope` ("" for the outermost model, else what NestedScope gave). An
  // error names what is missing.
  virtual absl::StatusOr<KerasWeight> Find(const KerasModelConfig& model, size_t layer,
                                           absl::string_view attr,
                                           const std::string& scope) const = 0;
  // The scope of the model that is layer `layer` of `model` (at `scope`).
  // Keras 3: "layers/sequential/"; UNIMPLEMENTED for layouts without nesting.
  virtual absl::StatusOr<std::string> NestedScope(const KerasModelConfig& model, size_t layer,
                                                  const std::string& scope) const = 0;
  // Where the values came from.
  virtual const std::string& path() const = 0;
  // The Keras version that wrote them ("3.10.0"; "" when the file does not say).
  virtual const std::string& keras_version() const = 0;
};

// The legacy .h5 layout. `file` must outlive the source.
std::unique_ptr<KerasWeightSource> LegacyH5WeightSource(const KerasModelConfig& model,
                                                        const KerasH5File& file);

// Keras 3's layout. `file` must outlive the source. `path` is where the values
// came from (file.path, or the .keras archive holding it).
std::unique_ptr<KerasWeightSource> Keras3WeightSource(const KerasWeightsFile& file,
                                                      std::string keras_version,
                                                      std::string path);

// Keras's naming.to_snake_case: "MaxPooling2D" → "max_pooling2d".
std::string KerasSnakeCase(absl::string_view name);

// The Keras 3 path of layer `layer` of `model` ("layers/dense_1").
std::string Keras3LayerPath(const KerasModelConfig& model, size_t layer);

// The names of a layer's variables in Keras 3's `vars/<i>` order, from its
// class and config; empty for layers without variables.
absl::StatusOr<std::vector<std::string>> Keras3VariableOrder(const KerasLayerConfig& layer);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_GRAPH_KERAS_WEIGHT_SOURCE_H_
