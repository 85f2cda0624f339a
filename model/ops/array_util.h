// Shared helpers for the array kernel family (array_ops.cc, cast_ops.cc,
// shuffle_ops.cc, slice_ops.cc, gather_ops.cc): errors that name the node and
// outlive its NodeDef, output allocation with an element cap, reads of int32/int64
// index inputs, and element copies over raw bytes so one data-movement kernel
// serves every fixed-size dtype (and DT_STRING) alike.
//
// Thread safety: KernelNode is immutable after construction; the free functions
// are stateless. Copies write only `dst`, never `src`.
#ifndef SWAPSERVE_MODEL_OPS_ARRAY_UTIL_H_
#define SWAPSERVE_MODEL_OPS_ARRAY_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "model/ops/kernel.h"
#include "model/tensor.h"

namespace swapserve {

// Sub-families of the array kernels, registered from RegisterArrayKernels.
void RegisterCastKernels(KernelRegistry& registry);
void RegisterShuffleKernels(KernelRegistry& registry);
void RegisterSliceKernels(KernelRegistry& registry);
void RegisterGatherKernels(KernelRegistry& registry);

namespace array_internal {

// Outputs with more elements than this are refused before anything is allocated.
// Shapes computed from input *values* (Fill dims, Reshape shape, Range bounds,
// Tile multiples, Pad paddings) are attacker-controlled in a served model; without
// this cap Fill dims [1e12, 1e12] would try to allocate terabytes. (Tensor::Allocate's
// own kMaxTensorBytes = 1 TiB limit is far too generous for a request path.)
inline constexpr int64_t kMaxOutputElements = int64_t{1} << 31;

// The op and node name of a kernel, copied out of the NodeDef (which may not
// outlive the kernel) so Compute-time errors read "<op> node '<name>': ...".
class KernelNode : public NodeName {
 public:
  explicit KernelNode(const NodeAttrs& attrs) : NodeName(attrs) {}

  // INVALID_ARGUMENT unless there are exactly `n` inputs.
  absl::Status CheckArity(absl::Span<const Tensor> inputs, size_t n) const;
  // INVALID_ARGUMENT unless `t` holds a dtype a Tensor supports (not DT_INVALID).
  absl::Status CheckData(const Tensor& t, absl::string_view what) const;
  absl::Status CheckDtype(const Tensor& t, DataType want, absl::string_view what) const;

  // A zero-filled output of `dims`, refusing negative dims, int64 overflow and
  // more than kMaxOutputElements elements.
  absl::StatusOr<Tensor> Allocate(DataType dtype, std::vector<int64_t> dims) const;

  // The values of an int32/int64 tensor of rank 0 or 1, widened to int64.
  absl::StatusOr<std::vector<int64_t>> ReadInts(const Tensor& t,
                                                absl::string_view what) const;
  // As ReadInts, but rank exactly 1.
  absl::StatusOr<std::vector<int64_t>> ReadIntVector(const Tensor& t,
                                                     absl::string_view what) const;
  // One int32/int64 value (a scalar or a one-element vector).
  absl::StatusOr<int64_t> ReadScalarInt(const Tensor& t, absl::string_view what) const;

  // `axis` in [-rank, rank) made non-negative.
  absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank, absl::string_view what) const;

 private:
  std::string op_;
  std::string name_;
};

// Copies `n` elements: dst[di, di+n) = src[si, si+n). Both tensors share a dtype;
// indices are in elements, already checked by the caller.
void CopyElements(const Tensor& src, int64_t si, Tensor& dst, int64_t di, int64_t n);

// For every multi-index k in [0, counts) in row-major order:
//   dst[dst_base + sum_i k_i * dst_strides[i]] = src[src_base + sum_i k_i * src_strides[i]]
// Strides are in elements and may be negative or zero. All three spans have the
// same length; an empty span copies one element. Nothing is copied if any count is 0.
void StridedCopy(const Tensor& src, int64_t src_base,
                 absl::Span<const int64_t> src_strides, Tensor& dst, int64_t dst_base,
                 absl::Span<const int64_t> dst_strides, absl::Span<const int64_t> counts);

// Element strides of a dense row-major tensor of `dims`.
std::vector<int64_t> RowMajorStrides(absl::Span<const int64_t> dims);
// Product of dims[begin, end).
int64_t Product(absl::Span<const int64_t> dims, int begin, int end);

}  // namespace array_internal
}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_OPS_ARRAY_UTIL_H_
