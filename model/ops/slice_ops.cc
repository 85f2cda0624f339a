// Slicing kernels: StridedSlice (TF's full mask semantics: begin/end masks,
// ellipsis, new axes, shrink axes, negative strides, clamping) and Slice.
//
// StridedSlice follows TF's ValidateStridedSliceOp: the "sparse" spec given by
// begin/end/strides and the masks is expanded to a "dense" spec with one entry per
// input dimension, each entry is canonicalized (negative indices wrapped, then
// clamped), and the result is one strided copy (array_util.h).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/ops/array_util.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using array_internal::KernelNode;
using array_internal::RowMajorStrides;
using array_internal::StridedCopy;
using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;

constexpr uint64_t Bit(int i) { return uint64_t{1} << i; }

struct Masks {
  uint64_t begin, end, ellipsis, new_axis, shrink;
};

// The sparse spec expanded to one entry per input dimension.
struct DenseSpec {
  std::vector<int64_t> begin, end, stride;
  uint64_t begin_mask = 0, end_mask = 0, shrink_mask = 0;
  // Output dims in order: a dense dim index, kNewAxis or kShrinkAxis (dropped).
  std::vector<int> final_dims;
};
constexpr int kNewAxis = -1;
constexpr int kShrinkAxis = -2;

absl::StatusOr<DenseSpec> ExpandSpec(const KernelNode& node, int rank,
                                     const std::vector<int64_t>& begin,
                                     const std::vector<int64_t>& end,
                                     const std::vector<int64_t>& strides, Masks m) {
  int n = static_cast<int>(begin.size());
  if (m.ellipsis & (m.ellipsis - 1)) return node.Invalid("more than one ellipsis in the slice");
  int new_after_ellipsis = 0;
  bool ellipsis_seen = false;
  for (int i = 0; i < n; ++i) {
    if (ellipsis_seen && (m.new_axis & Bit(i))) ++new_after_ellipsis;
    if (m.ellipsis & Bit(i)) ellipsis_seen = true;
  }
  if (!ellipsis_seen) m.ellipsis |= Bit(n++);  // an implied trailing "..."
  DenseSpec dense;
  dense.begin.assign(rank, 0);
  dense.end.assign(rank, 0);
  dense.stride.assign(rank, 1);
  int full = 0;
  for (int i = 0; i < n; ++i) {
    if (m.ellipsis & Bit(i)) {
      const int next = std::min(rank - (n - i) + 1 + new_after_ellipsis, rank);
      for (; full < next; ++full) {
        dense.begin_mask |= Bit(full);
        dense.end_mask |= Bit(full);
        dense.final_dims.push_back(full);
      }
    } else if (m.new_axis & Bit(i)) {
      dense.final_dims.push_back(kNewAxis);
    } else {
      if (full == rank) {
        return node.Invalid(absl::StrCat("slice index ", i, " is past the input's ", rank,
                                         " dimensions"));
      }
      dense.begin[full] = begin[i];
      dense.end[full] = end[i];
      dense.stride[full] = strides[i];
      if (m.begin & Bit(i)) dense.begin_mask |= Bit(full);
      if (m.end & Bit(i)) dense.end_mask |= Bit(full);
      if (m.shrink & Bit(i)) dense.shrink_mask |= Bit(full);
      dense.final_dims.push_back((m.shrink & Bit(i)) ? kShrinkAxis : full);
      ++full;
    }
  }
  return dense;
}

// Canonicalizes dense dim `d` of size `dim` into its first index and element count.
absl::Status CanonicalizeDim(const KernelNode& node, const DenseSpec& dense, int d,
                             int64_t dim, int64_t& first, int64_t& count) {
  const int64_t s = dense.stride[d];
  if (s == 0) return node.Invalid(absl::StrCat("strides[", d, "] must be non-zero"));
  int64_t b = dense.begin[d], e = dense.end[d];
  if (dense.shrink_mask & Bit(d)) {
    if (s < 0) return node.Invalid("only stride 1 allowed on non-range indexing");
    const int64_t fwd = b < 0 ? dim + b : b;
    if (fwd < 0 || fwd >= dim) {
      return node.Invalid(absl::StrCat("slice index ", b, " of dimension ", d,
                                       " out of bounds for size ", dim));
    }
    b = fwd;
    e = fwd + 1;
  } else {
    // Masked ends take the whole range in the stride's direction; others wrap
    // once if negative and clamp to [lo, hi].
    const int64_t lo = s > 0 ? 0 : -1, hi = s > 0 ? dim : dim - 1;
    auto canonical = [&](int64_t x, bool masked, bool is_begin) {
      if (masked) return (s > 0) == is_begin ? lo : hi;
      const int64_t fwd = x < 0 ? dim + x : x;
      return std::clamp(fwd, lo, hi);
    };
    b = canonical(b, dense.begin_mask & Bit(d), true);
    e = canonical(e, dense.end_mask & Bit(d), false);
  }
  const int64_t interval = e - b;
  first = b;
  count = (interval == 0 || (interval < 0) != (s < 0))
              ? 0
              : interval / s + (interval % s != 0 ? 1 : 0);
  return absl::OkStatus();
}

