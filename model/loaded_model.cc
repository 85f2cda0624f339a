#include "model/loaded_model.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/formats/bundle_format.h"
#include "model/formats/checkpoint_dir.h"
#include "model/formats/checkpoint_state.h"
#include "model/formats/model_path.h"
#include "model/formats/saved_model.h"
#include "model/formats/keras_config.h"
#include "model/formats/keras_archive.h"
#include "model/formats/keras_h5.h"
#include "model/formats/keras_weights_h5.h"
#include "model/graph/flat_graph.h"
#include "model/graph/keras_plan.h"
#include "model/graph/plan_builder.h"
#include "model/graph/restore_map.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

constexpr char kInitOpSignature[] = "__saved_model_init_op";

// Builds every signature's plan, assigning slots to the variables they read.
absl::Status BuildPlans(const SavedModelInfo& info, LoadedModel* model) {
  const tensorflow::MetaGraphDef& mg = info.meta_graph;
  ASSIGN_OR_RETURN(std::unique_ptr<FlatGraph> graph, FlatGraph::Create(mg.graph_def()));
  std::map<std::string, SlotSpec> restored;
  if (!mg.saver_def().restore_op_name().empty()) {
    ASSIGN_OR_RETURN(restored, ReadRestoreMap(*graph, mg.saver_def()));
  }
  std::map<std::string, int> slot_of;
  SlotResolver resolver = [&](const tensorflow::NodeDef& var) -> absl::StatusOr<int> {
    const std::string name = VariableName(var);
    if (auto it = slot_of.find(name); it != slot_of.end()) return it->second;
    auto spec = restored.find(name);
    if (spec == restored.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "variable '", name, "' is not restored by the model's restore path"));
    }
    model->slots.push_back(spec->second);
    return slot_of[name] = static_cast<int>(model->slots.size()) - 1;
  };
  for (const auto& [name, sig] : mg.signature_def()) {
    if (name == kInitOpSignature) continue;
    absl::StatusOr<std::unique_ptr<Plan>> plan = BuildPlan(*graph, name, sig, resolver);
    if (plan.ok()) {
      model->plans[name] = *std::move(plan);
    } else {
      model->unavailable[name] = plan.status();
    }
  }
  if (auto it = model->unavailable.find("serving_default"); it != model->unavailable.end()) {
    return it->second;
  }
  if (model->plans.empty()) {
    std::vector<std::string> reasons;
    for (const auto& [name, s] : model->unavailable) reasons.push_back(std::string(s.message()));
    return absl::UnimplementedError(absl::StrCat(
        info.dir, ": no signature can run: ", absl::StrJoin(reasons, "; ")));
  }
  return absl::OkStatus();
}

// Reads the model's slots from the checkpoint at `checkpoint` (resolved).
absl::Status LoadWeightsFrom(const std::string& checkpoint, const LoadOptions& options,
                             LoadedModel* model) {
  ASSIGN_OR_RETURN(model->weights,
                   ReadCheckpointWeights(model->slots, checkpoint, options.keras_reader));
  return absl::OkStatus();
}

// Keras 3 layer variables: `layers/...` (tf.keras 2.13:
// `_layer_checkpoint_dependencies/...`); optimizer and metric state is not read.
bool IsKerasLayerVariable(const std::string& key) {
  return absl::StartsWith(key, "layers/") ||
         absl::StartsWith(key, "_layer_checkpoint_dependencies/");
}

absl::Status LoadModelWeights(const SavedModelInfo& info, const LoadOptions& options,
                              LoadedModel* model) {
  std::string prefix;
  if (!options.checkpoint.empty()) {
    ASSIGN_OR_RETURN(prefix, ResolveCheckpointArgument(options.checkpoint));
  } else if (info.has_variables) {
    prefix = info.variables_prefix;
  } else if (model->slots.empty()) {
    model->weights = std::make_shared<const WeightSet>(std::vector<Tensor>{}, info.dir);
    return absl::OkStatus();
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        info.dir, " has no variables/ data for its ", model->slots.size(),
        " variables; pass a checkpoint"));
  }
  return LoadWeightsFrom(prefix, options, model);
}

}  // namespace

