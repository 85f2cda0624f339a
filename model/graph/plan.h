// Plan: one signature of a model compiled into a straight list of kernel steps over
// a table of values. Values are request inputs, constants (folded at build time),
// variable slots (read from the WeightSet passed to Run) or step results.
//
// Run() never copies a weight or a constant: slots and constants enter the value
// table as shared Tensors; only step results are allocated per request, and each
// is released after its last use.
//
// Thread safety: immutable after BuildPlan; Run() is const and safe to call from
// many threads at once with different inputs and WeightSets.
#ifndef SWAPSERVE_MODEL_GRAPH_PLAN_H_
#define SWAPSERVE_MODEL_GRAPH_PLAN_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "model/ops/kernel.h"
#include "model/tensor.h"
#include "model/weights.h"

namespace swapserve {

// A signature input or output as the plan exposes it.
struct PlanTensor {
  std::string alias;
  std::string tensor_name;  // e.g. "x:0"
  DataType dtype = tensorflow::DT_INVALID;
  std::vector<int64_t> shape;  // -1: any size
  bool shape_known = false;    // false: any rank
  int value = -1;
};

class Plan {
 public:
  struct Value {
    enum Kind { kInput, kConstant, kSlot, kStep } kind = kStep;
    int index = -1;   // input index or slot index
    Tensor constant;  // kConstant
  };
  struct Step {
    std::string node;  // for errors
    std::unique_ptr<Kernel> kernel;
    std::vector<int> inputs;   // value ids
    std::vector<int> outputs;  // value ids, one per kernel output (-1: unused)
    std::vector<int> release;  // values dead after this step (set by Plan)
  };

  Plan(std::string signature, std::string method, std::vector<PlanTensor> inputs,
       std::vector<PlanTensor> outputs, std::vector<Value> values, std::vector<Step> steps);

  const std::string& signature() const { return signature_; }
  const std::string& method() const { return method_; }
  // Inputs and outputs in signature order (sorted by alias for TF graphs).
  const std::vector<PlanTensor>& inputs() const { return inputs_; }
  const std::vector<PlanTensor>& outputs() const { return outputs_; }
  int num_steps() const { return static_cast<int>(steps_.size()); }

  // Runs with `inputs` in inputs() order; returns tensors in outputs() order.
  // Input dtypes are checked against the signature. Shapes are not: like TF
  // Serving, the declared shape is advice (half_plus_two_tf2 declares [1] and is
  // fed [3,1]); a kernel that cannot compute with a shape fails naming the node
  // and the shapes.
  absl::StatusOr<std::vector<Tensor>> Run(const WeightSet& weights,
                                          absl::Span<const Tensor> inputs) const;

 private:
  absl::Status CheckInput(const PlanTensor& spec, const Tensor& t) const;

  std::string signature_, method_;
  std::vector<PlanTensor> inputs_, outputs_;
  std::vector<Value> values_;
  std::vector<Step> steps_;
};

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_GRAPH_PLAN_H_
