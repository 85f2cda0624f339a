// FlatGraph: a GraphDef with every function call it needs inlined — the form the
// planner works on. Call nodes (StatefulPartitionedCall, PartitionedCall, and
// nodes whose op is a library function) are expanded on demand, recursively, with
// the callee's arguments bound to the call's inputs and its results to the call's
// outputs; node names get the call's path as prefix ("call/inner/MatMul").
//
// Only what is asked for is expanded: Resolve() a tensor name from the top graph
// and the calls it depends on are inlined. Nodes of the top graph are always
// present (cheap; the planner prunes).
//
// Thread safety: not thread-safe; build on one thread, then read.
#ifndef SWAPSERVE_MODEL_GRAPH_FLAT_GRAPH_H_
#define SWAPSERVE_MODEL_GRAPH_FLAT_GRAPH_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tensorflow/core/framework/graph.pb.h"

namespace swapserve {

// One output of one flat node.
struct TensorRef {
  int node = -1;
  int index = 0;
  bool operator==(const TensorRef&) const = default;
  bool operator<(const TensorRef& o) const {
    return node != o.node ? node < o.node : index < o.index;
  }
};

struct FlatNode {
  std::string name;               // Full path, e.g. "StatefulPartitionedCall/dense/MatMul".
  const tensorflow::NodeDef* def;  // Op and attributes (owned by the GraphDef).
  std::vector<TensorRef> inputs;   // Data inputs, in order.
  std::vector<int> control_inputs;  // Nodes that must run first.
};

class FlatGraph {
 public:
  // `graph` (and its library) must outlive the FlatGraph.
  static absl::StatusOr<std::unique_ptr<FlatGraph>> Create(
      const tensorflow::GraphDef& graph);
  ~FlatGraph();

  // The flat tensor for a top-level tensor name ("x:0", "x", "call:1").
  absl::StatusOr<TensorRef> Resolve(absl::string_view tensor_name);
  // The flat nodes a top-level control dependency on `node_name` waits for (a
  // call node stands for everything its function returns or must run).
  absl::StatusOr<std::vector<int>> ResolveControl(absl::string_view node_name);

  const std::vector<FlatNode>& nodes() const { return nodes_; }
  const FlatNode& node(int i) const { return nodes_[i]; }

 private:
  struct Scope;
  FlatGraph() = default;
  absl::Status AddScope(Scope* scope,
                        const google::protobuf::RepeatedPtrField<tensorflow::NodeDef>& defs);
  absl::Status ResolveInputs(Scope* scope, int first_node);
  absl::StatusOr<TensorRef> ResolveIn(Scope* scope, absl::string_view input);
  absl::StatusOr<std::vector<int>> ControlIn(Scope* scope, absl::string_view name);
  absl::StatusOr<Scope*> ExpandCall(Scope* scope, const std::string& call_name);
  const tensorflow::FunctionDef* FindFunction(const tensorflow::NodeDef& def) const;

  const tensorflow::GraphDef* graph_ = nullptr;
  std::map<std::string, const tensorflow::FunctionDef*, std::less<>> functions_;
  std::vector<FlatNode> nodes_;
  std::vector<std::unique_ptr<Scope>> scopes_;
  Scope* top_ = nullptr;
  int resolve_depth_ = 0;  // current ResolveIn recursion depth
};

// Which flat output index `arg:i` of a node's named output argument is
// ("MatMul:product:0" in function bodies). Handles the multi-output ops the engine
// runs; other ops have one output argument, so the index is i.
int OutputIndex(const tensorflow::NodeDef& def, absl::string_view output_arg, int i);

// The number of outputs of the multi-output ops OutputIndex knows (from their
// attributes); 0 for other ops.
int KnownOutputCount(const tensorflow::NodeDef& def);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_GRAPH_FLAT_GRAPH_H_
