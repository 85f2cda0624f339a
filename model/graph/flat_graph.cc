#include "model/graph/flat_graph.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

// Calls nest a few levels in real graphs; this bounds recursion on hostile ones.
constexpr int kMaxCallDepth = 64;
// Inlining copies a function body per call; this bounds graphs whose calls fan
// out exponentially (F calls F' twice, F' calls F'' twice, ...).
constexpr size_t kMaxFlatNodes = 1'000'000;
// Resolving a tensor follows arguments to their callers and results to their
// producers; a graph that feeds a call its own result would loop forever.
constexpr int kMaxResolveDepth = 4 * kMaxCallDepth;

bool IsCallOp(absl::string_view op) {
  return op == "StatefulPartitionedCall" || op == "PartitionedCall";
}

// Output arguments of the multi-output ops the engine runs, in order, with how
// many tensors each holds (given the node's attributes).
std::vector<std::pair<std::string, int>> OutputArgs(const tensorflow::NodeDef& def) {
  auto attr_int = [&](const char* name) {
    auto it = def.attr().find(name);
    return it == def.attr().end() ? 0 : static_cast<int>(it->second.i());
  };
  auto attr_list = [&](const char* name) {
    auto it = def.attr().find(name);
    return it == def.attr().end() ? 0 : it->second.list().type_size();
  };
  const std::string& op = def.op();
  if (op == "FusedBatchNorm" || op == "FusedBatchNormV2" || op == "FusedBatchNormV3") {
    std::vector<std::pair<std::string, int>> args = {
        {"y", 1}, {"batch_mean", 1}, {"batch_variance", 1},
        {"reserve_space_1", 1}, {"reserve_space_2", 1}};
    if (op == "FusedBatchNormV3") args.push_back({"reserve_space_3", 1});
    return args;
  }
  if (op == "ParseExample") {
    const int ns = attr_int("Nsparse");
    return {{"sparse_indices", ns}, {"sparse_values", ns}, {"sparse_shapes", ns},
            {"dense_values", attr_list("Tdense")}};
  }
  if (op == "ParseExampleV2") {
    const int ns = attr_int("num_sparse");
    return {{"sparse_indices", ns}, {"sparse_values", ns}, {"sparse_shapes", ns},
            {"dense_values", attr_list("Tdense")},
            {"ragged_values", attr_list("ragged_value_types")},
            {"ragged_row_splits", attr_list("ragged_value_types")}};
  }
  if (op == "Unique" || op == "TopKV2") return {{"", 1}, {"", 1}};
  return {};
}

}  // namespace

int OutputIndex(const tensorflow::NodeDef& def, absl::string_view output_arg, int i) {
  int offset = 0;
  for (const auto& [name, count] : OutputArgs(def)) {
    if (name == output_arg) return offset + i;
    offset += count;
  }
  if ((def.op() == "Unique" || def.op() == "TopKV2") && output_arg != "y" &&
      output_arg != "values") {
    return 1 + i;
  }
  return i;
}

int KnownOutputCount(const tensorflow::NodeDef& def) {
  int n = 0;
  for (const auto& [name, count] : OutputArgs(def)) n += count;
  return n;
}

struct FlatGraph::Scope {
  std::string prefix;  // "" at the top, "call/" inside a call
  Scope* parent = nullptr;
  const tensorflow::FunctionDef* fn = nullptr;
  int depth = 0;
  // Function scopes: argument name -> the call's input, in the parent scope.
  std::map<std::string, std::string, std::less<>> args;
  std::map<std::string, int, std::less<>> nodes;  // local name -> flat node
  std::map<std::string, const tensorflow::NodeDef*, std::less<>> calls;
  std::map<std::string, Scope*, std::less<>> expanded;
  std::map<std::string, absl::Status, std::less<>> failed;

  std::string Where() const {
    return fn == nullptr ? "the graph" : absl::StrCat("function ", fn->signature().name());
  }
};

FlatGraph::~FlatGraph() = default;

