// Keras model configs (+ .h5 weights) to a Plan: each layer becomes kernel steps
// (Dense/Conv2D with a bias as one fused step); see keras_plan.h.
#include "model/graph/keras_plan.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using json = nlohmann::json;
using tensorflow::NodeDef;

using AttrSetter = std::function<void(NodeDef&)>;

// Attribute setters for the synthesized nodes.
AttrSetter Ints(const std::string& name, std::vector<int64_t> v) {
  return [=](NodeDef& n) {
    auto* list = (*n.mutable_attr())[name].mutable_list();
    for (int64_t x : v) list->add_i(x);
  };
}
AttrSetter Str(const std::string& name, const std::string& v) {
  return [=](NodeDef& n) { (*n.mutable_attr())[name].set_s(v); };
}
AttrSetter Float(const std::string& name, float v) {
  return [=](NodeDef& n) { (*n.mutable_attr())[name].set_f(v); };
}
AttrSetter Bool(const std::string& name, bool v) {
  return [=](NodeDef& n) { (*n.mutable_attr())[name].set_b(v); };
}
AttrSetter Int(const std::string& name, int64_t v) {
  return [=](NodeDef& n) { (*n.mutable_attr())[name].set_i(v); };
}
AttrSetter Strs(const std::string& name, std::vector<std::string> v) {
  return [=](NodeDef& n) {
    auto* list = (*n.mutable_attr())[name].mutable_list();
    for (const std::string& x : v) list->add_s(x);
  };
}

// A layer with a bias becomes one fused step (_FusedMatMul / _FusedConv2D, as
// TensorFlow's grappler would make it): the bias, and a relu activation, are
// applied while the GEMM's output is still in cache. Other activations stay
// separate steps after a fused ["BiasAdd"].
std::vector<std::string> FusedOps(const std::string& activation) {
  if (activation == "relu") return {"BiasAdd", "Relu"};
  return {"BiasAdd"};
}

std::vector<int64_t> Pair(const json& config, const char* key, int64_t fallback) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return {fallback, fallback};
  if (it->is_number_integer()) return {it->get<int64_t>(), it->get<int64_t>()};
  if (it->is_array() && it->size() == 2 && (*it)[0].is_number_integer() &&
      (*it)[1].is_number_integer()) {
    return {(*it)[0].get<int64_t>(), (*it)[1].get<int64_t>()};
  }
  return {};
}

class KerasBuilder {
 public:
  KerasBuilder(const KerasModelConfig& config, const KerasWeightSource& source,
               KerasOutputNames names)
      : config_(config), source_(source), names_(names) {}
  absl::StatusOr<KerasPlan> Build();

 private:
  // A value and its inferred shape.
  struct Out {
    int value = -1;
    KerasShape shape;
  };
  static constexpr int kMaxNesting = 16;
  static bool IsModelClass(const std::string& cls) {
    return cls == "Sequential" || cls == "Functional" || cls == "Model";
  }
  // Builds `model`'s layers on `inputs` (its input_layers' values); weights are
  // looked up under `scope` (the source's name for where the model sits).
  absl::StatusOr<std::vector<Out>> Graph(const KerasModelConfig& model, const std::string& scope,
                                         const std::vector<Out>& inputs);
  // A layer that is itself a model (transfer learning's base, augmentation).
  absl::StatusOr<Out> Nested(const KerasLayerConfig& layer, const std::vector<int>& in,
                             const std::vector<KerasShape>& shapes);
  absl::Status Error(const KerasLayerConfig& layer, absl::string_view what) const {
    return absl::UnimplementedError(absl::StrCat(layer.class_name, " layer '", layer.name,
                                                 "': ", what, " (signature 'serving_default')"));
  }
  int NewValue(Plan::Value v) {
    values_.push_back(std::move(v));
    return static_cast<int>(values_.size()) - 1;
  }
  int Constant(Tensor t) { return NewValue({Plan::Value::kConstant, -1, std::move(t)}); }
  absl::StatusOr<int> Op(const std::string& op, const std::vector<int>& inputs,
                         const std::vector<AttrSetter>& attrs = {});
  absl::StatusOr<int> Weight(const KerasLayerConfig& layer, const std::string& attr);
  absl::StatusOr<int> Activation(const KerasLayerConfig& layer, const std::string& name, int x);
  absl::StatusOr<int> Layer(const KerasLayerConfig& layer, const std::vector<int>& in,
                            const std::vector<KerasShape>& shapes);
  absl::StatusOr<int> Dense(const KerasLayerConfig& layer, int x, const KerasShape& shape);
  absl::StatusOr<int> Conv(const KerasLayerConfig& layer, int x);
  absl::StatusOr<int> Pool(const KerasLayerConfig& layer, int x, const std::string& op);
  absl::StatusOr<int> BatchNorm(const KerasLayerConfig& layer, int x, const KerasShape& shape);

