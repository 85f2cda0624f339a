#include "model/ops/node_attrs.h"

#include "absl/strings/str_cat.h"
#include "model/tensor_proto.h"
#include "model/util/status_macros.h"

namespace swapserve {

using tensorflow::AttrValue;

bool NodeAttrs::Has(absl::string_view attr) const {
  return node_.attr().contains(std::string(attr));
}

namespace {

absl::Status NodeError(absl::StatusCode code, absl::string_view op, absl::string_view name,
                       absl::string_view message) {
  return absl::Status(code, absl::StrCat(op, " node '", name, "': ", message));
}

}  // namespace

absl::Status NodeAttrs::Error(absl::StatusCode code, absl::string_view message) const {
  return NodeError(code, op(), name(), message);
}

absl::Status NodeName::Error(absl::StatusCode code, absl::string_view message) const {
  return NodeError(code, op_, name_, message);
}

absl::StatusOr<const AttrValue*> NodeAttrs::Find(absl::string_view attr,
                                                 AttrValue::ValueCase kind) const {
  auto it = node_.attr().find(std::string(attr));
  if (it == node_.attr().end()) {
    return Invalid(absl::StrCat("missing attribute '", attr, "'"));
  }
  if (it->second.value_case() != kind) {
    return Invalid(absl::StrCat("attribute '", attr, "' has the wrong kind"));
  }
  return &it->second;
}

absl::StatusOr<DataType> NodeAttrs::GetType(absl::string_view attr) const {
  ASSIGN_OR_RETURN(const AttrValue* v, Find(attr, AttrValue::kType));
  return v->type();
}

absl::StatusOr<bool> NodeAttrs::GetBool(absl::string_view attr) const {
  ASSIGN_OR_RETURN(const AttrValue* v, Find(attr, AttrValue::kB));
  return v->b();
}

absl::StatusOr<int64_t> NodeAttrs::GetInt(absl::string_view attr) const {
  ASSIGN_OR_RETURN(const AttrValue* v, Find(attr, AttrValue::kI));
  return v->i();
}

absl::StatusOr<float> NodeAttrs::GetFloat(absl::string_view attr) const {
  ASSIGN_OR_RETURN(const AttrValue* v, Find(attr, AttrValue::kF));
  return v->f();
}

absl::StatusOr<std::string> NodeAttrs::GetString(absl::string_view attr) const {
  ASSIGN_OR_RETURN(const AttrValue* v, Find(attr, AttrValue::kS));
  return v->s();
}

absl::StatusOr<std::vector<int64_t>> NodeAttrs::GetIntList(absl::string_view attr) const {
  ASSIGN_OR_RETURN(const AttrValue* v, Find(attr, AttrValue::kList));
  return std::vector<int64_t>(v->list().i().begin(), v->list().i().end());
}

absl::StatusOr<std::vector<DataType>> NodeAttrs::GetTypeList(
    absl::string_view attr) const {
  ASSIGN_OR_RETURN(const AttrValue* v, Find(attr, AttrValue::kList));
  std::vector<DataType> types;
  for (int t : v->list().type()) types.push_back(static_cast<DataType>(t));
  return types;
}

absl::StatusOr<Tensor> NodeAttrs::GetTensor(absl::string_view attr) const {
  ASSIGN_OR_RETURN(const AttrValue* v, Find(attr, AttrValue::kTensor));
  absl::StatusOr<Tensor> t = TensorFromProto(v->tensor());
  if (!t.ok()) {
    return Invalid(absl::StrCat("attribute '", attr, "': ", t.status().message()));
  }
  return t;
}

bool NodeAttrs::GetBoolOr(absl::string_view attr, bool fallback) const {
  absl::StatusOr<bool> v = GetBool(attr);
  return v.ok() ? *v : fallback;
}

int64_t NodeAttrs::GetIntOr(absl::string_view attr, int64_t fallback) const {
  absl::StatusOr<int64_t> v = GetInt(attr);
  return v.ok() ? *v : fallback;
}

float NodeAttrs::GetFloatOr(absl::string_view attr, float fallback) const {
  absl::StatusOr<float> v = GetFloat(attr);
  return v.ok() ? *v : fallback;
}

std::string NodeAttrs::GetStringOr(absl::string_view attr,
                                   absl::string_view fallback) const {
  absl::StatusOr<std::string> v = GetString(attr);
  return v.ok() ? *v : std::string(fallback);
}

}  // namespace swapserve
