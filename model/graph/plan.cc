#include "model/graph/plan.h"

#include "absl/strings/str_cat.h"

namespace swapserve {

Plan::Plan(std::string signature, std::string method, std::vector<PlanTensor> inputs,
           std::vector<PlanTensor> outputs, std::vector<Value> values,
           std::vector<Step> steps)
    : signature_(std::move(signature)),
      method_(std::move(method)),
      inputs_(std::move(inputs)),
      outputs_(std::move(outputs)),
      values_(std::move(values)),
      steps_(std::move(steps)) {
  // Release each step result after its last use, unless it is an output.
  std::vector<int> last_use(values_.size(), -1);
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (int v : steps_[s].inputs) last_use[v] = static_cast<int>(s);
  }
  for (const PlanTensor& o : outputs_) last_use[o.value] = -1;
  for (size_t v = 0; v < values_.size(); ++v) {
    if (values_[v].kind == Value::kStep && last_use[v] >= 0) {
      steps_[last_use[v]].release.push_back(static_cast<int>(v));
    }
  }
}

absl::Status Plan::CheckInput(const PlanTensor& spec, const Tensor& t) const {
  if (t.dtype() == spec.dtype) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "signature '", signature_, "' input '", spec.alias, "' expects ",
      DataTypeName(spec.dtype), ", got ", t.DebugString()));
}

absl::StatusOr<std::vector<Tensor>> Plan::Run(const WeightSet& weights,
                                              absl::Span<const Tensor> inputs) const {
  if (inputs.size() != inputs_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signature '", signature_, "' takes ", inputs_.size(), " inputs, got ",
        inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    absl::Status s = CheckInput(inputs_[i], inputs[i]);
    if (!s.ok()) return s;
  }
  std::vector<Tensor> values(values_.size());
  for (size_t v = 0; v < values_.size(); ++v) {
    const Value& spec = values_[v];
    switch (spec.kind) {
      case Value::kInput: values[v] = inputs[spec.index]; break;
      case Value::kConstant: values[v] = spec.constant; break;
      case Value::kSlot:
        if (spec.index >= weights.size()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "weights from ", weights.source(), " have ", weights.size(),
              " slots; the plan needs slot ", spec.index));
        }
        values[v] = weights.slot(spec.index);
        break;
      case Value::kStep: break;
    }
  }
  std::vector<Tensor> args, results;
  for (const Step& step : steps_) {
    args.clear();
    for (int in : step.inputs) args.push_back(values[in]);
    results.assign(step.outputs.size(), Tensor());
    absl::Status s = step.kernel->Compute(args, results);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("signature '", signature_, "', node '",
                                                 step.node, "': ", s.message()));
    }
    for (size_t k = 0; k < step.outputs.size(); ++k) {
      if (step.outputs[k] < 0) continue;
      if (results[k].dtype() == tensorflow::DT_INVALID) {
        return absl::InternalError(absl::StrCat("signature '", signature_, "', node '",
                                                step.node, "' produced no output ", k));
      }
      values[step.outputs[k]] = std::move(results[k]);
    }
    for (int dead : step.release) values[dead] = Tensor();
  }
  std::vector<Tensor> out;
  out.reserve(outputs_.size());
  for (const PlanTensor& o : outputs_) out.push_back(values[o.value]);
  return out;
}

}  // namespace swapserve