  const KerasModelConfig& config_;
  const KerasWeightSource& source_;
  const KerasOutputNames names_;
  const KerasModelConfig* model_ = nullptr;  // the model whose layers are being built
  std::string scope_;                        // and where its weights are
  int depth_ = 0;
  std::vector<std::unique_ptr<KerasModelConfig>> nested_;  // parsed nested models
  std::vector<Plan::Value> values_;
  std::vector<Plan::Step> steps_;
  std::vector<SlotSpec> slots_;
  std::vector<Tensor> slot_values_;
  std::map<int, DataType> dtype_of_;  // value -> dtype, for request inputs
  int next_node_ = 0;
};

absl::StatusOr<int> KerasBuilder::Op(const std::string& op, const std::vector<int>& inputs,
                                     const std::vector<AttrSetter>& attrs) {
  NodeDef def;
  def.set_op(op);
  def.set_name(absl::StrCat(op, "_", next_node_++));
  (*def.mutable_attr())["T"].set_type(tensorflow::DT_FLOAT);
  for (const AttrSetter& set : attrs) set(def);
  KernelFactory factory = KernelRegistry::Global().Find(op);
  if (factory == nullptr) return absl::UnimplementedError("no kernel for op " + op);
  NodeAttrs node(def);
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel,
                   factory(KernelContext{node, static_cast<int>(inputs.size())}));
  Plan::Step step;
  step.node = def.name();
  step.kernel = std::move(kernel);
  step.inputs = inputs;
  const int out = NewValue(Plan::Value{});
  step.outputs = {out};
  if (op == "FusedBatchNormV3") {
    for (int i = 0; i < 5; ++i) step.outputs.push_back(-1);
  }
  steps_.push_back(std::move(step));
  return out;
}

absl::StatusOr<int> KerasBuilder::Weight(const KerasLayerConfig& layer, const std::string& attr) {
  const size_t index = static_cast<size_t>(&layer - model_->layers.data());
  absl::StatusOr<KerasWeight> weight = source_.Find(*model_, index, attr, scope_);
  if (!weight.ok()) {
    return absl::Status(weight.status().code(),
                        absl::StrCat(weight.status().message(), " (signature 'serving_default')"));
  }
  SlotSpec spec;
  spec.variable = absl::StrCat(layer.name, "/", attr);
  spec.checkpoint_key = std::move(weight->key);
  spec.dtype = weight->value.dtype();
  spec.shape = weight->value.shape().dims();
  spec.shape_known = true;
  slots_.push_back(spec);
  slot_values_.push_back(std::move(weight->value));
  return NewValue({Plan::Value::kSlot, static_cast<int>(slots_.size()) - 1, Tensor()});
}

