#include "model/graph/restore_map.h"

#include <deque>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/ops/node_attrs.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

bool IsIdentityLike(absl::string_view op) {
  return op == "Identity" || op == "Snapshot" || op == "StopGradient";
}

// Follows Identity chains back to the producing tensor.
TensorRef Trace(const FlatGraph& g, TensorRef ref) {
  for (int guard = 0; guard < 10000; ++guard) {
    const FlatNode& n = g.node(ref.node);
    if (!IsIdentityLike(n.def->op()) || n.inputs.empty()) return ref;
    ref = n.inputs[0];
  }
  return ref;
}

// Every node the restore op depends on, through data and control inputs.
std::vector<int> Ancestors(const FlatGraph& g, const std::vector<int>& roots) {
  std::set<int> seen(roots.begin(), roots.end());
  std::deque<int> queue(roots.begin(), roots.end());
  while (!queue.empty()) {
    const FlatNode& n = g.node(queue.front());
    queue.pop_front();
    for (const TensorRef& in : n.inputs) {
      if (seen.insert(in.node).second) queue.push_back(in.node);
    }
    for (int c : n.control_inputs) {
      if (seen.insert(c).second) queue.push_back(c);
    }
  }
  return std::vector<int>(seen.begin(), seen.end());
}

absl::StatusOr<std::vector<std::string>> ConstStrings(const FlatGraph& g, TensorRef ref) {
  const FlatNode& n = g.node(Trace(g, ref).node);
  if (n.def->op() != "Const") {
    return absl::InvalidArgumentError(
        absl::StrCat("restore input '", n.name, "' is not a constant"));
  }
  ASSIGN_OR_RETURN(Tensor t, NodeAttrs(*n.def).GetTensor("value"));
  if (t.dtype() != tensorflow::DT_STRING) {
    return absl::InvalidArgumentError(absl::StrCat("'", n.name, "' is not a string constant"));
  }
  return t.strings();
}

// Adds the variable an Assign/AssignVariableOp restores, if it is fed by RestoreV2.
absl::Status AddAssignment(const FlatGraph& g, const FlatNode& assign,
                           std::map<std::string, SlotSpec>* out) {
  if (assign.inputs.size() < 2) return absl::OkStatus();
  const TensorRef value = Trace(g, assign.inputs[1]);
  const FlatNode& restore = g.node(value.node);
  if (restore.def->op() != "RestoreV2" || restore.inputs.size() != 3) {
    return absl::OkStatus();  // e.g. an initializer, not a restore
  }
  const FlatNode& var = g.node(Trace(g, assign.inputs[0]).node);
  if (!IsVariableOp(var.def->op())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "restore op '", assign.name, "' assigns to '", var.name, "', not a variable"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, ConstStrings(g, restore.inputs[1]));
  ASSIGN_OR_RETURN(std::vector<std::string> slices, ConstStrings(g, restore.inputs[2]));
  if (value.index >= static_cast<int>(names.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", restore.name, "' output ", value.index, " has no tensor name"));
  }
  if (value.index < static_cast<int>(slices.size()) && !slices[value.index].empty()) {
    return absl::UnimplementedError(absl::StrCat(
        "variable ", VariableName(*var.def), " is restored from a slice ('",
        slices[value.index], "'); partitioned variables are not supported"));
  }
  NodeAttrs attrs(*var.def);
  SlotSpec spec;
  spec.variable = VariableName(*var.def);
  spec.checkpoint_key = names[value.index];
  ASSIGN_OR_RETURN(spec.dtype, attrs.GetType("dtype"));
  auto shape = var.def->attr().find("shape");
  if (shape != var.def->attr().end() && !shape->second.shape().unknown_rank()) {
    spec.shape_known = true;
    for (const auto& d : shape->second.shape().dim()) spec.shape.push_back(d.size());
  }
  (*out)[spec.variable] = std::move(spec);
  return absl::OkStatus();
}

}  // namespace

bool IsVariableOp(absl::string_view op) {
  return op == "VarHandleOp" || op == "VariableV2" || op == "Variable";
}

std::string VariableName(const tensorflow::NodeDef& def) {
  if (def.op() == "VarHandleOp") {
    auto it = def.attr().find("shared_name");
    if (it != def.attr().end() && !it->second.s().empty()) return it->second.s();
  }
  return def.name();
}

absl::StatusOr<std::map<std::string, SlotSpec>> ReadRestoreMap(
    FlatGraph& graph, const tensorflow::SaverDef& saver) {
  std::string op = saver.restore_op_name();
  if (absl::StartsWith(op, "^")) op = op.substr(1);
  if (const size_t colon = op.find(':'); colon != std::string::npos) op.resize(colon);
  if (op.empty()) return absl::NotFoundError("the model has no saver_def.restore_op_name");
  absl::StatusOr<std::vector<int>> roots = graph.ResolveControl(op);
  if (!roots.ok()) {
    return absl::Status(roots.status().code(),
                        absl::StrCat("restore op: ", roots.status().message()));
  }
  std::map<std::string, SlotSpec> out;
  for (int i : Ancestors(graph, *roots)) {
    const FlatNode& n = graph.node(i);
    if (n.def->op() == "AssignVariableOp" || n.def->op() == "Assign") {
      RETURN_IF_ERROR(AddAssignment(graph, n, &out));
    }
  }
  return out;
}

}  // namespace swapserve