absl::StatusOr<std::unique_ptr<FlatGraph>> FlatGraph::Create(
    const tensorflow::GraphDef& graph) {
  std::unique_ptr<FlatGraph> g(new FlatGraph);
  g->graph_ = &graph;
  for (const auto& f : graph.library().function()) g->functions_[f.signature().name()] = &f;
  g->scopes_.push_back(std::make_unique<Scope>());
  g->top_ = g->scopes_.back().get();
  RETURN_IF_ERROR(g->AddScope(g->top_, graph.node()));
  RETURN_IF_ERROR(g->ResolveInputs(g->top_, 0));
  return g;
}

const tensorflow::FunctionDef* FlatGraph::FindFunction(
    const tensorflow::NodeDef& def) const {
  std::string name = def.op();
  if (IsCallOp(def.op())) {
    auto it = def.attr().find("f");
    if (it == def.attr().end()) return nullptr;
    name = it->second.func().name();
  }
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : it->second;
}

absl::Status FlatGraph::AddScope(
    Scope* scope, const google::protobuf::RepeatedPtrField<tensorflow::NodeDef>& defs) {
  for (const tensorflow::NodeDef& def : defs) {
    if (scope->nodes.contains(def.name()) || scope->calls.contains(def.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate node '", def.name(), "' in ", scope->Where()));
    }
    if (FindFunction(def) != nullptr) {
      scope->calls[def.name()] = &def;
      continue;
    }
    if (IsCallOp(def.op())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node '", scope->prefix, def.name(), "' calls a function missing from the library"));
    }
    if (nodes_.size() >= kMaxFlatNodes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "inlining function calls gives more than ", kMaxFlatNodes, " nodes"));
    }
    scope->nodes[def.name()] = static_cast<int>(nodes_.size());
    nodes_.push_back(FlatNode{scope->prefix + def.name(), &def, {}, {}});
  }
  return absl::OkStatus();
}

absl::Status FlatGraph::ResolveInputs(Scope* scope, int first_node) {
  const int end = static_cast<int>(nodes_.size());
  for (int i = first_node; i < end; ++i) {
    std::vector<TensorRef> inputs;
    std::vector<int> controls;
    const tensorflow::NodeDef* def = nodes_[i].def;  // stable: owned by the GraphDef
    for (const std::string& in : def->input()) {
      if (!in.empty() && in[0] == '^') {
        ASSIGN_OR_RETURN(std::vector<int> c, ControlIn(scope, absl::string_view(in).substr(1)));
        controls.insert(controls.end(), c.begin(), c.end());
      } else {
        ASSIGN_OR_RETURN(TensorRef ref, ResolveIn(scope, in));
        inputs.push_back(ref);
      }
    }
    nodes_[i].inputs = std::move(inputs);
    nodes_[i].control_inputs = std::move(controls);
  }
  return absl::OkStatus();
}

absl::StatusOr<FlatGraph::Scope*> FlatGraph::ExpandCall(Scope* scope,
                                                        const std::string& call_name) {
  if (auto it = scope->expanded.find(call_name); it != scope->expanded.end()) {
    return it->second;
  }
  if (auto it = scope->failed.find(call_name); it != scope->failed.end()) return it->second;
  const tensorflow::NodeDef& call = *scope->calls.at(call_name);
  const tensorflow::FunctionDef* fn = FindFunction(call);
  if (scope->depth >= kMaxCallDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "function calls nest deeper than ", kMaxCallDepth, " at '", scope->prefix,
        call_name, "' (recursive function?)"));
  }
  if (scopes_.size() >= kMaxFlatNodes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "inlining function calls gives more than ", kMaxFlatNodes, " calls"));
  }
  scopes_.push_back(std::make_unique<Scope>());
  Scope* callee = scopes_.back().get();
  callee->prefix = absl::StrCat(scope->prefix, call_name, "/");
  callee->parent = scope;
  callee->fn = fn;
  callee->depth = scope->depth + 1;
  std::vector<std::string> data_inputs;
  for (const std::string& in : call.input()) {
    if (in.empty() || in[0] != '^') data_inputs.push_back(in);
  }
  if (static_cast<int>(data_inputs.size()) != fn->signature().input_arg_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "call '", callee->prefix, "' passes ", data_inputs.size(), " inputs to function ",
        fn->signature().name(), " which takes ", fn->signature().input_arg_size()));
  }
  for (int i = 0; i < fn->signature().input_arg_size(); ++i) {
    callee->args[fn->signature().input_arg(i).name()] = data_inputs[i];
  }
  scope->expanded[call_name] = callee;
  const int first = static_cast<int>(nodes_.size());
  absl::Status s = AddScope(callee, fn->node_def());
  if (s.ok()) s = ResolveInputs(callee, first);
  if (!s.ok()) {
    // Later lookups of this call must see the failure, not a half-built scope.
    scope->failed[call_name] = s;
    scope->expanded.erase(call_name);
    return s;
  }
  return callee;
}

