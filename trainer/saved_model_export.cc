// SavedModel export of a ModelSpec (see the header for the contract).
//
// Graph choice: resource variables (VarHandleOp / ReadVariableOp /
// AssignVariableOp), not VariableV2. Resource variables are what TF2 and TF1 Keras
// have created by default since TF 2.0; `tf.saved_model.load` lifts them out of
// the imported graph into eager variables (ref variables are deprecated and
// need conversion), TF Serving runs both, and our restore_map / plan_builder read
// both. The graph has no function library: a flat TF1-style graph is the
// smallest form both TF loaders accept, and what our FlatGraph needs no inlining for.
//
// Node names follow TF1 Keras: "<layer>/kernel" (VarHandleOp), "<layer>/MatMul",
// "<layer>/BiasAdd", "<layer>/Relu", ...; the saver is TF1's unsharded
// `tf.compat.v1.train.Saver(sharded=False)` under "save/".
#include "trainer/saved_model_export.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/formats/bundle_writer.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"
#include "tensorflow/core/framework/variable.pb.h"
#include "trainer/graph_def_builder.h"

namespace swapserve::trainer {
namespace {

using Kind = LayerSpec::Kind;
using Dims = std::vector<int64_t>;

constexpr char kCpu[] = "/device:CPU:0";
constexpr tensorflow::DataType kFloat = tensorflow::DT_FLOAT;

std::string DimsString(const Dims& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

// A weight the spec needs: its checkpoint key, the layer it belongs to and shape.
struct WeightSpec {
  std::string key;    // WeightKey(n, what)
  std::string layer;  // "dense"
  std::string what;   // "kernel" or "bias"
  Dims shape;
};

// Per layer: the activation shape (without the batch) it takes and produces.
struct LayerShapes {
  Dims in, out;
};

absl::Status LayerError(const LayerSpec& layer, const Dims& in, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("layer '", layer.name, "' on input ", DimsString(in), ": ", why));
}

// The output shape of one layer, or why the layer cannot take `in`.
absl::StatusOr<Dims> OutputShape(const LayerSpec& layer, const Dims& in) {
  switch (layer.kind) {
    case Kind::kDense:
      if (in.size() != 1) return LayerError(layer, in, "Dense needs a flat input (Flatten first)");
      if (layer.units <= 0) return LayerError(layer, in, "units must be positive");
      return Dims{layer.units};
    case Kind::kConv2D: {
      if (in.size() != 3) return LayerError(layer, in, "Conv2D needs an [H,W,C] input");
      if (layer.units <= 0 || layer.kernel <= 0 || in[0] < layer.kernel || in[1] < layer.kernel) {
        return LayerError(layer, in,
                          absl::StrCat("cannot apply ", layer.units, " filters of ", layer.kernel,
                                       "x", layer.kernel, " (VALID)"));
      }
      return Dims{in[0] - layer.kernel + 1, in[1] - layer.kernel + 1, layer.units};
    }
    case Kind::kMaxPool2D:
      if (in.size() != 3 || layer.pool <= 0 || in[0] < layer.pool || in[1] < layer.pool) {
        return LayerError(layer, in, absl::StrCat("cannot pool ", layer.pool, "x", layer.pool));
      }
      // VALID padding, stride = pool: TF's floor((in - pool) / stride) + 1.
      return Dims{(in[0] - layer.pool) / layer.pool + 1, (in[1] - layer.pool) / layer.pool + 1,
                  in[2]};
    case Kind::kFlatten: {
      int64_t n = 1;
      for (int64_t d : in) n *= d;
      return Dims{n};
    }
    case Kind::kDropout:
      return in;
  }
  return LayerError(layer, in, "unknown layer kind");
}

absl::StatusOr<std::vector<LayerShapes>> InferShapes(const ModelSpec& spec) {
  if (spec.layers.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", spec.name, "' has no layers"));
  }
  std::vector<LayerShapes> shapes;
  Dims current = spec.input_shape;
  for (const LayerSpec& layer : spec.layers) {
    ASSIGN_OR_RETURN(Dims out, OutputShape(layer, current));
    shapes.push_back({current, out});
    current = std::move(out);
  }
  return shapes;
}

// The weights, in layer order: kernel then bias of each layer with weights,
// numbered the way Keras numbers `layer_with_weights-N`.
std::vector<WeightSpec> ExpectedWeights(const ModelSpec& spec,
                                        const std::vector<LayerShapes>& shapes) {
  std::vector<WeightSpec> out;
  int n = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (!l.has_weights()) continue;
    const Dims& in = shapes[i].in;
    const Dims kernel =
        l.kind == Kind::kDense ? Dims{in[0], l.units} : Dims{l.kernel, l.kernel, in[2], l.units};
    out.push_back({WeightKey(n, "kernel"), l.name, "kernel", kernel});
    out.push_back({WeightKey(n, "bias"), l.name, "bias", Dims{l.units}});
    ++n;
  }
  return out;
}

// Every expected weight present as DT_FLOAT of its shape, and nothing else.
absl::Status CheckWeights(const std::string& model, const std::vector<WeightSpec>& expected,
                          const std::map<std::string, Tensor>& weights) {
  for (const WeightSpec& w : expected) {
    const std::string what = absl::StrCat("weight '", w.key, "' (", w.layer, " ", w.what, ")");
    auto it = weights.find(w.key);
    if (it == weights.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is missing; expected DT_FLOAT", DimsString(w.shape)));
    }
    const Tensor& t = it->second;
    if (t.dtype() != kFloat || t.shape().dims() != w.shape) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is ", t.DebugString(), "; expected DT_FLOAT", DimsString(w.shape)));
    }
  }
  if (weights.size() != expected.size()) {
    for (const auto& [key, t] : weights) {
      const bool known = std::any_of(expected.begin(), expected.end(),
                                     [&](const WeightSpec& w) { return w.key == key; });
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("weight '", key, "' is not a weight of model '", model, "', whose ",
                         expected.size(), " weights are layer_with_weights-N/{kernel,bias}"));
      }
    }
  }
  return absl::OkStatus();
}

