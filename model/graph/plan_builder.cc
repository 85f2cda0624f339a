// Compiles a TF SignatureDef of a flat graph into a Plan (see plan_builder.h).
#include "model/graph/plan_builder.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "model/graph/fuse_steps.h"
#include "model/graph/restore_map.h"
#include "model/ops/node_attrs.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

bool IsAlias(absl::string_view op) {
  return op == "Identity" || op == "Snapshot" || op == "StopGradient" ||
         op == "PreventGradient" || op == "ReadVariableOp" || op == "IdentityN";
}

// No op the engine runs has more outputs; a larger index is a malformed graph.
constexpr int kMaxOutputs = 4096;

// Kernels whose result may differ between runs with equal inputs.
bool IsFoldable(absl::string_view op) {
  return op.find("Random") == absl::string_view::npos;
}

class Builder {
 public:
  Builder(FlatGraph& g, const std::string& name, const tensorflow::SignatureDef& sig,
          const SlotResolver& slots)
      : g_(g), name_(name), sig_(sig), slots_(slots) {}

  absl::StatusOr<std::unique_ptr<Plan>> Build();

 private:
  absl::Status Error(absl::StatusCode code, const std::string& what) const {
    return absl::Status(code, absl::StrCat("signature '", name_, "': ", what));
  }
  absl::StatusOr<std::vector<PlanTensor>> Tensors(
      const google::protobuf::Map<std::string, tensorflow::TensorInfo>& infos,
      std::vector<TensorRef>* refs);
  std::vector<int> Reachable(const std::vector<TensorRef>& fetches) const;
  absl::StatusOr<std::vector<int>> TopoSort(const std::vector<int>& nodes) const;
  absl::Status Visit(int node);
  absl::Status AddKernel(int node);
  int NewValue(Plan::Value v) {
    values_.push_back(std::move(v));
    return static_cast<int>(values_.size()) - 1;
  }
  int NumOutputs(int node) const;
  // The value of a flat tensor already visited, or an error naming `user`.
  absl::StatusOr<int> ValueOf(const TensorRef& ref, const std::string& user) const {
    auto it = value_of_.find(ref);
    if (it != value_of_.end()) return it->second;
    return Error(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("'", user, "' uses output ", ref.index, " of '",
                              g_.node(ref.node).name, "', which is not available"));
  }

  FlatGraph& g_;
  const std::string& name_;
  const tensorflow::SignatureDef& sig_;
  const SlotResolver& slots_;
  std::map<TensorRef, int> feeds_;     // fed tensor -> input index
  std::set<int> fed_nodes_;            // nodes with a fed output
  std::map<TensorRef, int> value_of_;  // flat tensor -> value id
  std::map<int, int> max_output_;      // node -> highest output index used
  std::vector<Plan::Value> values_;
  std::vector<Plan::Step> steps_;
  std::vector<const tensorflow::NodeDef*> step_defs_;  // the node each step runs
};

absl::StatusOr<std::vector<PlanTensor>> Builder::Tensors(
    const google::protobuf::Map<std::string, tensorflow::TensorInfo>& infos,
    std::vector<TensorRef>* refs) {
  std::map<std::string, const tensorflow::TensorInfo*> sorted;
  for (const auto& [alias, info] : infos) sorted[alias] = &info;
  std::vector<PlanTensor> out;
  for (const auto& [alias, info] : sorted) {
    if (info->encoding_case() != tensorflow::TensorInfo::kName) {
      return Error(absl::StatusCode::kUnimplemented,
                   absl::StrCat("'", alias, "' is a sparse or composite tensor"));
    }
    absl::StatusOr<TensorRef> ref = g_.Resolve(info->name());
    if (!ref.ok()) return Error(ref.status().code(), std::string(ref.status().message()));
    PlanTensor t;
    t.alias = alias;
    t.tensor_name = info->name();
    t.dtype = info->dtype();
    t.shape_known = !info->tensor_shape().unknown_rank();
    for (const auto& d : info->tensor_shape().dim()) t.shape.push_back(d.size());
    out.push_back(std::move(t));
    refs->push_back(*ref);
  }
  return out;
}

std::vector<int> Builder::Reachable(const std::vector<TensorRef>& fetches) const {
  std::set<int> seen;
  std::deque<int> queue;
  for (const TensorRef& f : fetches) {
    if (seen.insert(f.node).second) queue.push_back(f.node);
  }
  while (!queue.empty()) {
    const int n = queue.front();
    queue.pop_front();
    const FlatNode& node = g_.node(n);
    if (fed_nodes_.contains(n)) continue;  // a fed node's inputs are not needed
    for (const TensorRef& in : node.inputs) {
      if (seen.insert(in.node).second) queue.push_back(in.node);
    }
    for (int c : node.control_inputs) {
      if (seen.insert(c).second) queue.push_back(c);
    }
  }
  return std::vector<int>(seen.begin(), seen.end());
}

