// Compiling one SignatureDef of a flat graph into a Plan: resolve the signature's
// tensors, prune to what its outputs need, order topologically (data and control
// edges), drop Identity/NoOp, bind variables to slots, fold constants, and make a
// kernel for every remaining node. Any op, attribute or feed the engine cannot run
// is an error naming the op, the node and the signature. Stateless function.
#ifndef SWAPSERVE_MODEL_GRAPH_PLAN_BUILDER_H_
#define SWAPSERVE_MODEL_GRAPH_PLAN_BUILDER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "model/graph/flat_graph.h"
#include "model/graph/plan.h"
#include "tensorflow/core/protobuf/meta_graph.pb.h"

namespace swapserve {

// Returns the slot index for a variable node (VarHandleOp, VariableV2) the plan
// reads, or an error (e.g. the variable is not restored by the model).
using SlotResolver = std::function<absl::StatusOr<int>(const tensorflow::NodeDef& var)>;

absl::StatusOr<std::unique_ptr<Plan>> BuildPlan(FlatGraph& graph,
                                                const std::string& signature_name,
                                                const tensorflow::SignatureDef& signature,
                                                const SlotResolver& slots);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_GRAPH_PLAN_BUILDER_H_