// A variable as the saver and the collections need it.
struct Variable {
  std::string key;          // checkpoint key
  std::string handle;       // VarHandleOp node
  std::string initializer;  // AssignVariableOp from the initial value
  std::string initial_value;
  std::string snapshot;  // ReadVariableOp node (what SaveV2 saves)
};

// Emits the graph for a spec: input, layers, variables, saver.
class GraphEmitter {
 public:
  explicit GraphEmitter(tensorflow::GraphDef* graph) : g_(graph) {}

  // Returns the output tensor name of the last layer. `shapes` and `weights`
  // come from InferShapes / ExpectedWeights, so every layer is known to fit.
  std::string EmitLayers(const ModelSpec& spec, const std::vector<LayerShapes>& shapes,
                         const std::vector<WeightSpec>& weights);
  tensorflow::SaverDef EmitSaver();
  void AddCollections(tensorflow::MetaGraphDef* mg) const;

 private:
  void EmitNameConsts(const std::string& op, const std::vector<Variable>& vars);
  void EmitSave(const std::vector<Variable>& vars);
  void EmitRestore(const std::vector<Variable>& vars);
  std::string EmitVariable(const WeightSpec& w);
  std::string Read(const std::string& layer_op, const std::string& handle);
  std::string EmitWeighted(const LayerSpec& l, const std::string& x, const std::string& kernel,
                           const std::string& bias);
  std::string EmitUnweighted(const LayerSpec& l, const LayerShapes& s, const std::string& x);

  GraphDefBuilder g_;
  std::vector<Variable> variables_;
};

std::string GraphEmitter::EmitVariable(const WeightSpec& w) {
  const std::string name = absl::StrCat(w.layer, "/", w.what);
  // Zeros, not Keras's glorot_uniform: the initial value only matters to someone
  // running the initializer instead of restoring, and Fill keeps saved_model.pb
  // small (no weight-sized constant).
  const std::string init = name + "/Initializer/zeros";
  g_.Int32Const(init + "/shape_as_tensor", w.shape);
  g_.FloatScalarConst(init + "/Const", 0.0f);
  g_.Node(init, "Fill")
      .Input(init + "/shape_as_tensor")
      .Input(init + "/Const")
      .Type("T", kFloat)
      .Type("index_type", tensorflow::DT_INT32);
  g_.Node(name, "VarHandleOp")
      .String("container", "")
      .String("shared_name", name)
      .Type("dtype", kFloat)
      .Shape("shape", w.shape);
  g_.Node(name + "/Assign", "AssignVariableOp").Input(name).Input(init).Type("dtype", kFloat);
  g_.Node(name + "/Read/ReadVariableOp", "ReadVariableOp").Input(name).Type("dtype", kFloat);
  variables_.push_back(
      {w.key, name, name + "/Assign", Output0(init), name + "/Read/ReadVariableOp"});
  return name;
}

