// Plan-level fusion for TensorFlow graphs, as grappler's remapper does it:
// a float MatMul or Conv2D step whose only consumer is a BiasAdd (and that
// BiasAdd's only consumer a Relu or Relu6) becomes one _FusedMatMul /
// _FusedConv2D step, which adds the bias and applies the activation while the
// GEMM's output is still in cache (model/ops/gemm.h). Keras plans emit the fused
// ops directly (keras_plan.cc).
//
// Stateless function; runs once per plan, at build time.
#ifndef SWAPSERVE_MODEL_GRAPH_FUSE_STEPS_H_
#define SWAPSERVE_MODEL_GRAPH_FUSE_STEPS_H_

#include <set>
#include <vector>

#include "model/graph/plan.h"
#include "tensorflow/core/framework/node_def.pb.h"

namespace swapserve {

// `defs[i]` is the NodeDef steps[i] was built from; `pinned` are values that
// must stay visible (the plan's outputs), so a step producing one is never
// folded into its consumer. Rewrites `steps` in place; a chain whose fused
// kernel cannot be built is left as it was.
void FuseBiasActivation(std::vector<Plan::Step>& steps,
                        const std::vector<const tensorflow::NodeDef*>& defs,
                        const std::set<int>& pinned);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_GRAPH_FUSE_STEPS_H_
