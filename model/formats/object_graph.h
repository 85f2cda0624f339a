// The object graph TF2 stores in every object-based checkpoint under the key
// _CHECKPOINTABLE_OBJECT_GRAPH: a TrackableObjectGraph naming, for each object
// reachable from the root (model, layers, optimizer), its children and the
// checkpoint keys of its tensors. Stateless functions, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_OBJECT_GRAPH_H_
#define SWAPSERVE_MODEL_FORMATS_OBJECT_GRAPH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/formats/bundle_reader.h"
#include "tensorflow/core/protobuf/trackable_object_graph.pb.h"

namespace swapserve {

// Reads and parses the bundle's object graph, checking every node reference is in
// range. NOT_FOUND for name-based (TF1) checkpoints, which have none.
absl::StatusOr<tensorflow::TrackableObjectGraph> ReadObjectGraph(
    const BundleReader& reader);

// A tensor saved for one object, reached from the root by `path`.
struct TrackedTensor {
  std::string path;            // e.g. "layer_with_weights-0/kernel"
  std::string attribute;       // e.g. "VARIABLE_VALUE"
  std::string checkpoint_key;  // the bundle key
  int node_id = 0;
};

// Every serialized tensor reachable from node 0, breadth-first (shortest path
// first, children in stored order), each node visited once.
std::vector<TrackedTensor> ListTrackedTensors(
    const tensorflow::TrackableObjectGraph& graph);

// Where a model's variables sit in a checkpoint written with the model under
// another object: `tf.train.CheckpointManager(tf.train.Checkpoint(step=...,
// net=model))` saves the model's `layer_with_weights-0/kernel` as
// `net/layer_with_weights-0/kernel`. As TF's own object-based restore, this
// matches objects, not key strings: `model_keys` (the keys the model's own
// restore path reads, "<object path>/.ATTRIBUTES/<attribute>") are looked up
// by walking each object path's child names down from a candidate node, and
// the node under which every one of them exists is the model. The root is
// preferred; otherwise exactly one node must fit (two — a DQN's `net` and
// `target_net` — is an error naming both). Objects outside the model (`step`,
// `save_counter`, optimizers) are ignored.
struct RerootedKeys {
  std::string root_path;              // "net"; "" for the root itself
  std::vector<std::string> keys;      // the checkpoint key of each model key
};

// INVALID_ARGUMENT when no node holds the model, naming the node that holds
// most of it and the first model object missing under it; or when a model key
// is not of the object form.
absl::StatusOr<RerootedKeys> RerootCheckpointKeys(const tensorflow::TrackableObjectGraph& graph,
                                                  const std::vector<std::string>& model_keys);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_OBJECT_GRAPH_H_
