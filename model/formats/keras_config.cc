#include "model/formats/keras_config.h"

#include <algorithm>
#include <climits>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "model/formats/keras_json.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using json = nlohmann::json;

absl::StatusOr<KerasTensorRef> ParseRef(const json& ref,
                                        absl::string_view where) {
  std::optional<int64_t> node, tensor;
  if (ref.is_array() && ref.size() >= 3 && ref[0].is_string()) {
    node = JsonInt(ref[1]);
    tensor = JsonInt(ref[2]);
  }
  if (!node || !tensor || *node < 0 || *tensor < 0 || *node > INT_MAX ||
      *tensor > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": expected [layer, node_index, tensor_index], got ",
        JsonSnippet(ref)));
  }
  return KerasTensorRef{ref[0].get<std::string>(), static_cast<int>(*node),
                        static_cast<int>(*tensor)};
}

// input_layers/output_layers: [[layer, node, tensor], ...], or a single
// [layer, node, tensor] as later Keras writes for single-input models.
absl::StatusOr<std::vector<KerasTensorRef>> ParseRefList(
    const json* refs, absl::string_view where) {
  if (refs == nullptr || !refs->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is missing"));
  }
  std::vector<KerasTensorRef> out;
  if (!refs->empty() && (*refs)[0].is_string()) {
    ASSIGN_OR_RETURN(out.emplace_back(), ParseRef(*refs, where));
    return out;
  }
  for (const json& ref : *refs) {
    ASSIGN_OR_RETURN(out.emplace_back(), ParseRef(ref, where));
  }
  return out;
}

// The later node form: tensors anywhere in "args" carry a keras_history.
// Recursion is bounded: ParseModel checked the nesting depth.
absl::Status CollectHistory(const json& value, absl::string_view where,
                            std::vector<KerasTensorRef>* out) {
  if (const json* history = JsonMember(value, "keras_history")) {
    ASSIGN_OR_RETURN(out->emplace_back(), ParseRef(*history, where));
    return absl::OkStatus();
  }
  if (value.is_object() || value.is_array()) {
    for (const json& item : value) {
      RETURN_IF_ERROR(CollectHistory(item, where, out));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<KerasNode> ParseNode(const json& node, absl::string_view where) {
  KerasNode out;
  if (node.is_object()) {
    if (const json* args = JsonMember(node, "args")) {
      RETURN_IF_ERROR(CollectHistory(*args, where, &out.inputs));
    }
    const json* kwargs = JsonMember(node, "kwargs");
    if (kwargs != nullptr && kwargs->is_object()) out.kwargs = *kwargs;
    return out;
  }
  if (!node.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": expected a list or object, got ", JsonSnippet(node)));
  }
  // Keras 2: [[layer, node, tensor, kwargs], ...]; one call of a TF op: a bare
  // entry.
  const bool bare = !node.empty() && node[0].is_string();
  for (size_t i = 0; i < (bare ? 1 : node.size()); ++i) {
    const json& entry = bare ? node : node[i];
    ASSIGN_OR_RETURN(out.inputs.emplace_back(), ParseRef(entry, where));
    if (entry.size() >= 4 && entry[3].is_object() && !entry[3].empty()) {
      out.kwargs = entry[3];
    }
  }
  return out;
}

absl::StatusOr<KerasLayerConfig> ParseLayer(const json& layer, size_t index) {
  const std::string where = absl::StrCat("model_config: layer ", index);
  if (!layer.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is not an object"));
  }
  KerasLayerConfig out;
  std::optional<std::string> class_name = JsonString(layer, "class_name");
  if (!class_name || class_name->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " has no class_name"));
  }
  out.class_name = std::move(*class_name);
  const json* config = JsonMember(layer, "config");
  if (config == nullptr || !config->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " (", out.class_name, ") has no config object"));
  }
  out.config = *config;
  std::optional<std::string> name = JsonString(*config, "name");
  if (!name) name = JsonString(layer, "name");
  if (!name || name->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " (", out.class_name, ") has no name"));
  }
  out.name = std::move(*name);
  return out;
}

