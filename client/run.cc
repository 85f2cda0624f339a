#include "client/run.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/tensor_json.h"
#include "model/loaded_model.h"
#include "model/util/status_macros.h"

namespace swapserve::cli {
namespace {

std::string DescribeSignature(const Plan& plan) {
  std::vector<std::string> parts;
  for (const PlanTensor& t : plan.inputs()) {
    std::string shape = t.shape_known ? absl::StrCat("[", absl::StrJoin(t.shape, ","), "]") : "[...]";
    parts.push_back(absl::StrCat(t.alias, ": ", DataTypeName(t.dtype), shape));
  }
  return absl::StrCat("signature '", plan.signature(), "' takes {", absl::StrJoin(parts, ", "), "}");
}

}  // namespace

absl::StatusOr<nlohmann::json> RunModel(const RunRequest& request) {
  LoadOptions options;
  options.checkpoint = request.checkpoint;
  ASSIGN_OR_RETURN(std::unique_ptr<LoadedModel> model, LoadModel(request.model_path, options));
  ASSIGN_OR_RETURN(const Plan* plan, model->FindPlan(request.signature));
  const nlohmann::json& inputs = request.input.contains("inputs") ? request.input["inputs"]
                                                                  : nlohmann::json::object();
  if (!inputs.is_object()) return absl::InvalidArgumentError("\"inputs\" must be an object");
  std::set<std::string> given;
  for (const auto& [alias, value] : inputs.items()) given.insert(alias);
  std::vector<Tensor> feeds;
  for (const PlanTensor& spec : plan->inputs()) {
    if (!given.erase(spec.alias)) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing input '", spec.alias, "'; ", DescribeSignature(*plan)));
    }
    ASSIGN_OR_RETURN(Tensor t, TensorFromJson(inputs[spec.alias], "input '" + spec.alias + "'"));
    feeds.push_back(std::move(t));
  }
  if (!given.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown input '", *given.begin(), "'; ",
                                                   DescribeSignature(*plan)));
  }
  ASSIGN_OR_RETURN(std::vector<Tensor> results, plan->Run(*model->weights, feeds));
  nlohmann::json out = {{"outputs", nlohmann::json::object()}};
  for (size_t i = 0; i < results.size(); ++i) {
    out["outputs"][plan->outputs()[i].alias] = TensorToJson(results[i]);
  }
  return out;
}

}  // namespace swapserve::cli
