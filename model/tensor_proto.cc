#include "model/tensor_proto.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

constexpr int64_t kMaxExpandedElements = int64_t{1} << 24;

// The typed-value field the proto's dtype uses, and how many values it carries.
struct TypedValues {
  const char* field;
  int count;
};

TypedValues TypedValuesOf(const tensorflow::TensorProto& p) {
  switch (p.dtype()) {
    case tensorflow::DT_FLOAT: return {"float_val", p.float_val_size()};
    case tensorflow::DT_DOUBLE: return {"double_val", p.double_val_size()};
    case tensorflow::DT_HALF:
    case tensorflow::DT_BFLOAT16: return {"half_val", p.half_val_size()};
    case tensorflow::DT_INT8:
    case tensorflow::DT_INT16:
    case tensorflow::DT_INT32:
    case tensorflow::DT_UINT8:
    case tensorflow::DT_UINT16: return {"int_val", p.int_val_size()};
    case tensorflow::DT_INT64: return {"int64_val", p.int64_val_size()};
    case tensorflow::DT_UINT32: return {"uint32_val", p.uint32_val_size()};
    case tensorflow::DT_UINT64: return {"uint64_val", p.uint64_val_size()};
    case tensorflow::DT_BOOL: return {"bool_val", p.bool_val_size()};
    case tensorflow::DT_STRING: return {"string_val", p.string_val_size()};
    default: return {"", 0};
  }
}

// Writes every element of `t`: the values, then the last one repeated (none: zeros).
template <typename T, typename Field>
void FillFrom(const Field& values, Tensor* t) {
  T* out = t->data<T>();
  const int64_t n = t->num_elements();
  const int64_t have = std::min<int64_t>(values.size(), n);
  std::transform(values.begin(), values.begin() + have, out,
                 [](auto v) { return static_cast<T>(v); });
  std::fill(out + have, out + n, have == 0 ? T() : out[have - 1]);
}

void FillTyped(const tensorflow::TensorProto& p, Tensor* t) {
  switch (p.dtype()) {
    case tensorflow::DT_FLOAT: return FillFrom<float>(p.float_val(), t);
    case tensorflow::DT_DOUBLE: return FillFrom<double>(p.double_val(), t);
    case tensorflow::DT_HALF:
    case tensorflow::DT_BFLOAT16: return FillFrom<uint16_t>(p.half_val(), t);
    case tensorflow::DT_INT8: return FillFrom<int8_t>(p.int_val(), t);
    case tensorflow::DT_INT16: return FillFrom<int16_t>(p.int_val(), t);
    case tensorflow::DT_INT32: return FillFrom<int32_t>(p.int_val(), t);
    case tensorflow::DT_UINT8: return FillFrom<uint8_t>(p.int_val(), t);
    case tensorflow::DT_UINT16: return FillFrom<uint16_t>(p.int_val(), t);
    case tensorflow::DT_INT64: return FillFrom<int64_t>(p.int64_val(), t);
    case tensorflow::DT_UINT32: return FillFrom<uint32_t>(p.uint32_val(), t);
    case tensorflow::DT_UINT64: return FillFrom<uint64_t>(p.uint64_val(), t);
    case tensorflow::DT_BOOL: return FillFrom<uint8_t>(p.bool_val(), t);
    case tensorflow::DT_STRING: {
      const int64_t n = t->num_elements(), have = p.string_val_size();
      for (int64_t i = 0; i < n; ++i) {
        t->strings()[i] = have == 0 ? "" : p.string_val(i < have ? i : have - 1);
      }
      return;
    }
    default: return;
  }
}

}  // namespace

