#include "model/formats/object_graph.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "model/formats/bundle_format.h"
#include "model/util/status_macros.h"

namespace swapserve {

absl::StatusOr<tensorflow::TrackableObjectGraph> ReadObjectGraph(
    const BundleReader& reader) {
  if (reader.Find(kObjectGraphKey) == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "bundle ", reader.prefix(), " has no ", kObjectGraphKey,
        " (a name-based checkpoint)"));
  }
  ASSIGN_OR_RETURN(Tensor tensor, reader.Read(kObjectGraphKey));
  if (tensor.dtype() != tensorflow::DT_STRING || tensor.num_elements() != 1) {
    return absl::DataLossError(absl::StrCat(reader.prefix(), ": ", kObjectGraphKey,
                                            " is ", tensor.DebugString(),
                                            ", not a scalar string"));
  }
  tensorflow::TrackableObjectGraph graph;
  if (!graph.ParseFromString(tensor.strings()[0])) {
    return absl::DataLossError(absl::StrCat(reader.prefix(), ": ", kObjectGraphKey,
                                            " is not a TrackableObjectGraph"));
  }
  const int n = graph.nodes_size();
  for (int i = 0; i < n; ++i) {
    const auto& node = graph.nodes(i);
    for (const auto& child : node.children()) {
      if (child.node_id() < 0 || child.node_id() >= n) {
        return absl::DataLossError(absl::StrCat(
            reader.prefix(), ": object graph node ", i, " child '",
            child.local_name(), "' refers to node ", child.node_id(), " of ", n));
      }
    }
    for (const auto& slot : node.slot_variables()) {
      if (slot.original_variable_node_id() < 0 ||
          slot.original_variable_node_id() >= n ||
          slot.slot_variable_node_id() < 0 || slot.slot_variable_node_id() >= n) {
        return absl::DataLossError(absl::StrCat(
            reader.prefix(), ": object graph node ", i,
            " has a slot variable reference out of range"));
      }
    }
  }
  return graph;
}

std::vector<TrackedTensor> ListTrackedTensors(
    const tensorflow::TrackableObjectGraph& graph) {
  std::vector<TrackedTensor> out;
  if (graph.nodes_size() == 0) return out;
  std::vector<bool> seen(graph.nodes_size(), false);
  std::deque<std::pair<int, std::string>> queue = {{0, ""}};
  seen[0] = true;
  while (!queue.empty()) {
    auto [id, path] = std::move(queue.front());
    queue.pop_front();
    const auto& node = graph.nodes(id);
    for (const auto& attr : node.attributes()) {
      out.push_back({path, attr.name(), attr.checkpoint_key(), id});
    }
    for (const auto& child : node.children()) {
      const int c = child.node_id();
      if (c < 0 || c >= graph.nodes_size() || seen[c]) continue;
      seen[c] = true;
      queue.emplace_back(c, path.empty() ? child.local_name()
                                         : absl::StrCat(path, "/", child.local_name()));
    }
  }
  return out;
}

}  // namespace swapserve
