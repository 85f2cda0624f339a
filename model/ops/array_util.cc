#include "model/ops/array_util.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace swapserve::array_internal {

absl::Status KernelNode::CheckArity(absl::Span<const Tensor> inputs, size_t n) const {
  if (inputs.size() != n) {
    return Invalid(absl::StrCat("expected ", n, " inputs, got ", inputs.size()));
  }
  return absl::OkStatus();
}

absl::Status KernelNode::CheckData(const Tensor& t, absl::string_view what) const {
  if (!IsSupportedDataType(t.dtype())) {
    return Invalid(absl::StrCat(what, " has unsupported dtype ", DataTypeName(t.dtype())));
  }
  return absl::OkStatus();
}

absl::Status KernelNode::CheckDtype(const Tensor& t, DataType want,
                                    absl::string_view what) const {
  if (t.dtype() != want) {
    return Invalid(absl::StrCat(what, " must be ", DataTypeName(want), ", got ",
                                t.DebugString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> KernelNode::Allocate(DataType dtype,
                                            std::vector<int64_t> dims) const {
  absl::StatusOr<TensorShape> shape = TensorShape::Make(std::move(dims));
  if (!shape.ok()) return Invalid(absl::StrCat("output ", shape.status().message()));
  if (shape->num_elements() > kMaxOutputElements) {
    return Invalid(absl::StrCat("output shape ", shape->DebugString(), " has ",
                                shape->num_elements(), " elements, more than the limit of ",
                                kMaxOutputElements));
  }
  absl::StatusOr<Tensor> t = Tensor::Allocate(dtype, *std::move(shape));
  if (!t.ok()) return Invalid(t.status().message());
  return t;
}

absl::StatusOr<std::vector<int64_t>> KernelNode::ReadInts(const Tensor& t,
                                                          absl::string_view what) const {
  if (t.shape().rank() > 1) {
    return Invalid(absl::StrCat(what, " must be a scalar or vector, got ", t.DebugString()));
  }
  std::vector<int64_t> values(t.num_elements());
  if (t.dtype() == tensorflow::DT_INT32) {
    std::copy_n(t.data<int32_t>(), values.size(), values.begin());
  } else if (t.dtype() == tensorflow::DT_INT64) {
    std::copy_n(t.data<int64_t>(), values.size(), values.begin());
  } else {
    return Invalid(absl::StrCat(what, " must be int32 or int64, got ", t.DebugString()));
  }
  return values;
}

absl::StatusOr<std::vector<int64_t>> KernelNode::ReadIntVector(
    const Tensor& t, absl::string_view what) const {
  if (t.shape().rank() != 1) {
    return Invalid(absl::StrCat(what, " must be a vector, got ", t.DebugString()));
  }
  return ReadInts(t, what);
}

absl::StatusOr<int64_t> KernelNode::ReadScalarInt(const Tensor& t,
                                                  absl::string_view what) const {
  if (t.num_elements() != 1) {
    return Invalid(absl::StrCat(what, " must hold exactly one value, got ", t.DebugString()));
  }
  absl::StatusOr<std::vector<int64_t>> v = ReadInts(t, what);
  if (!v.ok()) return v.status();
  return (*v)[0];
}

absl::StatusOr<int> KernelNode::NormalizeAxis(int64_t axis, int rank,
                                              absl::string_view what) const {
  if (axis < -rank || axis >= rank) {
    return Invalid(absl::StrCat(what, " ", axis, " is out of range [", -rank, ", ", rank,
                                ")"));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

void CopyElements(const Tensor& src, int64_t si, Tensor& dst, int64_t di, int64_t n) {
  if (n <= 0) return;
  if (src.dtype() == tensorflow::DT_STRING) {
    std::copy_n(src.strings().begin() + si, n, dst.strings().begin() + di);
    return;
  }
  const size_t size = DataTypeSize(src.dtype());
  std::memcpy(dst.raw_data() + di * size, src.raw_data() + si * size, n * size);
}

namespace {

// n elements of T from src + k * ss to dst + k * ds (element indices).
template <typename T>
void TypedRun(const char* src, int64_t ss, char* dst, int64_t ds, int64_t n) {
  for (int64_t k = 0; k < n; ++k) {
    std::memcpy(dst + k * ds * sizeof(T), src + k * ss * sizeof(T), sizeof(T));
  }
}

// One strided innermost row: typed copies (not a memcpy call per element) for the
// common element sizes, e.g. the inner loop of a Transpose.
void StridedRun(const Tensor& src, int64_t s, int64_t ss, Tensor& dst, int64_t d,
                int64_t ds, int64_t n) {
  const int64_t size = static_cast<int64_t>(DataTypeSize(src.dtype()));
  if (src.dtype() == tensorflow::DT_STRING || size > 8) {
    for (int64_t k = 0; k < n; ++k) CopyElements(src, s + k * ss, dst, d + k * ds, 1);
    return;
  }
  const char* from = src.raw_data() + s * size;
  char* to = dst.raw_data() + d * size;
  switch (size) {
    case 1: return TypedRun<uint8_t>(from, ss, to, ds, n);
    case 2: return TypedRun<uint16_t>(from, ss, to, ds, n);
    case 4: return TypedRun<uint32_t>(from, ss, to, ds, n);
    default: return TypedRun<uint64_t>(from, ss, to, ds, n);
  }
}

}  // namespace

void StridedCopy(const Tensor& src, int64_t src_base,
                 absl::Span<const int64_t> src_strides, Tensor& dst, int64_t dst_base,
                 absl::Span<const int64_t> dst_strides, absl::Span<const int64_t> counts) {
  const int rank = static_cast<int>(counts.size());
  for (int64_t c : counts) {
    if (c <= 0) return;
  }
  if (rank == 0) {
    CopyElements(src, src_base, dst, dst_base, 1);
    return;
  }
  // The innermost dimension is copied as one run when both sides are contiguous.
  const int last = rank - 1;
  const bool contiguous = src_strides[last] == 1 && dst_strides[last] == 1;
  std::vector<int64_t> k(rank, 0);
  int64_t s = src_base, d = dst_base;
  while (true) {
    if (contiguous) {
      CopyElements(src, s, dst, d, counts[last]);
    } else {
      StridedRun(src, s, src_strides[last], dst, d, dst_strides[last], counts[last]);
    }
    int dim = last - 1;
    for (; dim >= 0; --dim) {
      s += src_strides[dim];
      d += dst_strides[dim];
      if (++k[dim] < counts[dim]) break;
      s -= src_strides[dim] * counts[dim];
      d -= dst_strides[dim] * counts[dim];
      k[dim] = 0;
    }
    if (dim < 0) return;
  }
}

std::vector<int64_t> RowMajorStrides(absl::Span<const int64_t> dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    // Wraps rather than overflow (UB) for empty shapes, whose strides go unused.
    __builtin_mul_overflow(strides[i + 1], dims[i + 1], &strides[i]);
  }
  return strides;
}

int64_t Product(absl::Span<const int64_t> dims, int begin, int end) {
  // Saturates: a shape with a 0 dim may hold other dims whose product overflows.
  int64_t p = 1;
  for (int i = begin; i < end; ++i) {
    if (__builtin_mul_overflow(p, dims[i], &p)) return INT64_MAX;
  }
  return p;
}

}  // namespace swapserve::array_internal