absl::StatusOr<TensorRef> FlatGraph::ResolveIn(Scope* scope, absl::string_view input) {
  struct DepthGuard {
    int& depth;
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
  } guard(resolve_depth_);
  if (resolve_depth_ > kMaxResolveDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resolving '", input, "' in ", scope->Where(),
        " loops through function arguments (a call fed its own result?)"));
  }
  std::vector<std::string> parts = absl::StrSplit(input, ':');
  const bool in_function = scope->fn != nullptr;
  if (parts.size() == 1 && in_function) {
    if (auto it = scope->args.find(parts[0]); it != scope->args.end()) {
      return ResolveIn(scope->parent, it->second);
    }
  }
  int index = 0;
  std::string output_arg;
  if (parts.size() == 2) {
    if (!absl::SimpleAtoi(parts[1], &index)) index = -1;
  } else if (parts.size() == 3) {
    output_arg = parts[1];
    if (!absl::SimpleAtoi(parts[2], &index)) index = -1;
  } else if (parts.size() != 1) {
    index = -1;
  }
  if (index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed input '", input, "' in ", scope->Where()));
  }
  const std::string& name = parts[0];
  if (auto it = scope->nodes.find(name); it != scope->nodes.end()) {
    if (!output_arg.empty()) index = OutputIndex(*nodes_[it->second].def, output_arg, index);
    return TensorRef{it->second, index};
  }
  if (scope->calls.contains(name)) {
    ASSIGN_OR_RETURN(Scope * callee, ExpandCall(scope, name));
    const auto& sig = callee->fn->signature();
    if (!output_arg.empty() && !IsCallOp(scope->calls.at(name)->op())) {
      index = -1;
      for (int i = 0; i < sig.output_arg_size(); ++i) {
        if (sig.output_arg(i).name() == output_arg) index = i;
      }
    }
    if (index < 0 || index >= sig.output_arg_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", input, "' names no output of function ", sig.name()));
    }
    auto ret = callee->fn->ret().find(sig.output_arg(index).name());
    if (ret == callee->fn->ret().end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "function ", sig.name(), " does not return ", sig.output_arg(index).name()));
    }
    return ResolveIn(callee, ret->second);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("input '", input, "' names no node in ", scope->Where()));
}

absl::StatusOr<std::vector<int>> FlatGraph::ControlIn(Scope* scope, absl::string_view name) {
  if (auto it = scope->nodes.find(name); it != scope->nodes.end()) {
    return std::vector<int>{it->second};
  }
  if (scope->fn != nullptr && scope->args.contains(name)) {
    ASSIGN_OR_RETURN(TensorRef ref, ResolveIn(scope, name));
    return std::vector<int>{ref.node};
  }
  if (!scope->calls.contains(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "control input '^", name, "' names no node in ", scope->Where()));
  }
  ASSIGN_OR_RETURN(Scope * callee, ExpandCall(scope, std::string(name)));
  std::vector<int> out;
  for (const auto& [ret_name, ret] : callee->fn->ret()) {
    ASSIGN_OR_RETURN(TensorRef ref, ResolveIn(callee, ret));
    out.push_back(ref.node);
  }
  for (const auto& [ret_name, node_name] : callee->fn->control_ret()) {
    ASSIGN_OR_RETURN(std::vector<int> c, ControlIn(callee, node_name));
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

absl::StatusOr<TensorRef> FlatGraph::Resolve(absl::string_view tensor_name) {
  return ResolveIn(top_, tensor_name);
}

absl::StatusOr<std::vector<int>> FlatGraph::ResolveControl(absl::string_view node_name) {
  return ControlIn(top_, node_name);
}

}  // namespace swapserve
