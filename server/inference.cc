#include "server/inference.h"

#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "model/tensor_proto.h"
#include "model/util/status_macros.h"

namespace swapserve::server {
namespace {

using tensorflow::serving::ModelSpec;

// The plan for a request's signature_name, with TF Serving's codes.
absl::StatusOr<const Plan*> FindSignature(const ServableHandle& handle,
                                          const std::string& requested) {
  const std::string name = requested.empty() ? "serving_default" : requested;
  absl::StatusOr<const Plan*> plan = handle.servable->model().FindPlan(name);
  if (plan.ok() || absl::IsFailedPrecondition(plan.status())) return plan;
  return absl::FailedPreconditionError(
      absl::StrCat("Serving signature key \"", name, "\" not found."));
}

void FillModelSpec(const ServableHandle& handle, const Plan& plan, ModelSpec* spec) {
  spec->set_name(handle.name);
  spec->mutable_version()->set_value(handle.version);
  spec->set_signature_name(plan.signature());
}

std::string DescribeTensor(const PlanTensor& t) {
  std::string shape = "?";
  if (t.shape_known) shape = absl::StrCat("[", absl::StrJoin(t.shape, ","), "]");
  return absl::StrCat(t.alias, ": ", DataTypeName(t.dtype), shape);
}

// "signature 'serving_default' takes {x: DT_FLOAT[-1,784]}" — appended to errors
// so a client sees what was expected.
std::string Expected(const Plan& plan) {
  std::vector<std::string> in;
  for (const PlanTensor& t : plan.inputs()) in.push_back(DescribeTensor(t));
  return absl::StrCat("signature '", plan.signature(), "' takes {", absl::StrJoin(in, ", "),
                      "}");
}

// Runs the plan as `execution` says, on `weights`' set.
absl::StatusOr<std::vector<Tensor>> Run(const ServableHandle& handle, const Plan& plan,
                                        const ServedWeights& weights, std::vector<Tensor> inputs,
                                        const Execution& execution) {
  batching::Batcher* batcher = handle.batcher ? handle.batcher.get() : execution.batcher;
  if (batcher == nullptr) return RunPlan(plan, *weights.set, inputs);
  return batcher->Run(plan, *weights.set, std::move(inputs), execution.call);
}

// Request inputs in plan order, checked against the signature's aliases and dtypes.
absl::StatusOr<std::vector<Tensor>> PredictInputs(
    const Plan& plan, const google::protobuf::Map<std::string, tensorflow::TensorProto>& sent) {
  std::set<std::string> expected, extra, missing;
  for (const PlanTensor& t : plan.inputs()) expected.insert(t.alias);
  for (const auto& [alias, proto] : sent) {
    if (expected.count(alias) == 0) extra.insert(alias);
  }
  for (const std::string& alias : expected) {
    if (sent.count(alias) == 0) missing.insert(alias);
  }
  if (!extra.empty() || !missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input size does not match signature: ", sent.size(), "!=", expected.size(),
        ". Sent extra: {", absl::StrJoin(extra, ","), "}. Missing but required: {",
        absl::StrJoin(missing, ","), "}. (", Expected(plan), ")"));
  }
  std::vector<Tensor> inputs;
  for (const PlanTensor& t : plan.inputs()) {
    absl::StatusOr<Tensor> tensor = TensorFromProto(sent.at(t.alias));
    if (!tensor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.alias, "': ", tensor.status().message()));
    }
    if (tensor->dtype() != t.dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.alias, "' expects ", DataTypeName(t.dtype), ", got ",
                       DataTypeName(tensor->dtype()), " (", Expected(plan), ")"));
    }
    inputs.push_back(*std::move(tensor));
  }
  return inputs;
}

// The serialized examples of a Classify/Regress input: with a context, each is
// the context followed by the example — parsing the concatenation merges them
// with the example's features winning, as TF Serving does.
absl::StatusOr<Tensor> SerializedExamples(const tensorflow::serving::Input& input) {
  std::vector<std::string> serialized;
  if (input.has_example_list()) {
    for (const auto& e : input.example_list().examples()) {
      serialized.push_back(e.SerializeAsString());
    }
  } else if (input.has_example_list_with_context()) {
    const std::string context = input.example_list_with_context().context().SerializeAsString();
    for (const auto& e : input.example_list_with_context().examples()) {
      serialized.push_back(context + e.SerializeAsString());
    }
  }
  if (serialized.empty()) return absl::InvalidArgumentError("Input is empty.");
  ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(tensorflow::DT_STRING,
                                              TensorShape{static_cast<int64_t>(serialized.size())}));
  t.strings() = std::move(serialized);
  return t;
}