absl::StatusOr<int> KerasBuilder::Activation(const KerasLayerConfig& layer,
                                             const std::string& name, int x) {
  static const std::map<std::string, std::string> kUnary = {
      {"relu", "Relu"},   {"sigmoid", "Sigmoid"},   {"tanh", "Tanh"},
      {"softmax", "Softmax"}, {"elu", "Elu"},       {"selu", "Selu"},
      {"softplus", "Softplus"}, {"softsign", "Softsign"}, {"exponential", "Exp"}};
  if (name == "linear" || name.empty()) return x;
  if (auto it = kUnary.find(name); it != kUnary.end()) return Op(it->second, {x});
  auto scalar = [&](float v) {
    auto t = Tensor::Allocate(tensorflow::DT_FLOAT, TensorShape{});
    t->data<float>()[0] = v;
    return Constant(*t);
  };
  if (name == "swish" || name == "silu") {
    ASSIGN_OR_RETURN(int s, Op("Sigmoid", {x}));
    return Op("Mul", {x, s});
  }
  if (name == "hard_sigmoid") {  // Keras 2: clip(0.2 x + 0.5, 0, 1); Keras 3: x / 6
    const bool keras3 = absl::StartsWith(source_.keras_version(), "3.");
    ASSIGN_OR_RETURN(int a, Op("Mul", {x, scalar(keras3 ? 1.0f / 6.0f : 0.2f)}));
    ASSIGN_OR_RETURN(int b, Op("AddV2", {a, scalar(0.5f)}));
    ASSIGN_OR_RETURN(int c, Op("Maximum", {b, scalar(0.0f)}));
    return Op("Minimum", {c, scalar(1.0f)});
  }
  if (name == "gelu") {  // Keras default approximate=False: x/2 (1 + erf(x/sqrt 2))
    ASSIGN_OR_RETURN(int a, Op("Mul", {x, scalar(0.70710678118654752f)}));
    ASSIGN_OR_RETURN(int e, Op("Erf", {a}));
    ASSIGN_OR_RETURN(int b, Op("AddV2", {e, scalar(1.0f)}));
    ASSIGN_OR_RETURN(int c, Op("Mul", {b, scalar(0.5f)}));
    return Op("Mul", {x, c});
  }
  return Error(layer, absl::StrCat("unsupported activation '", name, "'"));
}

absl::StatusOr<int> KerasBuilder::Dense(const KerasLayerConfig& layer, int x,
                                        const KerasShape& shape) {
  if (shape && shape->size() != 2) {
    return Error(layer, "Dense on inputs of rank other than 2 is not supported");
  }
  ASSIGN_OR_RETURN(int kernel, Weight(layer, "kernel"));
  const std::string activation = layer.config.value("activation", "linear");
  if (layer.config.value("use_bias", true)) {
    ASSIGN_OR_RETURN(int bias, Weight(layer, "bias"));
    const std::vector<std::string> fused = FusedOps(activation);
    ASSIGN_OR_RETURN(int y, Op("_FusedMatMul", {x, kernel, bias},
                               {Strs("fused_ops", fused), Int("num_args", 1)}));
    return fused.size() == 2 ? y : Activation(layer, activation, y);
  }
  ASSIGN_OR_RETURN(int y, Op("MatMul", {x, kernel}));
  return Activation(layer, activation, y);
}

