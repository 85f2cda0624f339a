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

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_OBJECT_GRAPH_H_
