// Data-movement kernels that rearrange whole tensors: Pack, Unpack, ConcatV2
// (and the old Concat), Transpose, Tile, Pad, PadV2, MirrorPad.
//
// All of them are byte copies (array_util.h), so they serve every fixed-size dtype
// and DT_STRING. Shapes and index values are validated at Compute time.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/ops/array_util.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using array_internal::CopyElements;
using array_internal::KernelNode;
using array_internal::Product;
using array_internal::RowMajorStrides;
using array_internal::StridedCopy;
using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;

// Every input has the dtype and shape of the first.
absl::Status CheckSameShapes(const KernelNode& node, absl::Span<const Tensor> in) {
  if (in.empty()) return node.Invalid("needs at least one input");
  RETURN_IF_ERROR(node.CheckData(in[0], "input 0"));
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i].dtype() != in[0].dtype() || !(in[i].shape() == in[0].shape())) {
      return node.Invalid(absl::StrCat("input ", i, " is ", in[i].DebugString(),
                                       " but input 0 is ", in[0].DebugString()));
    }
  }
  return absl::OkStatus();
}

KernelOr MakePack(const KernelContext& ctx) {
  const int64_t axis = ctx.node.GetIntOr("axis", 0);
  return MakeKernel([node = KernelNode(ctx.node), axis](absl::Span<const Tensor> in,
                                                         std::vector<Tensor>& out) {
    RETURN_IF_ERROR(CheckSameShapes(node, in));
    const std::vector<int64_t>& in_dims = in[0].shape().dims();
    const int rank = in[0].shape().rank();
    ASSIGN_OR_RETURN(int a, node.NormalizeAxis(axis, rank + 1, "axis"));
    std::vector<int64_t> dims = in_dims;
    const int64_t n = static_cast<int64_t>(in.size());
    dims.insert(dims.begin() + a, n);
    ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), std::move(dims)));
    if (t.num_elements() > 0) {
      const int64_t outer = Product(in_dims, 0, a), inner = Product(in_dims, a, rank);
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < n; ++i) {
          CopyElements(in[i], o * inner, t, (o * n + i) * inner, inner);
        }
      }
    }
    out[0] = std::move(t);
    return absl::OkStatus();
  });
}

KernelOr MakeUnpack(const KernelContext& ctx) {
  ASSIGN_OR_RETURN(int64_t num, ctx.node.GetInt("num"));
  const int64_t axis = ctx.node.GetIntOr("axis", 0);
  return MakeKernel([node = KernelNode(ctx.node), num, axis](absl::Span<const Tensor> in,
                                                              std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 1));
    RETURN_IF_ERROR(node.CheckData(in[0], "value"));
    const std::vector<int64_t>& in_dims = in[0].shape().dims();
    const int rank = in[0].shape().rank();
    ASSIGN_OR_RETURN(int a, node.NormalizeAxis(axis, rank, "axis"));
    if (in_dims[a] != num || static_cast<int64_t>(out.size()) != num) {
      return node.Invalid(absl::StrCat("num = ", num, " but dim ", a, " of ",
                                       in[0].DebugString(), " is ", in_dims[a], " and there are ",
                                       out.size(), " outputs"));
    }
    std::vector<int64_t> dims = in_dims;
    dims.erase(dims.begin() + a);
    const int64_t outer = Product(in_dims, 0, a), inner = Product(in_dims, a + 1, rank);
    for (int64_t j = 0; j < num; ++j) {
      ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), dims));
      if (t.num_elements() > 0) {
        for (int64_t o = 0; o < outer; ++o) {
          CopyElements(in[0], (o * num + j) * inner, t, o * inner, inner);
        }
      }
      out[j] = std::move(t);
    }
    return absl::OkStatus();
  });
}