absl::StatusOr<int> KerasBuilder::Conv(const KerasLayerConfig& layer, int x) {
  const json& c = layer.config;
  if (c.value("data_format", "channels_last") != "channels_last") {
    return Error(layer, "only data_format channels_last is supported");
  }
  if (c.value("groups", 1) != 1) return Error(layer, "grouped convolution is not supported");
  const std::vector<int64_t> s = Pair(c, "strides", 1), d = Pair(c, "dilation_rate", 1);
  if (s.empty() || d.empty()) return Error(layer, "malformed strides or dilation_rate");
  ASSIGN_OR_RETURN(int kernel, Weight(layer, "kernel"));
  std::vector<AttrSetter> attrs = {
      Ints("strides", {1, s[0], s[1], 1}), Ints("dilations", {1, d[0], d[1], 1}),
      Str("padding", absl::AsciiStrToUpper(c.value("padding", "valid"))),
      Str("data_format", "NHWC")};
  const std::string activation = c.value("activation", "linear");
  if (c.value("use_bias", true)) {
    ASSIGN_OR_RETURN(int bias, Weight(layer, "bias"));
    const std::vector<std::string> fused = FusedOps(activation);
    attrs.push_back(Strs("fused_ops", fused));
    attrs.push_back(Int("num_args", 1));
    ASSIGN_OR_RETURN(int y, Op("_FusedConv2D", {x, kernel, bias}, attrs));
    return fused.size() == 2 ? y : Activation(layer, activation, y);
  }
  ASSIGN_OR_RETURN(int y, Op("Conv2D", {x, kernel}, attrs));
  return Activation(layer, activation, y);
}

absl::StatusOr<int> KerasBuilder::Pool(const KerasLayerConfig& layer, int x,
                                       const std::string& op) {
  const json& c = layer.config;
  if (c.value("data_format", "channels_last") != "channels_last") {
    return Error(layer, "only data_format channels_last is supported");
  }
  const std::vector<int64_t> k = Pair(c, "pool_size", 2);
  if (k.empty()) return Error(layer, "malformed pool_size");
  std::vector<int64_t> s = Pair(c, "strides", -1);
  if (s.empty()) return Error(layer, "malformed strides");
  if (s[0] < 0) s = k;
  return Op(op, {x}, {Ints("ksize", {1, k[0], k[1], 1}), Ints("strides", {1, s[0], s[1], 1}),
                      Str("padding", absl::AsciiStrToUpper(c.value("padding", "valid"))),
                      Str("data_format", "NHWC")});
}

absl::StatusOr<int> KerasBuilder::BatchNorm(const KerasLayerConfig& layer, int x,
                                            const KerasShape& shape) {
  const json& c = layer.config;
  json axis = c.value("axis", json(-1));
  if (axis.is_array() && axis.size() == 1) axis = axis[0];
  const bool last = axis.is_number_integer() &&
                    (axis.get<int>() == -1 ||
                     (shape && axis.get<int>() == static_cast<int>(shape->size()) - 1));
  if (!last) return Error(layer, "only normalization over the last axis is supported");
  ASSIGN_OR_RETURN(int mean, Weight(layer, "moving_mean"));
  ASSIGN_OR_RETURN(int var, Weight(layer, "moving_variance"));
  auto eps = Tensor::Allocate(tensorflow::DT_FLOAT, TensorShape{});
  eps->data<float>()[0] = c.value("epsilon", 1e-3f);
  ASSIGN_OR_RETURN(int v, Op("AddV2", {var, Constant(*eps)}));
  ASSIGN_OR_RETURN(int scale, Op("Rsqrt", {v}));
  if (c.value("scale", true)) {
    ASSIGN_OR_RETURN(int gamma, Weight(layer, "gamma"));
    ASSIGN_OR_RETURN(scale, Op("Mul", {scale, gamma}));
  }
  ASSIGN_OR_RETURN(int centered, Op("Sub", {x, mean}));
  ASSIGN_OR_RETURN(int y, Op("Mul", {centered, scale}));
  if (c.value("center", true)) {
    ASSIGN_OR_RETURN(int beta, Weight(layer, "beta"));
    ASSIGN_OR_RETURN(y, Op("AddV2", {y, beta}));
  }
  return y;
}

