#include "model/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace swapserve {
namespace {

constexpr size_t kAlignment = 64;  // One cache line; what Eigen's packets want.

thread_local uint64_t allocated_bytes = 0;

// Element count with overflow detection; -1 on a negative dim or overflow.
int64_t CheckedElementCount(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    if (d != 0 && n > INT64_MAX / d) return -1;
    n *= d;
  }
  return n;
}

}  // namespace

size_t DataTypeSize(DataType dtype) {
  switch (dtype) {
    case tensorflow::DT_FLOAT: return 4;
    case tensorflow::DT_DOUBLE: return 8;
    case tensorflow::DT_HALF: return 2;
    case tensorflow::DT_BFLOAT16: return 2;
    case tensorflow::DT_INT8: return 1;
    case tensorflow::DT_INT16: return 2;
    case tensorflow::DT_INT32: return 4;
    case tensorflow::DT_INT64: return 8;
    case tensorflow::DT_UINT8: return 1;
    case tensorflow::DT_UINT16: return 2;
    case tensorflow::DT_UINT32: return 4;
    case tensorflow::DT_UINT64: return 8;
    case tensorflow::DT_BOOL: return 1;
    default: return 0;
  }
}

bool IsSupportedDataType(DataType dtype) {
  return dtype == tensorflow::DT_STRING || DataTypeSize(dtype) != 0;
}

std::string DataTypeName(DataType dtype) {
  if (tensorflow::DataType_IsValid(dtype)) return tensorflow::DataType_Name(dtype);
  return absl::StrCat("DT_", static_cast<int>(dtype));
}

absl::StatusOr<DataType> ParseDataType(absl::string_view name) {
  DataType dtype;
  if (!tensorflow::DataType_Parse(std::string(name), &dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", name, "'"));
  }
  return dtype;
}

TensorShape::TensorShape(std::initializer_list<int64_t> dims) : dims_(dims) {
  num_elements_ = CheckedElementCount(dims_);
  CHECK_GE(num_elements_, 0) << "invalid literal shape " << DebugString();
}

absl::StatusOr<TensorShape> TensorShape::Make(std::vector<int64_t> dims) {
  TensorShape shape;
  shape.dims_ = std::move(dims);
  shape.num_elements_ = CheckedElementCount(shape.dims_);
  if (shape.num_elements_ < 0) {
    for (size_t i = 0; i < shape.dims_.size(); ++i) {
      if (shape.dims_[i] < 0) {
        return absl::InvalidArgumentError(absl::StrCat("shape ", shape.DebugString(),
                                                       ": dimension ", i, " is negative (",
                                                       shape.dims_[i], ")"));
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("shape ", shape.DebugString(), " has more elements than fit in int64"));
  }
  return shape;
}

absl::StatusOr<TensorShape> TensorShape::FromProto(
    const tensorflow::TensorShapeProto& proto) {
  if (proto.unknown_rank()) {
    return absl::InvalidArgumentError("shape has unknown rank");
  }
  std::vector<int64_t> dims;
  dims.reserve(proto.dim_size());
  for (const auto& d : proto.dim()) dims.push_back(d.size());
  return Make(std::move(dims));
}

void TensorShape::ToProto(tensorflow::TensorShapeProto* proto) const {
  proto->Clear();
  for (int64_t d : dims_) proto->add_dim()->set_size(d);
}

std::string TensorShape::DebugString() const {
  return absl::StrCat("[", absl::StrJoin(dims_, ","), "]");
}

absl::StatusOr<Tensor> Tensor::Allocate(DataType dtype, TensorShape shape) {
  return AllocateImpl(dtype, std::move(shape), /*zero=*/true);
}

absl::StatusOr<Tensor> Tensor::AllocateUninitialized(DataType dtype, TensorShape shape) {
  return AllocateImpl(dtype, std::move(shape), /*zero=*/false);
}

absl::StatusOr<Tensor> Tensor::AllocateImpl(DataType dtype, TensorShape shape, bool zero) {
  if (!IsSupportedDataType(dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported dtype ", DataTypeName(dtype)));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  const uint64_t n = static_cast<uint64_t>(t.shape_.num_elements());
  if (dtype == tensorflow::DT_STRING) {
    if (n > kMaxTensorBytes / sizeof(std::string)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "string tensor ", t.shape_.DebugString(), " has too many elements"));
    }
    try {
      t.strings_ = std::make_shared<std::vector<std::string>>(n);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate string tensor ", t.shape_.DebugString()));
    }
    return t;
  }
  const uint64_t elem = DataTypeSize(dtype);
  if (n > kMaxTensorBytes / elem) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", DataTypeName(dtype), t.shape_.DebugString(),
                     " is larger than ", kMaxTensorBytes, " bytes"));
  }
  t.num_bytes_ = n * elem;
  allocated_bytes += t.num_bytes_;
  // aligned_alloc wants a size that is a multiple of the alignment, and non-zero.
  const size_t alloc = (t.num_bytes_ + kAlignment - 1) / kAlignment * kAlignment;
  char* p = static_cast<char*>(std::aligned_alloc(kAlignment, alloc ? alloc : kAlignment));
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", t.num_bytes_, " bytes for tensor ",
                     t.shape_.DebugString()));
  }
  if (zero) std::memset(p, 0, alloc ? alloc : kAlignment);
  t.buffer_ = std::shared_ptr<char>(p, [](char* q) { std::free(q); });
  return t;
}

absl::StatusOr<Tensor> Tensor::Reshaped(TensorShape shape) const {
  if (shape.num_elements() != num_elements()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot reshape ", DebugString(), " to ", shape.DebugString()));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

uint64_t Tensor::ThreadAllocatedBytes() { return allocated_bytes; }

bool Tensor::Equals(const Tensor& other) const {
  if (dtype_ != other.dtype_ || !(shape_ == other.shape_)) return false;
  if (dtype_ == tensorflow::DT_STRING) return strings() == other.strings();
  return num_bytes_ == other.num_bytes_ &&
         (num_bytes_ == 0 || std::memcmp(raw_data(), other.raw_data(), num_bytes_) == 0);
}

std::string Tensor::DebugString() const {
  return absl::StrCat(DataTypeName(dtype_), shape_.DebugString());
}

}  // namespace swapserve