absl::StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto) {
  const DataType dtype = proto.dtype();
  if (!IsSupportedDataType(dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported tensor dtype ", DataTypeName(dtype)));
  }
  absl::StatusOr<TensorShape> shape = TensorShape::FromProto(proto.tensor_shape());
  if (!shape.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid tensor shape: ", shape.status().message()));
  }
  const TypedValues values = TypedValuesOf(proto);
  const int typed = values.count;
  const bool has_content = !proto.tensor_content().empty();
  if (has_content && typed > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", DataTypeName(dtype), shape->DebugString(), " has both tensor_content (",
        proto.tensor_content().size(), " bytes) and ", values.field, " (", typed,
        " values); send one or the other"));
  }
  if (has_content && dtype == tensorflow::DT_STRING) {
    return absl::InvalidArgumentError("string tensors cannot use tensor_content");
  }
  if (typed > shape->num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", DataTypeName(dtype), shape->DebugString(), " has ", typed,
        " values for ", shape->num_elements(), " elements"));
  }
  // Fewer values than elements repeat the last one: cheap to send, costly to
  // expand. Bound what a few bytes on the wire can make us allocate.
  if (!has_content && typed < shape->num_elements() &&
      shape->num_elements() > kMaxExpandedElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", DataTypeName(dtype), shape->DebugString(), " gives ", typed,
        " values for ", shape->num_elements(), " elements; at most ",
        kMaxExpandedElements, " elements may be filled from fewer values"));
  }
  if (has_content) {
    const uint64_t want = static_cast<uint64_t>(shape->num_elements()) * DataTypeSize(dtype);
    if (proto.tensor_content().size() != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor_content is ", proto.tensor_content().size(), " bytes but ",
          DataTypeName(dtype), shape->DebugString(), " needs ", want));
    }
  }
  // Both paths below write every element.
  ASSIGN_OR_RETURN(Tensor t, Tensor::AllocateUninitialized(dtype, *std::move(shape)));
  if (has_content) {
    std::memcpy(t.raw_data(), proto.tensor_content().data(), t.num_bytes());
  } else {
    FillTyped(proto, &t);
  }
  return t;
}

void TensorToProto(const Tensor& tensor, tensorflow::TensorProto* proto) {
  proto->Clear();
  proto->set_dtype(tensor.dtype());
  tensor.shape().ToProto(proto->mutable_tensor_shape());
  if (tensor.dtype() == tensorflow::DT_STRING) {
    for (const std::string& s : tensor.strings()) proto->add_string_val(s);
  } else if (tensor.num_bytes() > 0) {
    proto->set_tensor_content(tensor.raw_data(), tensor.num_bytes());
  }
}

namespace {

template <typename T, typename Field>
void AppendAll(const Tensor& t, Field* field) {
  const T* v = t.data<T>();
  field->Reserve(static_cast<int>(t.num_elements()));
  for (int64_t i = 0; i < t.num_elements(); ++i) field->Add(v[i]);
}

}  // namespace

void TensorToProtoField(const Tensor& t, tensorflow::TensorProto* p) {
  p->Clear();
  p->set_dtype(t.dtype());
  t.shape().ToProto(p->mutable_tensor_shape());
  switch (t.dtype()) {
    case tensorflow::DT_FLOAT: return AppendAll<float>(t, p->mutable_float_val());
    case tensorflow::DT_DOUBLE: return AppendAll<double>(t, p->mutable_double_val());
    case tensorflow::DT_HALF:
    case tensorflow::DT_BFLOAT16: return AppendAll<uint16_t>(t, p->mutable_half_val());
    case tensorflow::DT_INT8: return AppendAll<int8_t>(t, p->mutable_int_val());
    case tensorflow::DT_INT16: return AppendAll<int16_t>(t, p->mutable_int_val());
    case tensorflow::DT_INT32: return AppendAll<int32_t>(t, p->mutable_int_val());
    case tensorflow::DT_UINT8: return AppendAll<uint8_t>(t, p->mutable_int_val());
    case tensorflow::DT_UINT16: return AppendAll<uint16_t>(t, p->mutable_int_val());
    case tensorflow::DT_INT64: return AppendAll<int64_t>(t, p->mutable_int64_val());
    case tensorflow::DT_UINT32: return AppendAll<uint32_t>(t, p->mutable_uint32_val());
    case tensorflow::DT_UINT64: return AppendAll<uint64_t>(t, p->mutable_uint64_val());
    case tensorflow::DT_BOOL: return AppendAll<uint8_t>(t, p->mutable_bool_val());
    case tensorflow::DT_STRING:
      for (const std::string& s : t.strings()) p->add_string_val(s);
      return;
    default:  // every dtype a Tensor can hold is listed above
      TensorToProto(t, p);
  }
}

}  // namespace swapserve