absl::StatusOr<int> KerasBuilder::Layer(const KerasLayerConfig& layer,
                                        const std::vector<int>& in,
                                        const std::vector<KerasShape>& shapes) {
  const std::string& cls = layer.class_name;
  const json& c = layer.config;
  if (in.empty()) return Error(layer, "called without inputs");
  const int x = in[0];
  if (cls == "Dense") return Dense(layer, x, shapes[0]);
  if (cls == "Dropout" || cls == "SpatialDropout2D" || cls == "GaussianNoise" ||
      cls == "GaussianDropout" || cls == "AlphaDropout" || cls == "ActivityRegularization") {
    return x;  // identity at inference
  }
  if (cls == "Activation") return Activation(layer, c.value("activation", "linear"), x);
  if (cls == "Conv2D" || cls == "Convolution2D") return Conv(layer, x);
  if (cls == "MaxPooling2D" || cls == "MaxPool2D") return Pool(layer, x, "MaxPool");
  if (cls == "AveragePooling2D" || cls == "AvgPool2D") return Pool(layer, x, "AvgPool");
  if (cls == "BatchNormalization") return BatchNorm(layer, x, shapes[0]);
  auto int_vector = [&](std::vector<int32_t> v) {
    auto t = Tensor::Allocate(tensorflow::DT_INT32, TensorShape{static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), t->data<int32_t>());
    return Constant(*t);
  };
  if (cls == "GlobalAveragePooling2D" || cls == "GlobalMaxPooling2D") {
    if (c.value("data_format", "channels_last") != "channels_last") {
      return Error(layer, "only data_format channels_last is supported");
    }
    return Op(cls == "GlobalMaxPooling2D" ? "Max" : "Mean", {x, int_vector({1, 2})},
              {Bool("keep_dims", c.value("keepdims", false))});
  }
  if (cls == "Flatten" || cls == "Reshape") {
    std::vector<int32_t> target = {-1};
    if (cls == "Flatten") {
      int64_t n = 1;
      if (!shapes[0]) return Error(layer, "input shape unknown");
      for (size_t i = 1; i < shapes[0]->size(); ++i) {
        const int64_t d = (*shapes[0])[i];
        if (d < 0) return Error(layer, "input shape not fully known");
        if (d != 0 && n > INT32_MAX / d) return Error(layer, "input too large to flatten");
        n *= d;
      }
      target.push_back(static_cast<int32_t>(n));
    } else {
      for (const json& d : c.value("target_shape", json::array())) target.push_back(d.get<int32_t>());
    }
    return Op("Reshape", {x, int_vector(target)});
  }
  if (cls == "Softmax") {
    const json axis = c.value("axis", json(-1));
    if (!(axis.is_number_integer() && axis.get<int>() == -1)) {
      return Error(layer, "only softmax over the last axis is supported");
    }
    return Op("Softmax", {x});
  }
  if (cls == "ReLU") {
    const json max_value = c.value("max_value", json());
    const float slope = c.value("negative_slope", 0.0f), threshold = c.value("threshold", 0.0f);
    if (slope != 0.0f || threshold != 0.0f) return Error(layer, "negative_slope/threshold");
    if (max_value.is_null()) return Op("Relu", {x});
    if (max_value.is_number() && max_value.get<float>() == 6.0f) return Op("Relu6", {x});
    return Error(layer, "max_value other than 6");
  }
  if (cls == "LeakyReLU") {  // Keras 2 writes "alpha", Keras 3 "negative_slope"
    const float alpha = c.contains("negative_slope") ? c["negative_slope"].get<float>()
                                                     : c.value("alpha", 0.3f);
    return Op("LeakyRelu", {x}, {Float("alpha", alpha)});
  }
  if (cls == "ELU" && c.value("alpha", 1.0f) == 1.0f) return Op("Elu", {x});
  if (cls == "Add") {
    int y = x;
    for (size_t i = 1; i < in.size(); ++i) {
      ASSIGN_OR_RETURN(y, Op("AddV2", {y, in[i]}));
    }
    return y;
  }
  if (cls == "Concatenate") {
    std::vector<int> args = in;
    args.push_back(int_vector({c.value("axis", -1)}));
    auto n = static_cast<int64_t>(in.size());
    return Op("ConcatV2", args, {[n](NodeDef& d) { (*d.mutable_attr())["N"].set_i(n); }});
  }
  if (cls == "Embedding") {
    ASSIGN_OR_RETURN(int table, Weight(layer, "embeddings"));
    // Ids arrive as the model input's dtype (float unless the Input says int).
    const DataType src = dtype_of_.contains(x) ? dtype_of_.at(x) : tensorflow::DT_FLOAT;
    int ids = x;
    if (src != tensorflow::DT_INT32 && src != tensorflow::DT_INT64) {
      ASSIGN_OR_RETURN(ids, Op("Cast", {x}, {[src](NodeDef& d) {
        (*d.mutable_attr())["SrcT"].set_type(src);
        (*d.mutable_attr())["DstT"].set_type(tensorflow::DT_INT32);
      }}));
    }
    return Op("GatherV2", {table, ids, int_vector({0})});
  }
  return Error(layer, "unsupported layer");
}