// The per-use read Keras emits ("dense/MatMul/ReadVariableOp").
std::string GraphEmitter::Read(const std::string& layer_op, const std::string& handle) {
  const std::string name = layer_op + "/ReadVariableOp";
  g_.Node(name, "ReadVariableOp").Input(handle).Type("dtype", kFloat);
  return name;
}

std::string GraphEmitter::EmitWeighted(const LayerSpec& l, const std::string& x,
                                       const std::string& kernel, const std::string& bias) {
  std::string y;
  if (l.kind == Kind::kDense) {
    y = l.name + "/MatMul";
    const std::string w = Read(y, kernel);
    g_.Node(y, "MatMul")
        .Input(x)
        .Input(w)
        .Type("T", kFloat)
        .Bool("transpose_a", false)
        .Bool("transpose_b", false);
  } else {
    y = l.name + "/Conv2D";
    const std::string w = Read(y, kernel);
    g_.Node(y, "Conv2D")
        .Input(x)
        .Input(w)
        .Type("T", kFloat)
        .IntList("strides", {1, 1, 1, 1})
        .String("padding", "VALID")
        .String("data_format", "NHWC")
        .IntList("dilations", {1, 1, 1, 1})
        .Bool("use_cudnn_on_gpu", true)
        .IntList("explicit_paddings", {});
  }
  const std::string add = l.name + "/BiasAdd";
  const std::string b = Read(add, bias);
  g_.Node(add, "BiasAdd").Input(y).Input(b).Type("T", kFloat).String("data_format", "NHWC");
  if (!l.relu) return add;
  g_.Node(l.name + "/Relu", "Relu").Input(add).Type("T", kFloat);
  return l.name + "/Relu";
}

std::string GraphEmitter::EmitUnweighted(const LayerSpec& l, const LayerShapes& s,
                                         const std::string& x) {
  switch (l.kind) {
    case Kind::kMaxPool2D:
      g_.Node(l.name + "/MaxPool", "MaxPool")
          .Input(x)
          .Type("T", kFloat)
          .IntList("ksize", {1, l.pool, l.pool, 1})
          .IntList("strides", {1, l.pool, l.pool, 1})
          .String("padding", "VALID")
          .String("data_format", "NHWC");
      return l.name + "/MaxPool";
    case Kind::kFlatten:
      // Keras's Flatten: Reshape to [-1, H*W*C], row-major over H, W, C.
      g_.Int32Const(l.name + "/Const", {-1, s.out[0]});
      g_.Node(l.name + "/Reshape", "Reshape")
          .Input(x)
          .Input(l.name + "/Const")
          .Type("T", kFloat)
          .Type("Tshape", tensorflow::DT_INT32);
      return l.name + "/Reshape";
    default:  // Dropout: the identity at inference, as Keras exports it
      g_.Node(l.name + "/Identity", "Identity").Input(x).Type("T", kFloat);
      return l.name + "/Identity";
  }
}

std::string GraphEmitter::EmitLayers(const ModelSpec& spec, const std::vector<LayerShapes>& shapes,
                                     const std::vector<WeightSpec>& weights) {
  Dims input{-1};
  input.insert(input.end(), spec.input_shape.begin(), spec.input_shape.end());
  std::string x = spec.input_name();
  g_.Node(x, "Placeholder").Type("dtype", kFloat).Shape("shape", input);
  size_t w = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (!l.has_weights()) {
      x = EmitUnweighted(l, shapes[i], x);
      continue;
    }
    const std::string kernel = EmitVariable(weights[w]);
    const std::string bias = EmitVariable(weights[w + 1]);
    w += 2;
    x = EmitWeighted(l, x, kernel, bias);
  }
  return Output0(x);
}

// TF1's unsharded V2 Saver: SaveV2 / RestoreV2 on the prefix fed to save/Const.
tensorflow::SaverDef GraphEmitter::EmitSaver() {
  // Checkpoint keys in sorted order, as TF's Saver lists them.
  std::vector<Variable> vars = variables_;
  std::sort(vars.begin(), vars.end(),
            [](const Variable& a, const Variable& b) { return a.key < b.key; });
  g_.StringConst("save/filename/input", {"model"}, /*scalar=*/true);
  g_.Node("save/filename", "PlaceholderWithDefault")
      .Input("save/filename/input")
      .Type("dtype", tensorflow::DT_STRING)
      .Shape("shape", {});
  g_.Node("save/Const", "PlaceholderWithDefault")
      .Input("save/filename")
      .Type("dtype", tensorflow::DT_STRING)
      .Shape("shape", {});
  EmitSave(vars);
  EmitRestore(vars);

  tensorflow::SaverDef saver;
  saver.set_filename_tensor_name("save/Const:0");
  saver.set_save_tensor_name("save/control_dependency:0");
  saver.set_restore_op_name("save/restore_all");
  saver.set_max_to_keep(5);
  saver.set_sharded(false);
  saver.set_keep_checkpoint_every_n_hours(10000);
  saver.set_version(tensorflow::SaverDef::V2);
  return saver;
}

