// Which checkpoint key restores which variable, read from the model's own restore
// path — never guessed from names. TF2: the restore function that
// saver_def.restore_op_name calls (RestoreV2's tensor_names constant feeding
// AssignVariableOp on each variable handle); TF1: save/restore_all's Assign ops fed
// by save/RestoreV2. Stateless function.
#ifndef SWAPSERVE_MODEL_GRAPH_RESTORE_MAP_H_
#define SWAPSERVE_MODEL_GRAPH_RESTORE_MAP_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "model/graph/flat_graph.h"
#include "model/weights.h"
#include "tensorflow/core/protobuf/saver.pb.h"

namespace swapserve {

// The name a variable is known by: a VarHandleOp's shared_name (its node name when
// empty), a VariableV2's node name.
std::string VariableName(const tensorflow::NodeDef& def);
bool IsVariableOp(absl::string_view op);

// Variable name -> slot spec (key, dtype, shape) for every variable the restore op
// assigns from a RestoreV2. Fails if the restore path is malformed.
absl::StatusOr<std::map<std::string, SlotSpec>> ReadRestoreMap(
    FlatGraph& graph, const tensorflow::SaverDef& saver);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_GRAPH_RESTORE_MAP_H_