absl::StatusOr<std::vector<int>> Builder::TopoSort(const std::vector<int>& nodes) const {
  const std::set<int> in_set(nodes.begin(), nodes.end());
  std::map<int, int> pending;
  std::map<int, std::vector<int>> users;
  for (int n : nodes) {
    pending[n] = 0;
    if (fed_nodes_.contains(n)) continue;
    std::set<int> deps;
    for (const TensorRef& in : g_.node(n).inputs) deps.insert(in.node);
    for (int c : g_.node(n).control_inputs) deps.insert(c);
    for (int d : deps) {
      if (!in_set.contains(d)) continue;
      ++pending[n];
      users[d].push_back(n);
    }
  }
  std::deque<int> ready;
  for (int n : nodes) {
    if (pending[n] == 0) ready.push_back(n);
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const int n = ready.front();
    ready.pop_front();
    order.push_back(n);
    for (int u : users[n]) {
      if (--pending[u] == 0) ready.push_back(u);
    }
  }
  if (order.size() != nodes.size()) {
    return Error(absl::StatusCode::kInvalidArgument, "the graph has a cycle");
  }
  return order;
}

int Builder::NumOutputs(int node) const {
  const tensorflow::NodeDef& def = *g_.node(node).def;
  int n = 1;
  if (auto it = max_output_.find(node); it != max_output_.end()) n = it->second + 1;
  n = std::max(n, KnownOutputCount(def));
  if (def.op() == "IdentityN") n = std::max<int>(n, g_.node(node).inputs.size());
  if (def.op() == "Unpack") n = std::max<int>(n, NodeAttrs(def).GetIntOr("num", 1));
  if (def.op() == "Split" || def.op() == "SplitV") {
    n = std::max<int>(n, NodeAttrs(def).GetIntOr("num_split", 1));
  }
  return n;
}

absl::Status Builder::AddKernel(int node) {
  const FlatNode& n = g_.node(node);
  NodeAttrs attrs(*n.def);
  KernelFactory factory = KernelRegistry::Global().Find(n.def->op());
  if (factory == nullptr) {
    return Error(absl::StatusCode::kUnimplemented,
                 absl::StrCat("unsupported op '", n.def->op(), "' at node '", n.name, "'"));
  }
  absl::StatusOr<std::unique_ptr<Kernel>> kernel =
      factory(KernelContext{attrs, static_cast<int>(n.inputs.size())});
  if (!kernel.ok()) return Error(kernel.status().code(), std::string(kernel.status().message()));
  Plan::Step step;
  step.node = n.name;
  step.kernel = *std::move(kernel);
  bool all_constant = IsFoldable(n.def->op());
  for (const TensorRef& in : n.inputs) {
    ASSIGN_OR_RETURN(const int v, ValueOf(in, n.name));
    step.inputs.push_back(v);
    all_constant &= values_[v].kind == Plan::Value::kConstant;
  }
  const int num_outputs = NumOutputs(node);
  if (all_constant) {  // fold now: the results become constants
    std::vector<Tensor> args, results(num_outputs);
    for (int v : step.inputs) args.push_back(values_[v].constant);
    absl::Status s = step.kernel->Compute(args, results);
    if (!s.ok()) return Error(s.code(), absl::StrCat("node '", n.name, "': ", s.message()));
    for (int k = 0; k < num_outputs; ++k) {
      Plan::Value c;
      c.kind = Plan::Value::kConstant;
      c.constant = std::move(results[k]);
      value_of_[{node, k}] = NewValue(std::move(c));
    }
    return absl::OkStatus();
  }
  for (int k = 0; k < num_outputs; ++k) {
    const int v = NewValue(Plan::Value{});
    value_of_[{node, k}] = v;
    step.outputs.push_back(v);
  }
  steps_.push_back(std::move(step));
  step_defs_.push_back(n.def);
  return absl::OkStatus();
}

