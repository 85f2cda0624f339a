#include "client/describe.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/keras_config.h"
#include "model/formats/keras_archive.h"
#include "model/formats/keras_h5.h"
#include "model/formats/keras_weights_h5.h"
#include "model/formats/model_path.h"
#include "model/formats/saved_model.h"
#include "model/loaded_model.h"
#include "model/util/status_macros.h"

namespace swapserve::cli {
namespace {

using json = nlohmann::json;

json ShapeJson(const tensorflow::TensorShapeProto& shape) {
  if (shape.unknown_rank()) return nullptr;
  json dims = json::array();
  for (const auto& d : shape.dim()) dims.push_back(d.size());
  return dims;
}

json SignaturesJson(const tensorflow::MetaGraphDef& meta_graph) {
  json out = json::object();
  for (const auto& [name, sig] : meta_graph.signature_def()) {
    json s = {{"method", sig.method_name()},
              {"inputs", json::object()},
              {"outputs", json::object()}};
    for (const auto& [alias, info] : sig.inputs()) {
      s["inputs"][alias] = {{"name", info.name()},
                            {"dtype", DataTypeName(info.dtype())},
                            {"shape", ShapeJson(info.tensor_shape())}};
    }
    for (const auto& [alias, info] : sig.outputs()) {
      s["outputs"][alias] = {{"name", info.name()},
                             {"dtype", DataTypeName(info.dtype())},
                             {"shape", ShapeJson(info.tensor_shape())}};
    }
    out[name] = std::move(s);
  }
  return out;
}

// Every key of the bundle with dtype and shape; reading each verifies its bounds
// and CRC32C, and a failure is recorded as that variable's "error".
json BundleVariablesJson(const BundleReader& reader) {
  json out = json::object();
  for (const BundleEntry& e : reader.entries()) {
    json v = {{"dtype", DataTypeName(e.dtype)}, {"shape", e.shape.dims()}};
    absl::StatusOr<Tensor> t = reader.Read(e);
    if (!t.ok()) v["error"] = std::string(t.status().message());
    out[e.key] = std::move(v);
  }
  return out;
}

absl::Status DescribeSavedModel(const ResolvedModelPath& resolved, json* out) {
  ASSIGN_OR_RETURN(SavedModelInfo info, ReadSavedModel(resolved.path));
  (*out)["signatures"] = SignaturesJson(info.meta_graph);
  if (info.has_variables) {
    ASSIGN_OR_RETURN(auto reader, BundleReader::Open(info.variables_prefix));
    (*out)["variables"] = BundleVariablesJson(*reader);
    (*out)["checkpoint"] = {{"prefix", info.variables_prefix},
                            {"all", {info.variables_prefix}}};
  }
  if (resolved.version) (*out)["version"] = *resolved.version;
  return absl::OkStatus();
}

absl::Status DescribeCheckpoint(const ResolvedModelPath& resolved, json* out) {
  ASSIGN_OR_RETURN(auto reader, BundleReader::Open(resolved.path));
  (*out)["variables"] = BundleVariablesJson(*reader);
  json all = resolved.all_checkpoints;
  if (all.empty()) all.push_back(resolved.path);
  (*out)["checkpoint"] = {{"prefix", resolved.path}, {"all", std::move(all)}};
  return absl::OkStatus();
}

// Tensor names as a Keras SavedModel export of the same model gives them: the
// placeholder "serving_default_<alias>:0" and the call's i-th output.
json SpecJson(const KerasTensorSpec& spec, const std::string& tensor_name) {
  json shape = nullptr;
  if (spec.shape) shape = *spec.shape;
  return {{"name", tensor_name}, {"dtype", DataTypeName(spec.dtype)}, {"shape", shape}};
}

// For listing a Keras 3 weights file: shapes only, no values read.
bool NoValues(const std::string&) { return false; }

json Keras3VariablesJson(const KerasWeightsFile& file) {
  json variables = json::object();
  for (const auto& [key, info] : file.variables) {
    variables[key] = {{"dtype", DataTypeName(info.dtype)}, {"shape", info.shape.dims()}};
  }
  return variables;
}

// The serving_default signature Keras would export for `config`.
absl::Status AddKerasSignature(const KerasModelConfig& config, KerasOutputNames names, json* out) {
  ASSIGN_OR_RETURN(KerasSignature sig, SynthesizeServingSignature(config, names));
  json s = {{"method", "tensorflow/serving/predict"},
            {"inputs", json::object()},
            {"outputs", json::object()}};
  for (const KerasTensorSpec& in : sig.inputs) {
    s["inputs"][in.name] = SpecJson(in, absl::StrCat("serving_default_", in.name, ":0"));
  }
  for (size_t i = 0; i < sig.outputs.size(); ++i) {
    s["outputs"][sig.outputs[i].name] =
        SpecJson(sig.outputs[i], absl::StrCat("StatefulPartitionedCall:", i));
  }
  (*out)["signatures"][std::string(kDefaultSignature)] = std::move(s);
  return absl::OkStatus();
}

absl::Status DescribeKerasArchive(const ResolvedModelPath& resolved, json* out) {
  ASSIGN_OR_RETURN(KerasArchive archive, ReadKerasArchive(resolved.path, /*with_weights=*/true));
  ASSIGN_OR_RETURN(KerasWeightsFile weights,
                   ReadKerasWeightsH5Image(archive.weights_name, archive.weights_image, NoValues));
  (*out)["variables"] = Keras3VariablesJson(weights);
  ASSIGN_OR_RETURN(KerasModelConfig config, ParseKerasModelConfig(archive.config));
  return AddKerasSignature(config, KerasOutputNames::kOutputIndex, out);
}

absl::Status DescribeKerasH5(const ResolvedModelPath& resolved, json* out) {
  // A Keras 3 .weights.h5 (weights only, no model to describe).
  absl::StatusOr<KerasWeightsFile> keras3 =
      ReadKerasWeightsH5(resolved.path, NoValues);
  if (keras3.ok()) {
    (*out)["format"] = "keras_weights_h5";
    (*out)["variables"] = Keras3VariablesJson(*keras3);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(KerasH5File file, ReadKerasH5(resolved.path));
  json variables = json::object();
  for (const KerasH5Layer& layer : file.layers) {
    for (const KerasH5Weight& w : layer.weights) {
      variables[w.name] = {{"dtype", DataTypeName(w.value.dtype())},
                           {"shape", w.value.shape().dims()}};
    }
  }
  (*out)["variables"] = std::move(variables);
  if (!file.model_config) return absl::OkStatus();  // weights only
  ASSIGN_OR_RETURN(KerasModelConfig config, ParseKerasModelConfig(*file.model_config));
  return AddKerasSignature(config, KerasOutputNames::kLayerNames, out);
}

std::string ShapeText(const json& shape) {
  if (shape.is_null()) return "<unknown rank>";
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    absl::StrAppend(&s, i ? "," : "", shape[i].get<int64_t>());
  }
  return s + "]";
}

// Marks each signature the engine cannot run with the reason (from AnalyzeModel).
void AddAvailability(const std::string& path, json* out) {
  absl::StatusOr<std::unique_ptr<LoadedModel>> model = AnalyzeModel(path);
  for (auto& [name, sig] : (*out)["signatures"].items()) {
    if (!model.ok()) {
      sig["unavailable"] = std::string(model.status().message());
    } else if (auto it = (*model)->unavailable.find(name); it != (*model)->unavailable.end()) {
      sig["unavailable"] = std::string(it->second.message());
    }
  }
}

}  // namespace

absl::StatusOr<json> DescribeModel(const std::string& path) {
  ASSIGN_OR_RETURN(ResolvedModelPath resolved, ResolveModelPath(path));
  json out = {{"path", resolved.path},
              {"format", std::string(ModelFormatName(resolved.format))},
              {"signatures", json::object()},
              {"variables", json::object()},
              {"checkpoint", nullptr}};
  switch (resolved.format) {
    case ModelFormat::kSavedModel:
      RETURN_IF_ERROR(DescribeSavedModel(resolved, &out));
      break;
    case ModelFormat::kCheckpoint:
      RETURN_IF_ERROR(DescribeCheckpoint(resolved, &out));
      break;
    case ModelFormat::kKerasH5:
      RETURN_IF_ERROR(DescribeKerasH5(resolved, &out));
      break;
    case ModelFormat::kKerasArchive:
      RETURN_IF_ERROR(DescribeKerasArchive(resolved, &out));
      break;
  }
  if (resolved.format != ModelFormat::kCheckpoint && out["format"] != "keras_weights_h5") {
    AddAvailability(resolved.path, &out);
  }
  return out;
}

std::string RenderDescription(const json& d) {
  std::ostringstream os;
  os << "path:   " << d["path"].get<std::string>() << "\n"
     << "format: " << d["format"].get<std::string>() << "\n";
  if (d.contains("version")) os << "version: " << d["version"] << "\n";
  for (const auto& [name, sig] : d["signatures"].items()) {
    os << "\nsignature '" << name << "' (" << sig["method"].get<std::string>() << ")\n";
    if (sig.contains("unavailable")) {
      os << "  UNAVAILABLE: " << sig["unavailable"].get<std::string>() << "\n";
    }
    for (const char* side : {"inputs", "outputs"}) {
      os << "  " << side << ":\n";
      for (const auto& [alias, t] : sig[side].items()) {
        os << "    " << alias << ": " << t["dtype"].get<std::string>() << " "
           << ShapeText(t["shape"]) << "  (" << t["name"].get<std::string>() << ")\n";
      }
    }
  }
  os << "\nvariables (" << d["variables"].size() << "):\n";
  for (const auto& [key, v] : d["variables"].items()) {
    os << "  " << key << ": " << v["dtype"].get<std::string>() << " "
       << ShapeText(v["shape"]);
    if (v.contains("error")) os << "  ERROR: " << v["error"].get<std::string>();
    os << "\n";
  }
  if (!d["checkpoint"].is_null()) {
    os << "\ncheckpoint: " << d["checkpoint"]["prefix"].get<std::string>() << "\n";
    for (const auto& p : d["checkpoint"]["all"]) {
      os << "  kept: " << p.get<std::string>() << "\n";
    }
  }
  return os.str();
}

}  // namespace swapserve::cli