bool IsInputLayer(const KerasLayerConfig& layer) {
  return layer.class_name == "InputLayer";
}

// The InputLayer Keras creates for a Sequential model: from its first layer's
// batch_input_shape (Keras 3: batch_shape), or for a model built by fit() or
// build(), from the model's build_input_shape.
std::optional<KerasLayerConfig> ImplicitInputLayer(
    const KerasLayerConfig& first, const json& model_config) {
  const json* shape = JsonMember(first.config, "batch_input_shape");
  if (shape == nullptr) shape = JsonMember(first.config, "batch_shape");
  if (shape == nullptr) shape = JsonMember(model_config, "build_input_shape");
  if (shape == nullptr || !shape->is_array()) return std::nullopt;
  KerasLayerConfig input;
  input.class_name = "InputLayer";
  input.name = absl::StrCat(first.name, "_input");
  const json* dtype = JsonMember(first.config, "dtype");
  input.config = {{"batch_input_shape", *shape},
                  {"dtype", dtype != nullptr ? *dtype : json("float32")},
                  {"sparse", false},
                  {"name", input.name}};
  return input;
}

absl::Status ParseSequential(const json& config, KerasModelConfig* model) {
  const json* layers =
      config.is_array() ? &config : JsonMember(config, "layers");
  if (layers == nullptr || !layers->is_array() || layers->empty()) {
    return absl::InvalidArgumentError(
        "model_config: Sequential model has no layers");
  }
  model->name = JsonString(config, "name").value_or("sequential");
  for (size_t i = 0; i < layers->size(); ++i) {
    ASSIGN_OR_RETURN(model->layers.emplace_back(), ParseLayer((*layers)[i], i));
  }
  if (!IsInputLayer(model->layers.front())) {
    std::optional<KerasLayerConfig> input =
        ImplicitInputLayer(model->layers.front(), config);
    if (input) model->layers.insert(model->layers.begin(), std::move(*input));
  }
  // A model that was never built has no input, and its layers no calls.
  if (!IsInputLayer(model->layers.front())) return absl::OkStatus();
  for (size_t i = 1; i < model->layers.size(); ++i) {
    model->layers[i].inbound_nodes.push_back(
        KerasNode{{KerasTensorRef{model->layers[i - 1].name, 0, 0}}});
  }
  model->input_layers.push_back({model->layers.front().name, 0, 0});
  model->output_layers.push_back({model->layers.back().name, 0, 0});
  return absl::OkStatus();
}

absl::Status ParseFunctional(const json& config, KerasModelConfig* model) {
  const json* layers = JsonMember(config, "layers");
  if (layers == nullptr || !layers->is_array() || layers->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model_config: ", model->class_name, " model has no layers"));
  }
  model->name = JsonString(config, "name").value_or("");
  for (size_t i = 0; i < layers->size(); ++i) {
    ASSIGN_OR_RETURN(KerasLayerConfig parsed, ParseLayer((*layers)[i], i));
    KerasLayerConfig& layer = model->layers.emplace_back(std::move(parsed));
    const json* nodes = JsonMember((*layers)[i], "inbound_nodes");
    if (nodes == nullptr || !nodes->is_array()) continue;
    const std::string where =
        absl::StrCat("model_config: inbound_nodes of layer '", layer.name, "'");
    for (const json& node : *nodes) {
      ASSIGN_OR_RETURN(layer.inbound_nodes.emplace_back(),
                       ParseNode(node, where));
    }
  }
  ASSIGN_OR_RETURN(model->input_layers,
                   ParseRefList(JsonMember(config, "input_layers"),
                                "model_config: input_layers"));
  ASSIGN_OR_RETURN(model->output_layers,
                   ParseRefList(JsonMember(config, "output_layers"),
                                "model_config: output_layers"));
  return absl::OkStatus();
}

int NodeCount(const KerasLayerConfig& layer) {
  const int calls = static_cast<int>(layer.inbound_nodes.size());
  return IsInputLayer(layer) ? std::max(calls, 1) : calls;
}

