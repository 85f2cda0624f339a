// NodeAttrs: typed, checked access to a NodeDef's name, op and attributes, for
// kernel factories and the graph importer. Every error names the node, its op and
// the attribute.
//
// Thread safety: immutable; safe to share.
#ifndef SWAPSERVE_MODEL_OPS_NODE_ATTRS_H_
#define SWAPSERVE_MODEL_OPS_NODE_ATTRS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/tensor.h"
#include "tensorflow/core/framework/node_def.pb.h"

namespace swapserve {

class NodeAttrs {
 public:
  explicit NodeAttrs(const tensorflow::NodeDef& node) : node_(node) {}

  const std::string& name() const { return node_.name(); }
  const std::string& op() const { return node_.op(); }
  const tensorflow::NodeDef& node_def() const { return node_; }

  bool Has(absl::string_view attr) const;
  absl::StatusOr<DataType> GetType(absl::string_view attr) const;
  absl::StatusOr<bool> GetBool(absl::string_view attr) const;
  absl::StatusOr<int64_t> GetInt(absl::string_view attr) const;
  absl::StatusOr<float> GetFloat(absl::string_view attr) const;
  absl::StatusOr<std::string> GetString(absl::string_view attr) const;
  absl::StatusOr<std::vector<int64_t>> GetIntList(absl::string_view attr) const;
  absl::StatusOr<std::vector<DataType>> GetTypeList(absl::string_view attr) const;
  absl::StatusOr<Tensor> GetTensor(absl::string_view attr) const;

  // The same getters with a default for an absent attribute.
  bool GetBoolOr(absl::string_view attr, bool fallback) const;
  int64_t GetIntOr(absl::string_view attr, int64_t fallback) const;
  float GetFloatOr(absl::string_view attr, float fallback) const;
  std::string GetStringOr(absl::string_view attr, absl::string_view fallback) const;

  // An error "<op> node '<name>': <message>" with `code`.
  absl::Status Error(absl::StatusCode code, absl::string_view message) const;
  absl::Status Unsupported(absl::string_view message) const {
    return Error(absl::StatusCode::kUnimplemented, message);
  }
  absl::Status Invalid(absl::string_view message) const {
    return Error(absl::StatusCode::kInvalidArgument, message);
  }

 private:
  absl::StatusOr<const tensorflow::AttrValue*> Find(absl::string_view attr,
                                                    tensorflow::AttrValue::ValueCase kind) const;
  const tensorflow::NodeDef& node_;
};

// A node's op and name, for a kernel to keep: its Compute-time errors then read
// like NodeAttrs' ("<op> node '<name>': ...") without holding the NodeDef, which
// may not outlive the kernel. Immutable; safe to share.
class NodeName {
 public:
  explicit NodeName(const NodeAttrs& attrs) : op_(attrs.op()), name_(attrs.name()) {}

  const std::string& op() const { return op_; }
  const std::string& name() const { return name_; }
  absl::Status Error(absl::StatusCode code, absl::string_view message) const;
  absl::Status Unsupported(absl::string_view message) const {
    return Error(absl::StatusCode::kUnimplemented, message);
  }
  absl::Status Invalid(absl::string_view message) const {
    return Error(absl::StatusCode::kInvalidArgument, message);
  }

 private:
  std::string op_, name_;
};

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_OPS_NODE_ATTRS_H_
