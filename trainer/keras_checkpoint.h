// Checkpoints exactly as Keras's save_weights / ModelCheckpoint write them in TF
// format: `layer_with_weights-N/{kernel,bias}/.ATTRIBUTES/VARIABLE_VALUE`, the
// `_CHECKPOINTABLE_OBJECT_GRAPH` (root → `layer_with_weights-N` / `layer-i` /
// `optimizer` / `root`, variables as VARIABLE_VALUE attributes) and, with the
// optimizer, Adam's `iter`, hyperparameters and `.OPTIMIZER_SLOT/optimizer/{m,v}`
// slots. Files go out in TF's order — data, index (BundleWriter: temporary
// names, fsync, rename) — and CheckpointManager keeps the `checkpoint` pointer.
// Stateless functions, thread-compatible.
#ifndef SWAPSERVE_TRAINER_KERAS_CHECKPOINT_H_
#define SWAPSERVE_TRAINER_KERAS_CHECKPOINT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/tensor.h"
#include "tensorflow/core/protobuf/trackable_object_graph.pb.h"
#include "trainer/adam.h"
#include "trainer/network.h"

namespace swapserve::trainer {

// A float32 tensor of shape `dims` holding `v` (a parameter or optimizer slot).
absl::StatusOr<Tensor> FloatTensor(const std::vector<int64_t>& dims, const Floats& v);

// The object graph Keras writes for `network` (with Adam's nodes when
// `with_optimizer`).
tensorflow::TrackableObjectGraph KerasObjectGraph(const Network& network, bool with_optimizer);

// Writes PREFIX.data-00000-of-00001 and PREFIX.index. `optimizer` null: weights
// only (the optimizer node stays empty, as in a checkpoint written before training).
absl::Status WriteKerasCheckpoint(const std::string& prefix, const Network& network,
                                  const Adam* optimizer);

// Restores the weights and, when `optimizer` is given, Adam's state; FAILED_PRECONDITION
// if the checkpoint has no optimizer state then. Every tensor is CRC-checked and
// its shape must match.
absl::Status RestoreKerasCheckpoint(const std::string& prefix, Network* network, Adam* optimizer);

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_KERAS_CHECKPOINT_H_