// Concatenates `values` along `axis` (TF's negative-axis convention).
absl::Status Concat(const KernelNode& node, absl::Span<const Tensor> values, int64_t axis,
                    Tensor& result) {
  if (values.empty()) return node.Invalid("needs at least one value");
  const Tensor& first = values[0];
  RETURN_IF_ERROR(node.CheckData(first, "input 0"));
  const int rank = first.shape().rank();
  if (rank == 0) return node.Invalid("cannot concatenate scalars (use Pack)");
  ASSIGN_OR_RETURN(int a, node.NormalizeAxis(axis, rank, "axis"));
  std::vector<int64_t> dims = first.shape().dims();
  dims[a] = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const TensorShape& s = values[i].shape();
    bool ok = values[i].dtype() == first.dtype() && s.rank() == rank;
    for (int d = 0; ok && d < rank; ++d) ok = d == a || s.dim(d) == first.shape().dim(d);
    if (!ok || __builtin_add_overflow(dims[a], s.dim(a), &dims[a])) {
      return node.Invalid(absl::StrCat("input ", i, " is ", values[i].DebugString(),
                                       ", incompatible with input 0 ", first.DebugString(),
                                       " for concatenation along axis ", a));
    }
  }
  ASSIGN_OR_RETURN(result, node.Allocate(first.dtype(), dims));
  if (result.num_elements() == 0) return absl::OkStatus();
  const int64_t outer = Product(dims, 0, a), inner = Product(dims, a + 1, rank);
  int64_t offset = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor& v : values) {
      const int64_t run = v.shape().dim(a) * inner;
      CopyElements(v, o * run, result, offset, run);
      offset += run;
    }
  }
  return absl::OkStatus();
}

// ConcatV2(values..., axis) when kAxisLast, else Concat(concat_dim, values...).
template <bool kAxisLast>
KernelOr MakeConcat(const KernelContext& ctx) {
  if (ctx.num_inputs < 2) return ctx.node.Invalid("needs at least one value and an axis");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    if (in.size() < 2) return node.Invalid("needs at least one value and an axis");
    const Tensor& axis_t = kAxisLast ? in.back() : in.front();
    ASSIGN_OR_RETURN(int64_t axis, node.ReadScalarInt(axis_t, "axis"));
    return Concat(node, kAxisLast ? in.first(in.size() - 1) : in.subspan(1), axis, out[0]);
  });
}

KernelOr MakeTranspose(const KernelContext& ctx) {
  if (ctx.num_inputs != 2) return ctx.node.Invalid("expected 2 inputs");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 2));
    RETURN_IF_ERROR(node.CheckData(in[0], "x"));
    ASSIGN_OR_RETURN(std::vector<int64_t> perm, node.ReadIntVector(in[1], "perm"));
    const TensorShape& shape = in[0].shape();
    const int rank = shape.rank();
    if (static_cast<int>(perm.size()) != rank) {
      return node.Invalid(absl::StrCat("perm has ", perm.size(), " entries for ",
                                       in[0].DebugString()));
    }
    const std::vector<int64_t> in_strides = RowMajorStrides(shape.dims());
    std::vector<int64_t> dims(rank), src_strides(rank);
    std::vector<bool> seen(rank, false);
    for (int i = 0; i < rank; ++i) {
      if (perm[i] < 0 || perm[i] >= rank || seen[perm[i]]) {
        return node.Invalid(absl::StrCat("perm is not a permutation of [0, ", rank,
                                         "): entry ", i, " is ", perm[i]));
      }
      seen[perm[i]] = true;
      dims[i] = shape.dim(perm[i]);
      src_strides[i] = in_strides[perm[i]];
    }
    ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), dims));
    StridedCopy(in[0], 0, src_strides, t, 0, RowMajorStrides(dims), dims);
    out[0] = std::move(t);
    return absl::OkStatus();
  });
}