// Every reference names a layer of the model and a call that layer has.
absl::Status CheckReferences(const KerasModelConfig& model) {
  std::map<std::string, const KerasLayerConfig*, std::less<>> by_name;
  for (const KerasLayerConfig& layer : model.layers) {
    if (!by_name.emplace(layer.name, &layer).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model_config: two layers are named '", layer.name, "'"));
    }
  }
  auto check = [&](const KerasTensorRef& ref, absl::string_view user) {
    auto it = by_name.find(ref.layer);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model_config: ", user, " refers to unknown layer '",
                       ref.layer, "'"));
    }
    if (ref.node_index >= NodeCount(*it->second)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model_config: ", user, " refers to call ", ref.node_index,
          " of layer '", ref.layer, "', which has ", NodeCount(*it->second)));
    }
    return absl::OkStatus();
  };
  for (const KerasLayerConfig& layer : model.layers) {
    for (const KerasNode& node : layer.inbound_nodes) {
      for (const KerasTensorRef& ref : node.inputs) {
        RETURN_IF_ERROR(check(ref, absl::StrCat("layer '", layer.name, "'")));
      }
    }
  }
  for (const KerasTensorRef& ref : model.input_layers) {
    RETURN_IF_ERROR(check(ref, "input_layers"));
  }
  for (const KerasTensorRef& ref : model.output_layers) {
    RETURN_IF_ERROR(check(ref, "output_layers"));
  }
  return absl::OkStatus();
}

absl::StatusOr<KerasModelConfig> ParseModel(const json& model_config) {
  if (!model_config.is_object()) {
    return absl::InvalidArgumentError("model_config is not a JSON object");
  }
  if (!JsonDepthWithin(model_config, kMaxKerasJsonDepth)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model_config nests deeper than ", kMaxKerasJsonDepth, " levels"));
  }
  KerasModelConfig model;
  std::optional<std::string> class_name =
      JsonString(model_config, "class_name");
  if (!class_name || class_name->empty()) {
    return absl::InvalidArgumentError("model_config has no class_name");
  }
  model.class_name = std::move(*class_name);
  const json* config = JsonMember(model_config, "config");
  if (config == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_config (", model.class_name, ") has no config"));
  }
  if (model.class_name == "Sequential") {
    RETURN_IF_ERROR(ParseSequential(*config, &model));
  } else if (JsonMember(*config, "input_layers") != nullptr) {
    RETURN_IF_ERROR(ParseFunctional(*config, &model));
  } else {
    return absl::UnimplementedError(
        absl::StrCat("model_config: model class '", model.class_name,
                     "' is neither Sequential nor Functional (no "
                     "input_layers); a subclassed "
                     "model's h5 file holds no graph"));
  }
  RETURN_IF_ERROR(CheckReferences(model));
  return model;
}

// Output shapes of every call of every layer, computed depth-first with an
// explicit stack (a hostile config can chain any number of layers, in any
// order).
class ShapeInference {
 public:
  explicit ShapeInference(const KerasModelConfig& model) : model_(model) {
    for (size_t i = 0; i < model.layers.size(); ++i) {
      index_.emplace(model.layers[i].name, i);
      shapes_.emplace_back(NodeCount(model.layers[i]));
      visiting_.emplace_back(NodeCount(model.layers[i]), false);
    }
  }

  absl::Status Run() {
    for (size_t layer = 0; layer < shapes_.size(); ++layer) {
      for (size_t node = 0; node < shapes_[layer].size(); ++node) {
        RETURN_IF_ERROR(Visit({layer, node}));
      }
    }
    return absl::OkStatus();
  }

  // Only single-output layers are inferred; their other tensors are unknown.
  KerasShape OutputShape(const KerasTensorRef& ref) const {
    if (ref.tensor_index != 0) return std::nullopt;
    return *shapes_[index_.find(ref.layer)->second][ref.node_index];
  }

 private:
  struct Call {
    size_t layer;
    size_t node;
  };