absl::Status StridedSliceCompute(const KernelNode& node, const Masks& masks,
                                 absl::Span<const Tensor> in, std::vector<Tensor>& out) {
  RETURN_IF_ERROR(node.CheckArity(in, 4));
  RETURN_IF_ERROR(node.CheckData(in[0], "input"));
  ASSIGN_OR_RETURN(std::vector<int64_t> begin, node.ReadIntVector(in[1], "begin"));
  ASSIGN_OR_RETURN(std::vector<int64_t> end, node.ReadIntVector(in[2], "end"));
  ASSIGN_OR_RETURN(std::vector<int64_t> strides, node.ReadIntVector(in[3], "strides"));
  const TensorShape& shape = in[0].shape();
  if (end.size() != begin.size() || strides.size() != begin.size()) {
    return node.Invalid(absl::StrCat("begin, end and strides have different lengths ",
                                     begin.size(), ", ", end.size(), ", ", strides.size()));
  }
  if (begin.size() >= 32 || shape.rank() > 32) {  // TF's masks are 32-bit
    return node.Invalid("32 or more slice dimensions, or more than 32 input dimensions");
  }
  ASSIGN_OR_RETURN(DenseSpec dense,
                   ExpandSpec(node, shape.rank(), begin, end, strides, masks));
  const std::vector<int64_t> in_strides = RowMajorStrides(shape.dims());
  std::vector<int64_t> counts(shape.rank()), firsts(shape.rank());
  int64_t total = 1;
  for (int d = 0; d < shape.rank(); ++d) {
    RETURN_IF_ERROR(CanonicalizeDim(node, dense, d, shape.dim(d), firsts[d], counts[d]));
    total *= counts[d];  // each count <= dim, so no overflow while total > 0
  }
  std::vector<int64_t> dims;
  for (int g : dense.final_dims) {
    if (g >= 0) dims.push_back(counts[g]);
    if (g == kNewAxis) dims.push_back(1);
  }
  ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), std::move(dims)));
  if (t.num_elements() != total) {
    return node.Invalid(absl::StrCat("slice spec does not cover ", in[0].DebugString()));
  }
  if (total > 0) {
    // Every index first + k * stride (k < count) lies inside its dim, so these
    // offsets stay in range; a count of 1 gets stride 0 as its stride may be huge.
    int64_t base = 0;
    std::vector<int64_t> src_strides(shape.rank(), 0);
    for (int d = 0; d < shape.rank(); ++d) {
      base += firsts[d] * in_strides[d];
      if (counts[d] > 1) src_strides[d] = in_strides[d] * dense.stride[d];
    }
    StridedCopy(in[0], base, src_strides, t, 0, RowMajorStrides(counts), counts);
  }
  out[0] = std::move(t);
  return absl::OkStatus();
}

KernelOr MakeStridedSlice(const KernelContext& ctx) {
  if (ctx.num_inputs != 4) return ctx.node.Invalid("expected 4 inputs");
  // TF's masks are int32 bit sets.
  auto mask = [&](const char* attr) {
    return static_cast<uint64_t>(static_cast<uint32_t>(ctx.node.GetIntOr(attr, 0)));
  };
  const Masks masks{mask("begin_mask"), mask("end_mask"), mask("ellipsis_mask"),
                    mask("new_axis_mask"), mask("shrink_axis_mask")};
  return MakeKernel([node = KernelNode(ctx.node), masks](absl::Span<const Tensor> in,
                                                          std::vector<Tensor>& out) {
    return StridedSliceCompute(node, masks, in, out);
  });
}

KernelOr MakeSlice(const KernelContext& ctx) {
  if (ctx.num_inputs != 3) return ctx.node.Invalid("expected 3 inputs");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 3));
    RETURN_IF_ERROR(node.CheckData(in[0], "input"));
    ASSIGN_OR_RETURN(std::vector<int64_t> begin, node.ReadIntVector(in[1], "begin"));
    ASSIGN_OR_RETURN(std::vector<int64_t> size, node.ReadIntVector(in[2], "size"));
    const TensorShape& shape = in[0].shape();
    const int rank = shape.rank();
    if (static_cast<int>(begin.size()) != rank || static_cast<int>(size.size()) != rank) {
      return node.Invalid(absl::StrCat("begin and size must have ", rank, " entries for ",
                                       in[0].DebugString()));
    }
    for (int d = 0; d < rank; ++d) {
      const int64_t dim = shape.dim(d);
      if (size[d] == -1 && begin[d] >= 0 && begin[d] <= dim) size[d] = dim - begin[d];
      if (begin[d] < 0 || begin[d] > dim || size[d] < 0 || size[d] > dim - begin[d]) {
        return node.Invalid(absl::StrCat("begin ", begin[d], " and size ", size[d],
                                         " do not fit dimension ", d, " of size ", dim));
      }
    }
    ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), size));
    if (t.num_elements() > 0) {  // then begin < dim everywhere, offsets in range
      const std::vector<int64_t> in_strides = RowMajorStrides(shape.dims());
      int64_t base = 0;
      for (int d = 0; d < rank; ++d) base += begin[d] * in_strides[d];
      StridedCopy(in[0], base, in_strides, t, 0, RowMajorStrides(size), size);
    }
    out[0] = std::move(t);
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterSliceKernels(KernelRegistry& registry) {
  registry.Register("StridedSlice", MakeStridedSlice);
  registry.Register("Slice", MakeSlice);
}

}  // namespace swapserve