KernelOr MakeTile(const KernelContext& ctx) {
  if (ctx.num_inputs != 2) return ctx.node.Invalid("expected 2 inputs");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 2));
    RETURN_IF_ERROR(node.CheckData(in[0], "input"));
    ASSIGN_OR_RETURN(std::vector<int64_t> mult, node.ReadIntVector(in[1], "multiples"));
    const std::vector<int64_t>& in_dims = in[0].shape().dims();
    const int rank = in[0].shape().rank();
    if (static_cast<int>(mult.size()) != rank) {
      return node.Invalid(absl::StrCat("multiples has ", mult.size(), " entries for ",
                                       in[0].DebugString()));
    }
    std::vector<int64_t> dims(rank);
    for (int i = 0; i < rank; ++i) {
      if (mult[i] < 0 || __builtin_mul_overflow(in_dims[i], mult[i], &dims[i])) {
        return node.Invalid(absl::StrCat("multiples[", i, "] = ", mult[i], " is invalid for ",
                                         in[0].DebugString()));
      }
    }
    ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), dims));
    out[0] = t;
    if (t.num_elements() == 0) return absl::OkStatus();
    // View output dim i as (repeat r_i, position k_i): out index r_i * d_i + k_i.
    const std::vector<int64_t> in_strides = RowMajorStrides(in_dims);
    const std::vector<int64_t> out_strides = RowMajorStrides(dims);
    std::vector<int64_t> counts, src, dst;
    for (int i = 0; i < rank; ++i) {
      counts.insert(counts.end(), {mult[i], in_dims[i]});
      src.insert(src.end(), {0, in_strides[i]});
      dst.insert(dst.end(), {in_dims[i] * out_strides[i], out_strides[i]});
    }
    StridedCopy(in[0], 0, src, t, 0, dst, counts);
    return absl::OkStatus();
  });
}

// Paddings as (before, after) pairs, one per input dimension, all >= 0.
absl::StatusOr<std::vector<int64_t>> ReadPaddings(const KernelNode& node, const Tensor& p,
                                                  int rank) {
  if (!(p.shape() == TensorShape({rank, 2}))) {
    return node.Invalid(absl::StrCat("paddings must have shape [", rank, ",2], got ",
                                     p.DebugString()));
  }
  std::vector<int64_t> v(2 * rank);
  for (int i = 0; i < 2 * rank; ++i) {
    if (p.dtype() == tensorflow::DT_INT32) {
      v[i] = p.data<int32_t>()[i];
    } else if (p.dtype() == tensorflow::DT_INT64) {
      v[i] = p.data<int64_t>()[i];
    } else {
      return node.Invalid(absl::StrCat("paddings must be int32 or int64, got ",
                                       p.DebugString()));
    }
    if (v[i] < 0) return node.Invalid(absl::StrCat("paddings[", i / 2, "] is negative"));
  }
  return v;
}

// Pad(input, paddings) when !kV2, PadV2(input, paddings, constant_values).
template <bool kV2>
KernelOr MakePad(const KernelContext& ctx) {
  if (ctx.num_inputs != (kV2 ? 3 : 2)) return ctx.node.Invalid("wrong number of inputs");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, kV2 ? 3 : 2));
    RETURN_IF_ERROR(node.CheckData(in[0], "input"));
    const std::vector<int64_t>& in_dims = in[0].shape().dims();
    const int rank = in[0].shape().rank();
    ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadPaddings(node, in[1], rank));
    std::vector<int64_t> dims(rank);
    for (int i = 0; i < rank; ++i) {
      if (__builtin_add_overflow(in_dims[i], pads[2 * i], &dims[i]) ||
          __builtin_add_overflow(dims[i], pads[2 * i + 1], &dims[i])) {
        return node.Invalid(absl::StrCat("paddings for dim ", i, " overflow"));
      }
    }
    ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), dims));
    if (kV2) {
      const Tensor& value = in[2];
      if (value.dtype() != in[0].dtype() || value.num_elements() != 1) {
        return node.Invalid(absl::StrCat("constant_values must be one ",
                                         DataTypeName(in[0].dtype()), ", got ",
                                         value.DebugString()));
      }
      for (int64_t i = 0; i < t.num_elements(); ++i) CopyElements(value, 0, t, i, 1);
    }
    if (in[0].num_elements() > 0) {  // then every offset below lies inside t
      const std::vector<int64_t> out_strides = RowMajorStrides(dims);
      int64_t base = 0;
      for (int i = 0; i < rank; ++i) base += pads[2 * i] * out_strides[i];
      StridedCopy(in[0], 0, RowMajorStrides(in_dims), t, base, out_strides, in_dims);
    }
    out[0] = std::move(t);
    return absl::OkStatus();
  });
}