  const std::vector<KerasTensorRef>& Inputs(Call call) const {
    static const auto* const kNone = new std::vector<KerasTensorRef>();
    const auto& nodes = model_.layers[call.layer].inbound_nodes;
    return call.node < nodes.size() ? nodes[call.node].inputs : *kNone;
  }

  std::optional<Call> FirstMissingInput(Call call) const {
    for (const KerasTensorRef& ref : Inputs(call)) {
      const Call input{index_.find(ref.layer)->second,
                       static_cast<size_t>(ref.node_index)};
      if (!shapes_[input.layer][input.node]) return input;
    }
    return std::nullopt;
  }

  absl::Status Visit(Call start) {
    std::vector<Call> stack = {start};
    while (!stack.empty()) {
      const Call call = stack.back();
      if (shapes_[call.layer][call.node]) {
        stack.pop_back();
        continue;
      }
      visiting_[call.layer][call.node] = true;
      if (std::optional<Call> input = FirstMissingInput(call)) {
        if (visiting_[input->layer][input->node]) {
          return absl::InvalidArgumentError(absl::StrCat(
              "model_config: layer '", model_.layers[input->layer].name,
              "' depends on its own output (a cycle)"));
        }
        stack.push_back(*input);
        continue;
      }
      std::vector<KerasShape> inputs;
      for (const KerasTensorRef& ref : Inputs(call)) {
        inputs.push_back(OutputShape(ref));
      }
      const KerasLayerConfig& layer = model_.layers[call.layer];
      ASSIGN_OR_RETURN(
          shapes_[call.layer][call.node],
          InferKerasOutputShape(layer.class_name, layer.config, inputs));
      visiting_[call.layer][call.node] = false;
      stack.pop_back();
    }
    return absl::OkStatus();
  }

  const KerasModelConfig& model_;
  std::map<std::string, size_t, std::less<>> index_;
  std::vector<std::vector<std::optional<KerasShape>>> shapes_;
  std::vector<std::vector<bool>> visiting_;
};

absl::StatusOr<KerasSignature> Synthesize(const KerasModelConfig& model, KerasOutputNames names) {
  if (model.input_layers.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", model.name,
        "' has no inputs (as a Sequential model that was never built)"));
  }
  RETURN_IF_ERROR(CheckReferences(model));
  ShapeInference shapes(model);
  RETURN_IF_ERROR(shapes.Run());
  KerasSignature signature;
  for (const KerasTensorRef& ref : model.input_layers) {
    ASSIGN_OR_RETURN(DataType dtype,
                     KerasDtype(model.FindLayer(ref.layer)->config));
    signature.inputs.push_back({ref.layer, dtype, shapes.OutputShape(ref)});
  }
  std::set<std::string> used;
  for (const KerasTensorRef& ref : model.output_layers) {
    std::string name = names == KerasOutputNames::kOutputIndex
                           ? absl::StrCat("output_", signature.outputs.size())
                           : ref.layer;
    for (int i = 1; !used.insert(name).second; ++i) {
      name = absl::StrCat(ref.layer, "_", i);
    }
    ASSIGN_OR_RETURN(DataType dtype,
                     KerasDtype(model.FindLayer(ref.layer)->config));
    signature.outputs.push_back(
        {std::move(name), dtype, shapes.OutputShape(ref)});
  }
  return signature;
}

}  // namespace

const KerasLayerConfig* KerasModelConfig::FindLayer(
    absl::string_view name) const {
  for (const KerasLayerConfig& layer : layers) {
    if (layer.name == name) return &layer;
  }
  return nullptr;
}

absl::StatusOr<KerasModelConfig> ParseKerasModelConfig(
    const json& model_config) {
  try {
    return ParseModel(model_config);
  } catch (const json::exception& e) {
    // A backstop: the accessors above check types before reading values.
    return absl::InvalidArgumentError(
        absl::StrCat("model_config: malformed JSON value: ", e.what()));
  }
}

absl::StatusOr<KerasSignature> SynthesizeServingSignature(
    const KerasModelConfig& config, KerasOutputNames names) {
  try {
    return Synthesize(config, names);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_config: malformed JSON value: ", e.what()));
  }
}

}  // namespace swapserve
