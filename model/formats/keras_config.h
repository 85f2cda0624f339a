// Keras model configs: the `model_config` JSON of a Keras .h5 file (the same
// JSON `model.to_json()` gives), parsed into layers and their connections, plus
// the serving signature Keras exports for that model (`serving_default`: one
// input per model input, named after its InputLayer; one output per model
// output, named after its layer; shapes inferred through the layers).
//
// Both Sequential styles are read: the dict style ({"name", "layers": [...]})
// and the Keras-2.1-era list style (the layers alone). When no InputLayer comes
// first, the one Keras creates ("<first layer>_input", shaped by the first
// layer's batch_input_shape or the model's build_input_shape) is added to
// `layers`, so every built model starts from explicit InputLayers. Functional
// inbound nodes are read in both the Keras 2 form
// ([[layer, node, tensor, kwargs], ...]) and the later form
// ({"args": [...tensors with keras_history...], "kwargs": {...}}).
//
// Stateless functions, thread-safe. Malformed JSON is an error, never an
// exception.
#ifndef SWAPSERVE_MODEL_FORMATS_KERAS_CONFIG_H_
#define SWAPSERVE_MODEL_FORMATS_KERAS_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/formats/keras_layer_shapes.h"
#include "model/tensor.h"
#include "nlohmann/json.hpp"

namespace swapserve {

// One output tensor of one call of a layer: Keras's [layer, node_index,
// tensor_index].
struct KerasTensorRef {
  std::string layer;
  int node_index = 0;
  int tensor_index = 0;
  bool operator==(const KerasTensorRef&) const = default;
};

// One call of a layer: the tensors it was called on and the call's keyword
// arguments (e.g. {"training": false}; an empty object when there are none).
struct KerasNode {
  std::vector<KerasTensorRef> inputs;
  nlohmann::json kwargs = nlohmann::json::object();
};

struct KerasLayerConfig {
  std::string class_name;  // "Dense"
  std::string name;        // "dense_1"
  nlohmann::json config;   // The layer's own "config" object.
  // One entry per call; empty for an InputLayer (its one node is the input).
  std::vector<KerasNode> inbound_nodes;
};

struct KerasModelConfig {
  std::string class_name;  // "Sequential", "Functional", "Model"
  std::string name;
  std::vector<KerasLayerConfig> layers;
  // Model inputs and outputs. A Sequential model's input is its first layer
  // (an InputLayer, written or implicit) and its output its last layer; a
  // Sequential model that was never built has neither, and no inbound nodes.
  std::vector<KerasTensorRef> input_layers;
  std::vector<KerasTensorRef> output_layers;

  // nullptr when no layer has that name.
  const KerasLayerConfig* FindLayer(absl::string_view name) const;
};

// Errors name the layer and what is wrong: no layers, a layer without
// class_name, config or name, a reference to an unknown layer or call,
// duplicate layer names. A model class with no graph in its config (a
// subclassed model) is UNIMPLEMENTED.
absl::StatusOr<KerasModelConfig> ParseKerasModelConfig(
    const nlohmann::json& model_config);

struct KerasTensorSpec {
  std::string name;  // The signature key.
  DataType dtype = tensorflow::DT_FLOAT;
  KerasShape shape;  // Batch first.
};

struct KerasSignature {
  std::vector<KerasTensorSpec> inputs;
  std::vector<KerasTensorSpec> outputs;
};

// How the exported signature names the model's outputs: tf.keras (Keras 2)
// SavedModels name each after its layer ("dense_2", a second output of the
// same layer "dense_2_1"); Keras 3's `model.export()` names them by position
// ("output_0", "output_1", ...), its inputs after their InputLayers in both.
enum class KerasOutputNames { kLayerNames, kOutputIndex };

// The serving_default signature Keras exports for the model, with shapes from
// InferKerasOutputShape. Layers it does not know give outputs of unknown shape;
// a model without inputs, a reference cycle or a malformed config of a known
// layer is an error.
absl::StatusOr<KerasSignature> SynthesizeServingSignature(
    const KerasModelConfig& config,
    KerasOutputNames names = KerasOutputNames::kLayerNames);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_KERAS_CONFIG_H_