// Runs a classify/regress signature on the request's examples; returns the
// outputs by alias.
absl::StatusOr<std::map<std::string, Tensor>> RunOnExamples(
    const ServableHandle& handle, const Plan& plan, const char* method,
    const ServedWeights& weights, const tensorflow::serving::Input& input,
    const Execution& execution) {
  if (plan.method() != method) {
    return absl::InvalidArgumentError(absl::StrCat("Expected signature method_name to be ",
                                                   method, ". Was: ", plan.method()));
  }
  if (plan.inputs().size() != 1 || plan.inputs()[0].dtype != tensorflow::DT_STRING) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signature '", plan.signature(), "' must take one string input (", Expected(plan), ")"));
  }
  ASSIGN_OR_RETURN(Tensor examples, SerializedExamples(input));
  const int64_t n = examples.num_elements();
  ASSIGN_OR_RETURN(std::vector<Tensor> out, Run(handle, plan, weights, {examples}, execution));
  std::map<std::string, Tensor> by_alias;
  for (size_t i = 0; i < out.size(); ++i) {
    const Tensor& t = out[i];
    if (t.shape().rank() < 1 || t.shape().dim(0) != n || t.shape().rank() > 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output '", plan.outputs()[i].alias, "' has shape ", t.shape().DebugString(),
          "; expected [", n, "] or [", n, ", K] for ", n, " examples"));
    }
    by_alias.emplace(plan.outputs()[i].alias, t);
  }
  return by_alias;
}

}  // namespace

absl::StatusOr<std::vector<Tensor>> RunPlan(const Plan& plan, const WeightSet& weights,
                                            const std::vector<Tensor>& inputs) {
  absl::StatusOr<std::vector<Tensor>> out = plan.Run(weights, inputs);
  if (out.ok()) return out;
  // Kernel errors keep their code and gain what the signature expects.
  return absl::Status(out.status().code(),
                      absl::StrCat(out.status().message(), " (", Expected(plan), ")"));
}

absl::Status RunPredict(const ServableHandle& handle, const ServedWeights& weights,
                        const tensorflow::serving::PredictRequest& request,
                        tensorflow::serving::PredictResponse* response,
                        const Execution& execution) {
  ASSIGN_OR_RETURN(const Plan* plan, FindSignature(handle, request.model_spec().signature_name()));
  std::set<std::string> wanted;
  for (const std::string& alias : request.output_filter()) {
    bool known = false;
    for (const PlanTensor& t : plan->outputs()) known |= t.alias == alias;
    if (!known || !wanted.insert(alias).second) {
      std::vector<std::string> outs;
      for (const PlanTensor& t : plan->outputs()) outs.push_back(t.alias);
      return absl::InvalidArgumentError(absl::StrCat(
          known ? "duplicate output tensor alias in output_filter: "
                : "output tensor alias not found in signature: ",
          alias, " Outputs expected to be in the set {", absl::StrJoin(outs, ","), "}."));
    }
  }
  ASSIGN_OR_RETURN(std::vector<Tensor> inputs, PredictInputs(*plan, request.inputs()));
  ASSIGN_OR_RETURN(std::vector<Tensor> outputs,
                   Run(handle, *plan, weights, std::move(inputs), execution));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& alias = plan->outputs()[i].alias;
    if (!wanted.empty() && wanted.count(alias) == 0) continue;
    TensorToProtoField(outputs[i], &(*response->mutable_outputs())[alias]);
  }
  FillModelSpec(handle, *plan, response->mutable_model_spec());
  return absl::OkStatus();
}

absl::Status RunClassify(const ServableHandle& handle, const ServedWeights& weights,
                         const tensorflow::serving::ClassificationRequest& request,
                         tensorflow::serving::ClassificationResponse* response,
                         const Execution& execution) {
  ASSIGN_OR_RETURN(const Plan* plan, FindSignature(handle, request.model_spec().signature_name()));
  ASSIGN_OR_RETURN(auto out, RunOnExamples(handle, *plan, kClassifyMethod, weights,
                                           request.input(), execution));
  const Tensor* classes = out.count("classes") ? &out.at("classes") : nullptr;
  const Tensor* scores = out.count("scores") ? &out.at("scores") : nullptr;
  if (classes == nullptr && scores == nullptr) {
    return absl::InvalidArgumentError("classification signature has neither 'classes' nor 'scores' output");
  }
  if (classes != nullptr && classes->dtype() != tensorflow::DT_STRING) {
    return absl::InvalidArgumentError("output 'classes' must be a string tensor");
  }
  if (scores != nullptr && scores->dtype() != tensorflow::DT_FLOAT) {
    return absl::InvalidArgumentError("output 'scores' must be a float tensor");
  }
  auto per_example = [](const Tensor* t) {
    return t->shape().rank() == 2 ? t->shape().dim(1) : int64_t{1};
  };
  const int64_t k = classes != nullptr ? per_example(classes) : per_example(scores);
  if (classes != nullptr && scores != nullptr && per_example(scores) != k) {
    return absl::InvalidArgumentError(absl::StrCat("'classes' and 'scores' differ in shape: ",
                                                   classes->shape().DebugString(), " vs ",
                                                   scores->shape().DebugString()));
  }
  const int64_t n = (classes != nullptr ? classes : scores)->shape().dim(0);
  for (int64_t i = 0; i < n; ++i) {
    auto* c = response->mutable_result()->add_classifications();
    for (int64_t j = 0; j < k; ++j) {
      auto* cls = c->add_classes();
      if (classes != nullptr) cls->set_label(classes->strings()[i * k + j]);
      if (scores != nullptr) cls->set_score(scores->data<float>()[i * k + j]);
    }
  }
  FillModelSpec(handle, *plan, response->mutable_model_spec());
  return absl::OkStatus();
}