absl::StatusOr<std::string> ResolveCheckpointArgument(const std::string& checkpoint) {
  if (IsDirectory(checkpoint)) return LatestCheckpointInDir(checkpoint);
  if (PathExists(BundleIndexFilename(checkpoint))) return checkpoint;
  if (PathExists(checkpoint) && (IsHdf5File(checkpoint) || IsZipFile(checkpoint))) {
    return checkpoint;
  }
  return absl::NotFoundError(absl::StrCat(
      "checkpoint ", checkpoint,
      " is neither a prefix with a .index, a Keras .weights.h5 or .keras file, nor a directory"));
}

absl::StatusOr<std::map<std::string, Tensor>> ReadKerasLayerWeights(const std::string& path) {
  if (IsZipFile(path)) {
    ASSIGN_OR_RETURN(KerasArchive archive, ReadKerasArchive(path, /*with_weights=*/true));
    ASSIGN_OR_RETURN(KerasWeightsFile file,
                     ReadKerasWeightsH5Image(archive.weights_name, archive.weights_image,
                                             IsKerasLayerVariable));
    return std::move(file.values);
  }
  ASSIGN_OR_RETURN(KerasWeightsFile file, ReadKerasWeightsH5(path, IsKerasLayerVariable));
  return std::move(file.values);
}

absl::StatusOr<std::shared_ptr<const WeightSet>> ReadCheckpointWeights(
    const std::vector<SlotSpec>& slots, const std::string& checkpoint,
    const KerasWeightsReader& keras_reader) {
  const bool bundle = PathExists(BundleIndexFilename(checkpoint));
  const bool archive = !bundle && (absl::EndsWith(checkpoint, ".keras") || IsZipFile(checkpoint));
  const bool weights_h5 =
      !bundle && !archive && (IsKerasCheckpointName(checkpoint) || IsHdf5File(checkpoint));
  if (!archive && !weights_h5) {  // a bundle, or the missing .index is the error
    ASSIGN_OR_RETURN(std::unique_ptr<BundleReader> reader, BundleReader::Open(checkpoint));
    return LoadWeights(slots, *reader);
  }
  if (weights_h5) RETURN_IF_ERROR(CheckHdf5Complete(checkpoint));
  ASSIGN_OR_RETURN(auto values, keras_reader ? keras_reader(checkpoint)
                                             : ReadKerasLayerWeights(checkpoint));
  return LoadWeights(slots, values, checkpoint);
}

absl::StatusOr<const Plan*> LoadedModel::FindPlan(const std::string& signature) const {
  const std::string name = signature.empty() ? "serving_default" : signature;
  if (auto it = plans.find(name); it != plans.end()) return it->second.get();
  if (auto it = unavailable.find(name); it != unavailable.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("signature '", name, "' is unavailable: ", it->second.message()));
  }
  std::vector<std::string> names;
  for (const auto& [n, p] : plans) names.push_back(n);
  return absl::NotFoundError(absl::StrCat("no signature '", name, "' (available: ",
                                          absl::StrJoin(names, ", "), ")"));
}