absl::StatusOr<std::vector<KerasBuilder::Out>> KerasBuilder::Graph(
    const KerasModelConfig& model, const std::string& scope, const std::vector<Out>& inputs) {
  if (++depth_ > kMaxNesting) {
    return absl::InvalidArgumentError(
        absl::StrCat("models nested deeper than ", kMaxNesting, " levels"));
  }
  if (model.input_layers.size() != inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", model.name, "' has ", model.input_layers.size(), " inputs, called with ",
        inputs.size()));
  }
  const KerasModelConfig* const outer_model = model_;
  const std::string outer_scope = scope_;
  model_ = &model;
  scope_ = scope;
  std::map<std::tuple<std::string, int, int>, Out> out_of;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const KerasTensorRef& ref = model.input_layers[i];
    out_of[{ref.layer, ref.node_index, ref.tensor_index}] = inputs[i];
  }
  // Layers in an order where each call's inputs exist (the config lists them so).
  bool progress = true;
  std::set<std::pair<std::string, int>> done;
  while (progress) {
    progress = false;
    for (const KerasLayerConfig& layer : model.layers) {
      for (size_t k = 0; k < layer.inbound_nodes.size(); ++k) {
        if (done.contains({layer.name, static_cast<int>(k)})) continue;
        std::vector<int> in;
        std::vector<KerasShape> shapes;
        for (const KerasTensorRef& r : layer.inbound_nodes[k].inputs) {
          auto it = out_of.find({r.layer, r.node_index, r.tensor_index});
          if (it == out_of.end()) break;
          in.push_back(it->second.value);
          shapes.push_back(it->second.shape);
        }
        if (in.size() != layer.inbound_nodes[k].inputs.size()) continue;
        Out out;
        if (IsModelClass(layer.class_name)) {
          ASSIGN_OR_RETURN(out, Nested(layer, in, shapes));
        } else {
          ASSIGN_OR_RETURN(out.value, Layer(layer, in, shapes));
          absl::StatusOr<KerasShape> shape =
              InferKerasOutputShape(layer.class_name, layer.config, shapes);
          out.shape = shape.ok() ? *shape : KerasShape();
        }
        out_of[{layer.name, static_cast<int>(k), 0}] = out;
        done.insert({layer.name, static_cast<int>(k)});
        progress = true;
      }
    }
  }
  std::vector<Out> outputs;
  for (const KerasTensorRef& ref : model.output_layers) {
    auto it = out_of.find({ref.layer, ref.node_index, ref.tensor_index});
    if (it == out_of.end()) {
      return absl::InvalidArgumentError(absl::StrCat("model output '", ref.layer,
                                                     "' is not reachable from its inputs"));
    }
    outputs.push_back(it->second);
  }
  model_ = outer_model;
  scope_ = outer_scope;
  --depth_;
  return outputs;
}