// Writes `tensor_names` and `shape_and_slices` (whole tensors: empty strings) under
// `op`, the inputs SaveV2 and RestoreV2 take after the prefix.
void GraphEmitter::EmitNameConsts(const std::string& op, const std::vector<Variable>& vars) {
  std::vector<std::string> keys;
  for (const Variable& v : vars) keys.push_back(v.key);
  g_.StringConst(op + "/tensor_names", keys).Device(kCpu);
  g_.StringConst(op + "/shape_and_slices", std::vector<std::string>(vars.size())).Device(kCpu);
}

void GraphEmitter::EmitSave(const std::vector<Variable>& vars) {
  EmitNameConsts("save/SaveV2", vars);
  NodeBuilder save = g_.Node("save/SaveV2", "SaveV2");
  save.Input("save/Const").Input("save/SaveV2/tensor_names").Input("save/SaveV2/shape_and_slices");
  for (const Variable& v : vars) save.Input(v.snapshot);
  save.TypeList("dtypes", std::vector<tensorflow::DataType>(vars.size(), kFloat)).Device(kCpu);
  g_.Node("save/control_dependency", "Identity")
      .Input("save/Const")
      .Input("^save/SaveV2")
      .Type("T", tensorflow::DT_STRING)
      .Device(kCpu);
}

void GraphEmitter::EmitRestore(const std::vector<Variable>& vars) {
  EmitNameConsts("save/RestoreV2", vars);
  g_.Node("save/RestoreV2", "RestoreV2")
      .Input("save/Const")
      .Input("save/RestoreV2/tensor_names")
      .Input("save/RestoreV2/shape_and_slices")
      .TypeList("dtypes", std::vector<tensorflow::DataType>(vars.size(), kFloat))
      .Device(kCpu);
  // Output i of RestoreV2 is the tensor named vars[i].key: this pairing is what
  // restore_map (and TF's Saver) read to know which key fills which variable.
  std::vector<std::string> assigns;
  for (size_t i = 0; i < vars.size(); ++i) {
    const std::string suffix = i == 0 ? "" : absl::StrCat("_", i);
    g_.Node("save/Identity" + suffix, "Identity")
        .Input(absl::StrCat("save/RestoreV2:", i))
        .Type("T", kFloat);
    g_.Node("save/AssignVariableOp" + suffix, "AssignVariableOp")
        .Input(vars[i].handle)
        .Input("save/Identity" + suffix)
        .Type("dtype", kFloat);
    assigns.push_back("^save/AssignVariableOp" + suffix);
  }
  NodeBuilder restore_all = g_.Node("save/restore_all", "NoOp");
  for (const std::string& a : assigns) restore_all.Input(a);
  restore_all.Device(kCpu);
}

// The "variables" / "trainable_variables" collections: import_meta_graph turns
// these VariableDefs back into Python variables, which tf.saved_model.load lifts
// out of the graph and the TF1 loader's Saver restores.
void GraphEmitter::AddCollections(tensorflow::MetaGraphDef* mg) const {
  auto* all = (*mg->mutable_collection_def())["variables"].mutable_bytes_list();
  auto* trainable = (*mg->mutable_collection_def())["trainable_variables"].mutable_bytes_list();
  for (const Variable& v : variables_) {
    tensorflow::VariableDef def;
    def.set_variable_name(Output0(v.handle));
    def.set_initial_value_name(v.initial_value);
    def.set_initializer_name(v.initializer);
    def.set_snapshot_name(Output0(v.snapshot));
    def.set_is_resource(true);
    def.set_trainable(true);
    const std::string bytes = def.SerializeAsString();
    all->add_value(bytes);
    trainable->add_value(bytes);
  }
}

