// Building the serving_default Plan of a Keras model straight from its model config
// (no TF graph exists for an .h5 or .keras file), with the weights from the file.
// Each layer becomes a few kernel steps (Dense with a bias → _FusedMatMul, relu
// fused into it, other activations after). Slots are keyed as the model's
// checkpoints name them (keras_weight_source.h: `layer_with_weights-N/...` for
// legacy .h5 files, `layers/dense/vars/0` for Keras 3), so a training run's
// checkpoints can replace the file's weights.
//
// A layer, activation or configuration value the engine does not support is an
// error naming it and the layer. Stateless function.
#ifndef SWAPSERVE_MODEL_GRAPH_KERAS_PLAN_H_
#define SWAPSERVE_MODEL_GRAPH_KERAS_PLAN_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "model/formats/keras_config.h"
#include "model/formats/keras_h5.h"
#include "model/graph/keras_weight_source.h"
#include "model/graph/plan.h"
#include "model/weights.h"

namespace swapserve {

struct KerasPlan {
  std::unique_ptr<Plan> plan;
  std::vector<SlotSpec> slots;
  std::shared_ptr<const WeightSet> weights;  // from the source
};

absl::StatusOr<KerasPlan> BuildKerasPlan(const KerasModelConfig& config,
                                         const KerasWeightSource& source,
                                         KerasOutputNames names);

// A legacy .h5 file's model: its weights, outputs named after their layers.
absl::StatusOr<KerasPlan> BuildKerasPlan(const KerasModelConfig& config,
                                         const KerasH5File& file);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_GRAPH_KERAS_PLAN_H_