absl::StatusOr<KerasBuilder::Out> KerasBuilder::Nested(const KerasLayerConfig& layer,
                                                       const std::vector<int>& in,
                                                       const std::vector<KerasShape>& shapes) {
  absl::StatusOr<KerasModelConfig> inner =
      ParseKerasModelConfig({{"class_name", layer.class_name}, {"config", layer.config}});
  if (!inner.ok()) {
    return absl::Status(inner.status().code(), absl::StrCat("nested model '", layer.name, "': ",
                                                            inner.status().message()));
  }
  nested_.push_back(std::make_unique<KerasModelConfig>(*std::move(inner)));
  const KerasModelConfig& model = *nested_.back();
  const size_t index = static_cast<size_t>(&layer - model_->layers.data());
  ASSIGN_OR_RETURN(std::string scope, source_.NestedScope(*model_, index, scope_));
  std::vector<Out> inputs;
  for (size_t i = 0; i < in.size(); ++i) inputs.push_back({in[i], shapes[i]});
  ASSIGN_OR_RETURN(std::vector<Out> outputs, Graph(model, scope, inputs));
  if (outputs.size() != 1) {
    return Error(layer, absl::StrCat("a nested model with ", outputs.size(),
                                     " outputs is not supported (only one)"));
  }
  return outputs[0];
}

absl::StatusOr<KerasPlan> KerasBuilder::Build() {
  ASSIGN_OR_RETURN(KerasSignature signature, SynthesizeServingSignature(config_, names_));
  std::vector<PlanTensor> inputs, outputs;
  std::vector<Out> graph_inputs;
  for (size_t i = 0; i < config_.input_layers.size(); ++i) {
    const KerasTensorSpec& spec = signature.inputs[i];
    PlanTensor t{spec.name, absl::StrCat("serving_default_", spec.name, ":0"), spec.dtype,
                 spec.shape.value_or(std::vector<int64_t>{}), spec.shape.has_value(), -1};
    t.value = NewValue({Plan::Value::kInput, static_cast<int>(i), Tensor()});
    dtype_of_[t.value] = spec.dtype;
    graph_inputs.push_back({t.value, spec.shape});
    inputs.push_back(std::move(t));
  }
  ASSIGN_OR_RETURN(std::vector<Out> graph_outputs, Graph(config_, "", graph_inputs));
  for (size_t i = 0; i < graph_outputs.size(); ++i) {
    const KerasTensorSpec& spec = signature.outputs[i];
    // Past a nested model the signature's inference knows no shape; the build does.
    const KerasShape& shape = spec.shape ? spec.shape : graph_outputs[i].shape;
    outputs.push_back(PlanTensor{spec.name, absl::StrCat("StatefulPartitionedCall:", i),
                                 spec.dtype, shape.value_or(std::vector<int64_t>{}),
                                 shape.has_value(), graph_outputs[i].value});
  }
  KerasPlan result;
  result.slots = slots_;
  result.weights = std::make_shared<const WeightSet>(std::move(slot_values_), source_.path());
  result.plan = std::make_unique<Plan>("serving_default", "tensorflow/serving/predict",
                                       std::move(inputs), std::move(outputs),
                                       std::move(values_), std::move(steps_));
  return result;
}

}  // namespace

absl::StatusOr<KerasPlan> BuildKerasPlan(const KerasModelConfig& config,
                                         const KerasWeightSource& source,
                                         KerasOutputNames names) {
  // Layer configs come from the file: a value of the wrong JSON type makes
  // nlohmann throw, which must become an error, never escape.
  try {
    return KerasBuilder(config, source, names).Build();
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.path(), ": malformed layer config: ", e.what()));
  }
}

absl::StatusOr<KerasPlan> BuildKerasPlan(const KerasModelConfig& config,
                                         const KerasH5File& file) {
  return BuildKerasPlan(config, *LegacyH5WeightSource(config, file), KerasOutputNames::kLayerNames);
}

}  // namespace swapserve