tensorflow::SignatureDef ServingSignature(const ModelSpec& spec, const std::string& output,
                                          const Dims& output_shape) {
  tensorflow::SignatureDef sig;
  sig.set_method_name("tensorflow/serving/predict");
  auto fill = [](const std::string& name, const Dims& dims, tensorflow::TensorInfo* info) {
    info->set_name(name);
    info->set_dtype(kFloat);
    info->mutable_tensor_shape()->add_dim()->set_size(-1);  // any batch
    for (int64_t d : dims) info->mutable_tensor_shape()->add_dim()->set_size(d);
  };
  fill(Output0(spec.input_name()), spec.input_shape, &(*sig.mutable_inputs())[spec.input_name()]);
  fill(output, output_shape, &(*sig.mutable_outputs())[spec.output_name()]);
  return sig;
}

}  // namespace

absl::StatusOr<tensorflow::SavedModel> BuildSavedModelProto(
    const ModelSpec& spec, const std::map<std::string, Tensor>& weights) {
  ASSIGN_OR_RETURN(std::vector<LayerShapes> shapes, InferShapes(spec));
  const std::vector<WeightSpec> expected = ExpectedWeights(spec, shapes);
  RETURN_IF_ERROR(CheckWeights(spec.name, expected, weights));

  tensorflow::SavedModel saved_model;
  saved_model.set_saved_model_schema_version(1);
  tensorflow::MetaGraphDef* mg = saved_model.add_meta_graphs();
  tensorflow::MetaGraphDef::MetaInfoDef* info = mg->mutable_meta_info_def();
  info->add_tags("serve");
  info->set_tensorflow_version(kExportTensorflowVersion);
  info->set_tensorflow_git_version("unknown");
  mg->mutable_graph_def()->mutable_versions()->set_producer(kExportGraphProducer);

  GraphEmitter emitter(mg->mutable_graph_def());
  const std::string output = emitter.EmitLayers(spec, shapes, expected);
  *mg->mutable_saver_def() = emitter.EmitSaver();
  emitter.AddCollections(mg);
  (*mg->mutable_signature_def())["serving_default"] =
      ServingSignature(spec, output, shapes.back().out);
  return saved_model;
}

namespace {

namespace fs = std::filesystem;

absl::Status FsError(absl::string_view what, const fs::path& path, const std::error_code& ec) {
  return absl::InternalError(absl::StrCat(what, " ", path.string(), ": ", ec.message()));
}

// Writes the variables bundle, then saved_model.pb, into `dir` (which exists).
absl::Status WriteContents(const tensorflow::SavedModel& saved_model,
                           const std::map<std::string, Tensor>& weights, const fs::path& dir) {
  std::error_code ec;
  if (!fs::create_directory(dir / "variables", ec) || ec) {
    return FsError("cannot create", dir / "variables", ec);
  }
  // std::map iterates in key order: the data file is laid out the way TF's
  // SaveV2 writes it (sorted names).
  BundleWriter writer((dir / "variables" / "variables").string());
  for (const auto& [key, tensor] : weights) RETURN_IF_ERROR(writer.Add(key, tensor));
  RETURN_IF_ERROR(writer.Finish());
  std::string bytes;
  if (!saved_model.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("cannot serialize the SavedModel for ", dir.string()));
  }
  // Also fsyncs `dir`, making the variables/ entry durable with it.
  return WriteFileAtomically((dir / "saved_model.pb").string(), bytes);
}

}  // namespace

absl::Status ExportSavedModel(const ModelSpec& spec, const std::map<std::string, Tensor>& weights,
                              const std::string& dir) {
  // Validates the weights before anything touches the disk.
  ASSIGN_OR_RETURN(tensorflow::SavedModel saved_model, BuildSavedModelProto(spec, weights));
  fs::path target = fs::path(dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "dir/"
  std::error_code ec;
  if (fs::exists(target, ec) && !fs::is_empty(target, ec)) {
    // Like TF's SavedModelBuilder: never write into an export that may be
    // served (a version directory under a TF Serving base path).
    return absl::AlreadyExistsError(
        absl::StrCat("export directory ", target.string(), " already exists and is not empty"));
  }
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (fs::create_directories(parent, ec); ec) return FsError("cannot create", parent, ec);
  // Everything goes into a hidden sibling that is renamed into place at the end,
  // so a model server polling the parent never sees a half-written export (a
  // non-numeric name is never taken for a version either).
  const fs::path tmp = parent / absl::StrCat(".", target.filename().string(), ".tmp-", ::getpid());
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec) || ec) return FsError("cannot create", tmp, ec);
  absl::Status s = WriteContents(saved_model, weights, tmp);
  if (s.ok()) s = SyncAndRename(tmp.string(), target.string());
  if (!s.ok()) fs::remove_all(tmp, ec);
  return s;
}

}  // namespace swapserve::trainer
