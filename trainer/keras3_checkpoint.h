// Checkpoints as Keras 3's ModelCheckpoint(save_weights_only=True) writes them:
// one `.weights.h5` file (model/formats/keras_weights_h5.h) with, for every
// layer of the Sequential, `layers/<snake_case(class)>[_n]/vars/<i>` (Dense and
// Conv2D: 0 kernel, 1 bias; MaxPooling2D, Flatten, Dropout: an empty `vars`),
// the model's own empty `vars`, and — Keras 3 saves the optimizer with the
// weights — `optimizer/vars/0` the iteration count (int64 scalar), `1` the
// learning rate (float32 scalar), then each trainable variable's momentum and
// velocity, interleaved, in variable order. No pointer file (Keras 3 writes
// none); unlike Keras, the file is written under a temporary name and renamed.
// The `.keras` export adds the model's config beside the same weights.
// Stateless functions, thread-compatible.
#ifndef SWAPSERVE_TRAINER_KERAS3_CHECKPOINT_H_
#define SWAPSERVE_TRAINER_KERAS3_CHECKPOINT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "model/tensor.h"
#include "nlohmann/json.hpp"
#include "trainer/adam.h"
#include "trainer/network.h"

namespace swapserve::trainer {

// The Keras 3 class name of each layer kind ("Dense", "Conv2D", "MaxPooling2D", ...).
const char* Keras3ClassName(LayerSpec::Kind kind);

// The groups and datasets of the file for `network` (with Adam's state when
// `optimizer` is not null), in the order Keras writes them.
struct Keras3Weights {
  std::vector<std::string> groups;
  std::vector<std::pair<std::string, Tensor>> datasets;
};
absl::StatusOr<Keras3Weights> Keras3WeightsOf(const Network& network, const Adam* optimizer);

// Writes them to `path` (a `.weights.h5` name).
absl::Status WriteKeras3Checkpoint(const std::string& path, const Network& network,
                                   const Adam* optimizer);

// The Keras 3 `config.json` of the network's Sequential model, as model.save()
// serializes it (module/class_name/config/registered_name, DTypePolicy,
// InputLayer with batch_shape, build_config).
nlohmann::json Keras3ModelConfig(const ModelSpec& spec);

// Writes `path` (a `.keras` file): that config and the network's weights (with
// Adam's state when `optimizer` is not null), as Keras 3's model.save() does.
absl::Status ExportKerasModel(const std::string& path, const Network& network,
                              const Adam* optimizer);

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_KERAS3_CHECKPOINT_H_