namespace {

// The SignatureDef a plan built without one (from a Keras config) would have.
tensorflow::SignatureDef SignatureDefOf(const Plan& plan) {
  tensorflow::SignatureDef def;
  def.set_method_name(plan.method());
  auto fill = [](const PlanTensor& t, tensorflow::TensorInfo* info) {
    info->set_name(t.tensor_name);
    info->set_dtype(t.dtype);
    if (!t.shape_known) {
      info->mutable_tensor_shape()->set_unknown_rank(true);
      return;
    }
    for (int64_t d : t.shape) info->mutable_tensor_shape()->add_dim()->set_size(d);
  };
  for (const PlanTensor& t : plan.inputs()) fill(t, &(*def.mutable_inputs())[t.alias]);
  for (const PlanTensor& t : plan.outputs()) fill(t, &(*def.mutable_outputs())[t.alias]);
  return def;
}

// A Keras model's plan (from an .h5 or .keras file) as a LoadedModel, with the
// checkpoint's weights in place of the file's when one is given.
absl::StatusOr<std::unique_ptr<LoadedModel>> FinishKerasModel(const std::string& path,
                                                              KerasPlan keras,
                                                              const LoadOptions* options) {
  auto model = std::make_unique<LoadedModel>();
  model->path = path;
  model->slots = std::move(keras.slots);
  model->weights = std::move(keras.weights);
  model->signature_defs["serving_default"] = SignatureDefOf(*keras.plan);
  model->plans["serving_default"] = std::move(keras.plan);
  if (options != nullptr && !options->checkpoint.empty()) {
    ASSIGN_OR_RETURN(std::string prefix, ResolveCheckpointArgument(options->checkpoint));
    RETURN_IF_ERROR(LoadWeightsFrom(prefix, *options, model.get()));
  }
  return model;
}

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadKerasH5(const std::string& path,
                                                         const LoadOptions* options) {
  ASSIGN_OR_RETURN(KerasH5File file, options != nullptr && options->keras_h5_reader
                                         ? options->keras_h5_reader(path)
                                         : ReadKerasH5(path));
  if (!file.model_config) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " holds weights only (save_weights); it has no model_config to run"));
  }
  ASSIGN_OR_RETURN(KerasModelConfig config, ParseKerasModelConfig(*file.model_config));
  ASSIGN_OR_RETURN(KerasPlan keras, BuildKerasPlan(config, file));
  return FinishKerasModel(path, std::move(keras), options);
}

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadKerasArchive(const std::string& path,
                                                              const LoadOptions* options) {
  const bool isolated = options != nullptr && options->keras_reader;
  ASSIGN_OR_RETURN(KerasArchive archive, ReadKerasArchive(path, /*with_weights=*/!isolated));
  absl::StatusOr<KerasModelConfig> config = ParseKerasModelConfig(archive.config);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": config.json: ", config.status().message()));
  }
  KerasWeightsFile weights;
  if (isolated) {
    // The layer variables, parsed elsewhere: what the weight source needs.
    weights.path = archive.weights_name;
    ASSIGN_OR_RETURN(weights.values, options->keras_reader(path));
    for (const auto& [key, value] : weights.values) {
      weights.variables[key] = KerasVariableInfo{value.dtype(), value.shape()};
    }
  } else {
    ASSIGN_OR_RETURN(weights, ReadKerasWeightsH5Image(archive.weights_name, archive.weights_image,
                                                      IsKerasLayerVariable));
  }
  std::string().swap(archive.weights_image);
  ASSIGN_OR_RETURN(KerasPlan keras,
                   BuildKerasPlan(*config,
                                  *Keras3WeightSource(weights, archive.keras_version, path),
                                  KerasOutputNames::kOutputIndex));
  return FinishKerasModel(path, std::move(keras), options);
}

// Builds the plans; reads weights too unless `options` is null.
absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string& path,
                                                  const LoadOptions* options) {
  ASSIGN_OR_RETURN(ResolvedModelPath resolved, ResolveModelPath(path));
  if (resolved.format == ModelFormat::kKerasH5) return LoadKerasH5(resolved.path, options);
  if (resolved.format == ModelFormat::kKerasArchive) {
    return LoadKerasArchive(resolved.path, options);
  }
  if (resolved.format != ModelFormat::kSavedModel) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is a checkpoint, not a model; pass the model and --checkpoint"));
  }
  ASSIGN_OR_RETURN(SavedModelInfo info, ReadSavedModel(resolved.path));
  auto model = std::make_unique<LoadedModel>();
  model->path = resolved.path;
  model->signature_defs = info.meta_graph.signature_def();
  absl::Status built = BuildPlans(info, model.get());
  if (options == nullptr) return model;  // analysis: report what runs and why not
  RETURN_IF_ERROR(built);
  RETURN_IF_ERROR(LoadModelWeights(info, *options, model.get()));
  return model;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadModel(const std::string& path,
                                                       const LoadOptions& options) {
  return Load(path, &options);
}

absl::StatusOr<std::unique_ptr<LoadedModel>> AnalyzeModel(const std::string& path) {
  return Load(path, nullptr);
}

}  // namespace swapserve