// For each output index of one dimension, the input index it mirrors.
std::vector<int64_t> MirrorIndices(int64_t dim, int64_t before, int64_t after,
                                   int64_t offset) {
  std::vector<int64_t> src(before + dim + after);
  for (int64_t i = 0; i < static_cast<int64_t>(src.size()); ++i) {
    int64_t j = i - before;
    if (j < 0) j = -j - 1 + offset;             // REFLECT skips the edge itself
    if (j >= dim) j = 2 * dim - 1 - j - offset;
    src[i] = j;
  }
  return src;
}

// MirrorPad(input, paddings), mode REFLECT (offset 1) or SYMMETRIC (offset 0).
absl::Status MirrorPadCompute(const KernelNode& node, int64_t offset,
                              absl::Span<const Tensor> in, std::vector<Tensor>& out) {
  RETURN_IF_ERROR(node.CheckArity(in, 2));
  RETURN_IF_ERROR(node.CheckData(in[0], "input"));
  const std::vector<int64_t>& in_dims = in[0].shape().dims();
  const int rank = in[0].shape().rank();
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadPaddings(node, in[1], rank));
  std::vector<int64_t> dims(rank);
  std::vector<std::vector<int64_t>> src(rank);
  for (int d = 0; d < rank; ++d) {
    if (pads[2 * d] > in_dims[d] - offset || pads[2 * d + 1] > in_dims[d] - offset) {
      return node.Invalid(absl::StrCat("paddings ", pads[2 * d], ", ", pads[2 * d + 1],
                                       " of dim ", d, " must be at most ", in_dims[d] - offset));
    }
    dims[d] = in_dims[d] + pads[2 * d] + pads[2 * d + 1];  // <= 3 * in_dims[d]
  }
  ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), dims));
  if (t.num_elements() > 0) {
    for (int d = 0; d < rank; ++d) {
      src[d] = MirrorIndices(in_dims[d], pads[2 * d], pads[2 * d + 1], offset);
    }
    const std::vector<int64_t> in_strides = RowMajorStrides(in_dims);
    std::vector<int64_t> k(rank, 0);
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      int64_t s = 0;
      for (int d = 0; d < rank; ++d) s += src[d][k[d]] * in_strides[d];
      CopyElements(in[0], s, t, i, 1);
      for (int d = rank - 1; d >= 0 && ++k[d] == dims[d]; --d) k[d] = 0;
    }
  }
  out[0] = std::move(t);
  return absl::OkStatus();
}

KernelOr MakeMirrorPad(const KernelContext& ctx) {
  if (ctx.num_inputs != 2) return ctx.node.Invalid("expected 2 inputs");
  ASSIGN_OR_RETURN(std::string mode, ctx.node.GetString("mode"));
  if (mode != "REFLECT" && mode != "SYMMETRIC") {
    return ctx.node.Unsupported(absl::StrCat("mode '", mode, "'"));
  }
  const int64_t offset = mode == "REFLECT" ? 1 : 0;
  return MakeKernel([node = KernelNode(ctx.node), offset](absl::Span<const Tensor> in,
                                                           std::vector<Tensor>& out) {
    return MirrorPadCompute(node, offset, in, out);
  });
}

}  // namespace

void RegisterShuffleKernels(KernelRegistry& registry) {
  registry.Register("Pack", MakePack);
  registry.Register("Unpack", MakeUnpack);
  registry.Register("ConcatV2", MakeConcat<true>);
  registry.Register("Concat", MakeConcat<false>);
  registry.Register("Transpose", MakeTranspose);
  registry.Register("Tile", MakeTile);
  registry.Register("Pad", MakePad<false>);
  registry.Register("PadV2", MakePad<true>);
  registry.Register("MirrorPad", MakeMirrorPad);
}

}  // namespace swapserve