absl::Status RunRegress(const ServableHandle& handle, const ServedWeights& weights,
                        const tensorflow::serving::RegressionRequest& request,
                        tensorflow::serving::RegressionResponse* response,
                        const Execution& execution) {
  ASSIGN_OR_RETURN(const Plan* plan, FindSignature(handle, request.model_spec().signature_name()));
  ASSIGN_OR_RETURN(auto out, RunOnExamples(handle, *plan, kRegressMethod, weights,
                                           request.input(), execution));
  auto it = out.find("outputs");
  if (it == out.end()) return absl::InvalidArgumentError("regression signature has no 'outputs' output");
  const Tensor& values = it->second;
  if (values.dtype() != tensorflow::DT_FLOAT) {
    return absl::InvalidArgumentError("output 'outputs' must be a float tensor");
  }
  if (values.shape().rank() == 2 && values.shape().dim(1) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output 'outputs' has shape ", values.shape().DebugString(), "; expected one value per example"));
  }
  for (int64_t i = 0; i < values.shape().dim(0); ++i) {
    response->mutable_result()->add_regressions()->set_value(values.data<float>()[i]);
  }
  FillModelSpec(handle, *plan, response->mutable_model_spec());
  return absl::OkStatus();
}

absl::Status GetMetadata(const ServableHandle& handle,
                         const tensorflow::serving::GetModelMetadataRequest& request,
                         tensorflow::serving::GetModelMetadataResponse* response) {
  if (request.metadata_field().empty()) {
    return absl::InvalidArgumentError(
        "GetModelMetadataRequest must specify at least one metadata_field");
  }
  for (const std::string& field : request.metadata_field()) {
    if (field != "signature_def") {
      return absl::InvalidArgumentError(
          absl::StrCat("Metadata field ", field, " is not supported"));
    }
  }
  tensorflow::serving::SignatureDefMap map;
  *map.mutable_signature_def() = handle.servable->model().signature_defs;
  (*response->mutable_metadata())["signature_def"].PackFrom(map);
  response->mutable_model_spec()->set_name(handle.name);
  response->mutable_model_spec()->mutable_version()->set_value(handle.version);
  return absl::OkStatus();
}

absl::Status ServeOnSnapshot(const ModelManager& manager, const ModelSpec& spec,
                             SnapshotBody body, AnsweredBy* answered) {
  ASSIGN_OR_RETURN(ServableHandle handle, manager.Find(spec));
  const std::shared_ptr<const ServedWeights> weights = handle.servable->Weights();
  const absl::Time start = absl::Now();
  absl::Status status = body(handle, *weights);
  answered->runtime = absl::Now() - start;
  answered->checkpoint = handle.servable->WeightsName(*weights->set);
  answered->generation = weights->generation;
  return status;
}

absl::StatusOr<std::map<std::string, tensorflow::DataType>> SignatureInputs(
    const ServableHandle& handle, const std::string& signature) {
  ASSIGN_OR_RETURN(const Plan* plan, FindSignature(handle, signature));
  std::map<std::string, tensorflow::DataType> dtypes;
  for (const PlanTensor& t : plan->inputs()) dtypes[t.alias] = t.dtype;
  return dtypes;
}

absl::Status GetModelStatus(const ModelManager& manager,
                            const tensorflow::serving::GetModelStatusRequest& request,
                            tensorflow::serving::GetModelStatusResponse* response) {
  const ModelSpec& spec = request.model_spec();
  if (spec.name().empty()) return absl::InvalidArgumentError("ModelSpec has no name specified.");
  std::optional<int64_t> version;
  if (spec.has_version()) version = spec.version().value();
  if (!spec.version_label().empty()) {
    if (version) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Both model version (", *version, ") and model version label (", spec.version_label(),
          ") cannot be supplied."));
    }
    ASSIGN_OR_RETURN(version, manager.LabelledVersion(spec.name(), spec.version_label()));
  }
  ASSIGN_OR_RETURN(std::vector<VersionStatus> versions, manager.Status(spec.name(), version));
  for (const VersionStatus& v : versions) {
    tensorflow::serving::ModelVersionStatus* out = response->add_model_version_status();
    out->set_version(v.version);
    out->set_state(v.state);
    out->mutable_status()->set_error_code(static_cast<tensorflow::error::Code>(v.status.code()));
    out->mutable_status()->set_error_message(std::string(v.status.message()));
  }
  return absl::OkStatus();
}

}  // namespace swapserve::server