absl::Status Builder::Visit(int node) {
  const FlatNode& n = g_.node(node);
  const std::string& op = n.def->op();
  // TF lets a signature feed any tensor (half_plus_two feeds an Identity): a fed
  // node's inputs are pruned and its fed outputs become request inputs.
  bool fed = false;
  for (const auto& [ref, index] : feeds_) {
    if (ref.node != node) continue;
    value_of_[ref] = NewValue(Plan::Value{Plan::Value::kInput, index, Tensor()});
    fed = true;
  }
  if (fed) return absl::OkStatus();
  if (op == "NoOp") return absl::OkStatus();
  if (op == "Placeholder") {
    return Error(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("needs placeholder '", n.name, "', which is not an input"));
  }
  if (op == "PlaceholderWithDefault" || (IsAlias(op) && op != "IdentityN")) {
    if (n.inputs.empty()) return Error(absl::StatusCode::kInvalidArgument, n.name + " has no input");
    ASSIGN_OR_RETURN(const int v, ValueOf(n.inputs[0], n.name));
    value_of_[TensorRef{node, 0}] = v;
    return absl::OkStatus();
  }
  if (op == "IdentityN") {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      ASSIGN_OR_RETURN(const int v, ValueOf(n.inputs[i], n.name));
      value_of_[TensorRef{node, static_cast<int>(i)}] = v;
    }
    return absl::OkStatus();
  }
  if (op == "Const") {
    absl::StatusOr<Tensor> t = NodeAttrs(*n.def).GetTensor("value");
    if (!t.ok()) return Error(t.status().code(), std::string(t.status().message()));
    value_of_[{node, 0}] = NewValue(Plan::Value{Plan::Value::kConstant, -1, *t});
    return absl::OkStatus();
  }
  if (IsVariableOp(op)) {
    absl::StatusOr<int> slot = slots_(*n.def);
    if (!slot.ok()) return Error(slot.status().code(), std::string(slot.status().message()));
    value_of_[{node, 0}] = NewValue(Plan::Value{Plan::Value::kSlot, *slot, Tensor()});
    return absl::OkStatus();
  }
  return AddKernel(node);
}

absl::StatusOr<std::unique_ptr<Plan>> Builder::Build() {
  std::vector<TensorRef> feed_refs, fetch_refs;
  ASSIGN_OR_RETURN(std::vector<PlanTensor> inputs, Tensors(sig_.inputs(), &feed_refs));
  ASSIGN_OR_RETURN(std::vector<PlanTensor> outputs, Tensors(sig_.outputs(), &fetch_refs));
  for (size_t i = 0; i < feed_refs.size(); ++i) {
    feeds_[feed_refs[i]] = static_cast<int>(i);
    fed_nodes_.insert(feed_refs[i].node);
  }
  const std::vector<int> reachable = Reachable(fetch_refs);
  auto use = [&](const TensorRef& ref, const std::string& user) -> absl::Status {
    if (ref.index >= kMaxOutputs) {
      return Error(absl::StatusCode::kInvalidArgument,
                   absl::StrCat("'", user, "' uses output ", ref.index, " of '",
                                g_.node(ref.node).name, "'"));
    }
    max_output_[ref.node] = std::max(max_output_[ref.node], ref.index);
    return absl::OkStatus();
  };
  for (int n : reachable) {
    for (const TensorRef& in : g_.node(n).inputs) RETURN_IF_ERROR(use(in, g_.node(n).name));
  }
  for (size_t i = 0; i < fetch_refs.size(); ++i) {
    RETURN_IF_ERROR(use(fetch_refs[i], outputs[i].alias));
  }
  ASSIGN_OR_RETURN(std::vector<int> order, TopoSort(reachable));
  for (int n : order) RETURN_IF_ERROR(Visit(n));
  for (size_t i = 0; i < inputs.size(); ++i) {
    // A feed no output needs was never visited; it still takes its place.
    if (!value_of_.contains(feed_refs[i])) {
      value_of_[feed_refs[i]] =
          NewValue(Plan::Value{Plan::Value::kInput, static_cast<int>(i), Tensor()});
    }
    ASSIGN_OR_RETURN(inputs[i].value, ValueOf(feed_refs[i], inputs[i].alias));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto it = value_of_.find(fetch_refs[i]);
    if (it == value_of_.end()) {
      return Error(absl::StatusCode::kInvalidArgument,
                   absl::StrCat("output '", outputs[i].alias, "' is not produced"));
    }
    outputs[i].value = it->second;
  }
  std::set<int> pinned;
  for (const PlanTensor& o : outputs) pinned.insert(o.value);
  FuseBiasActivation(steps_, step_defs_, pinned);
  return std::make_unique<Plan>(name_, sig_.method_name(), std::move(inputs),
                                std::move(outputs), std::move(values_), std::move(steps_));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Plan>> BuildPlan(FlatGraph& graph,
                                                const std::string& signature_name,
                                                const tensorflow::SignatureDef& signature,
                                                const SlotResolver& slots) {
  return Builder(graph, signature_name, signature, slots).Build();
}

}  // namespace swapserve
