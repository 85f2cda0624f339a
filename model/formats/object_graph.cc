#include "model/formats/object_graph.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
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

namespace {

constexpr char kAttributes[] = "/.ATTRIBUTES/";

// "a/b/.ATTRIBUTES/VARIABLE_VALUE" -> ({"a", "b"}, "VARIABLE_VALUE").
struct ObjectKey {
  std::vector<std::string> path;
  std::string attribute;
};

absl::StatusOr<ObjectKey> ParseObjectKey(const std::string& key) {
  const size_t at = key.find(kAttributes);
  if (at == std::string::npos || at == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model key '", key, "' is not an object path (<path>/.ATTRIBUTES/<name>)"));
  }
  ObjectKey parsed;
  parsed.path = absl::StrSplit(key.substr(0, at), '/');
  parsed.attribute = key.substr(at + sizeof(kAttributes) - 1);
  return parsed;
}

// The checkpoint key of `key` under node `from`, or nullopt.
std::optional<std::string> Resolve(const tensorflow::TrackableObjectGraph& graph, int from,
                                   const ObjectKey& key) {
  int node = from;
  for (const std::string& name : key.path) {
    int next = -1;
    for (const auto& child : graph.nodes(node).children()) {
      if (child.local_name() == name) {
        next = child.node_id();
        break;
      }
    }
    if (next < 0) return std::nullopt;
    node = next;
  }
  for (const auto& attr : graph.nodes(node).attributes()) {
    if (attr.name() == key.attribute) return attr.checkpoint_key();
  }
  return std::nullopt;
}

// Shortest child-name path from the root to every node ("" for the root),
// breadth-first; unreachable nodes get none.
std::vector<std::optional<std::string>> NodePaths(const tensorflow::TrackableObjectGraph& graph) {
  std::vector<std::optional<std::string>> paths(graph.nodes_size());
  if (paths.empty()) return paths;
  std::deque<int> queue = {0};
  paths[0] = "";
  while (!queue.empty()) {
    const int id = queue.front();
    queue.pop_front();
    for (const auto& child : graph.nodes(id).children()) {
      const int c = child.node_id();
      if (paths[c]) continue;
      paths[c] = paths[id]->empty() ? child.local_name()
                                    : absl::StrCat(*paths[id], "/", child.local_name());
      queue.push_back(c);
    }
  }
  return paths;
}

}  // namespace

absl::StatusOr<RerootedKeys> RerootCheckpointKeys(const tensorflow::TrackableObjectGraph& graph,
                                                  const std::vector<std::string>& model_keys) {
  std::vector<ObjectKey> wanted;
  for (const std::string& key : model_keys) {
    ASSIGN_OR_RETURN(wanted.emplace_back(), ParseObjectKey(key));
  }
  const std::vector<std::optional<std::string>> paths = NodePaths(graph);
  // Candidates in breadth-first order, so the root and shallow nodes come first.
  std::vector<int> order;
  for (int id = 0; id < graph.nodes_size(); ++id) {
    if (paths[id]) order.push_back(id);
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return std::count(paths[a]->begin(), paths[a]->end(), '/') + !paths[a]->empty() <
           std::count(paths[b]->begin(), paths[b]->end(), '/') + !paths[b]->empty();
  });
  std::vector<RerootedKeys> fits;
  int best = -1;
  size_t best_count = 0, best_missing = 0;
  for (int id : order) {
    RerootedKeys keys{*paths[id], {}};
    size_t missing = wanted.size();
    for (size_t i = 0; i < wanted.size(); ++i) {
      std::optional<std::string> key = Resolve(graph, id, wanted[i]);
      if (!key) {
        if (missing == wanted.size()) missing = i;
        continue;
      }
      keys.keys.push_back(std::move(*key));
    }
    if (keys.keys.size() == wanted.size()) {
      if (id == 0) return keys;
      fits.push_back(std::move(keys));
    } else if (keys.keys.size() > best_count) {
      best = id;
      best_count = keys.keys.size();
      best_missing = missing;
    }
  }
  if (fits.size() == 1) return std::move(fits[0]);
  if (fits.size() > 1) {
    std::vector<std::string> where;
    for (const RerootedKeys& f : fits) where.push_back(absl::StrCat("'", f.root_path, "'"));
    return absl::InvalidArgumentError(absl::StrCat(
        "the checkpoint holds the model's objects under several objects (",
        absl::StrJoin(where, ", "), "); which one to serve is ambiguous"));
  }
  if (best < 0 || wanted.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no object of the checkpoint's object graph holds the model's variables (first: '",
        model_keys.empty() ? "" : model_keys[0], "')"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the checkpoint does not hold this model: the closest object, '", *paths[best], "', has ",
      best_count, " of its ", wanted.size(), " variables; first missing: '",
      model_keys[best_missing], "'"));
}

}  // namespace swapserve
