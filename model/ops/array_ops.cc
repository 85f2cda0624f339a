// Array kernels: pass-through (Identity family), shape manipulation (Reshape,
// Squeeze, ExpandDims), shape queries (Shape, Size, Rank) and generators (Fill,
// ZerosLike, OnesLike, Range). The other array kernels live in cast_ops.cc,
// shuffle_ops.cc, slice_ops.cc and gather_ops.cc and are registered from here.
//
// Data movement works on raw bytes (array_util.h), so one kernel serves every
// fixed-size dtype and DT_STRING. Everything is validated at Compute time.
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/ops/array_util.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using array_internal::CopyElements;
using array_internal::KernelNode;
using tensorflow::DT_INT32;
using tensorflow::DT_INT64;

using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;

absl::Status CheckInputCount(const KernelContext& ctx, int n) {
  if (ctx.num_inputs != n) {
    return ctx.node.Invalid(absl::StrCat("expected ", n, " inputs, got ", ctx.num_inputs));
  }
  return absl::OkStatus();
}

// `in` (its buffer shared, not copied) with a new shape of equal element count.
absl::StatusOr<Tensor> Reshaped(const KernelNode& node, const Tensor& in,
                                std::vector<int64_t> dims) {
  absl::StatusOr<TensorShape> shape = TensorShape::Make(std::move(dims));
  if (!shape.ok()) return node.Invalid(shape.status().message());
  absl::StatusOr<Tensor> out = in.Reshaped(*std::move(shape));
  if (!out.ok()) return node.Invalid(out.status().message());
  return out;
}

// Identity, StopGradient, Snapshot: the input itself, buffer shared.
KernelOr MakeIdentity(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1));
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 1));
    out[0] = in[0];
    return absl::OkStatus();
  });
}

KernelOr MakeIdentityN(const KernelContext& ctx) {
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    if (out.size() != in.size()) {
      return node.Invalid(absl::StrCat(in.size(), " inputs but ", out.size(), " outputs"));
    }
    for (size_t i = 0; i < in.size(); ++i) out[i] = in[i];
    return absl::OkStatus();
  });
}

// The output dims of Reshape: `spec` with at most one -1 inferred from `count`.
absl::StatusOr<std::vector<int64_t>> ReshapeDims(const KernelNode& node,
                                                 std::vector<int64_t> spec,
                                                 int64_t count) {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1 && infer < 0) {
      infer = static_cast<int>(i);
    } else if (spec[i] < 0) {
      return node.Invalid(absl::StrCat("shape [", absl::StrJoin(spec, ","),
                                       "] has a negative size other than one -1"));
    } else if (__builtin_mul_overflow(known, spec[i], &known)) {
      return node.Invalid(absl::StrCat("shape [", absl::StrJoin(spec, ","),
                                       "] overflows int64"));
    }
  }
  if (infer >= 0) {
    if (known == 0 || count % known != 0) {
      return node.Invalid(absl::StrCat("cannot infer the -1 in shape [",
                                       absl::StrJoin(spec, ","), "] for ", count,
                                       " input elements"));
    }
    spec[infer] = count / known;
  } else if (known != count) {
    return node.Invalid(absl::StrCat("shape [", absl::StrJoin(spec, ","), "] has ", known,
                                     " elements but the input has ", count));
  }
  return spec;
}

KernelOr MakeReshape(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2));
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 2));
    RETURN_IF_ERROR(node.CheckData(in[0], "tensor"));
    ASSIGN_OR_RETURN(std::vector<int64_t> spec, node.ReadIntVector(in[1], "shape"));
    ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                     ReshapeDims(node, std::move(spec), in[0].num_elements()));
    ASSIGN_OR_RETURN(out[0], Reshaped(node, in[0], std::move(dims)));
    return absl::OkStatus();
  });
}

KernelOr MakeSqueeze(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1));
  std::vector<int64_t> axes;
  for (const char* attr : {"squeeze_dims", "axis"}) {
    if (ctx.node.Has(attr)) {
      ASSIGN_OR_RETURN(axes, ctx.node.GetIntList(attr));
    }
  }
  return MakeKernel([node = KernelNode(ctx.node), axes](absl::Span<const Tensor> in,
                                                         std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 1));
    RETURN_IF_ERROR(node.CheckData(in[0], "input"));
    const TensorShape& shape = in[0].shape();
    std::vector<bool> drop(shape.rank(), false);
    if (axes.empty()) {
      for (int d = 0; d < shape.rank(); ++d) drop[d] = shape.dim(d) == 1;
    }
    for (int64_t a : axes) {
      ASSIGN_OR_RETURN(int d, node.NormalizeAxis(a, shape.rank(), "squeeze dim"));
      if (shape.dim(d) != 1) {
        return node.Invalid(absl::StrCat("cannot squeeze dim ", a, " of ",
                                         in[0].DebugString(), ": size is not 1"));
      }
      drop[d] = true;
    }
    std::vector<int64_t> dims;
    for (int d = 0; d < shape.rank(); ++d) {
      if (!drop[d]) dims.push_back(shape.dim(d));
    }
    ASSIGN_OR_RETURN(out[0], Reshaped(node, in[0], std::move(dims)));
    return absl::OkStatus();
  });
}

KernelOr MakeExpandDims(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2));
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 2));
    RETURN_IF_ERROR(node.CheckData(in[0], "input"));
    ASSIGN_OR_RETURN(int64_t dim, node.ReadScalarInt(in[1], "dim"));
    const int rank = in[0].shape().rank();
    // dim in [-rank-1, rank]: -1 appends a trailing 1.
    ASSIGN_OR_RETURN(int d, node.NormalizeAxis(dim, rank + 1, "dim"));
    std::vector<int64_t> dims = in[0].shape().dims();
    dims.insert(dims.begin() + d, 1);
    ASSIGN_OR_RETURN(out[0], Reshaped(node, in[0], std::move(dims)));
    return absl::OkStatus();
  });
}

// Writes `values` as an int32 or int64 tensor of shape `dims`.
absl::StatusOr<Tensor> IntTensor(const KernelNode& node, DataType dtype,
                                 const std::vector<int64_t>& values,
                                 std::vector<int64_t> dims) {
  ASSIGN_OR_RETURN(Tensor t, node.Allocate(dtype, std::move(dims)));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DT_INT64) {
      t.data<int64_t>()[i] = values[i];
    } else if (values[i] > std::numeric_limits<int32_t>::max()) {
      return node.Invalid(absl::StrCat("value ", values[i], " does not fit out_type int32"));
    } else {
      t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
    }
  }
  return t;
}

enum class ShapeQuery { kShape, kSize, kRank };

template <ShapeQuery kQuery>
KernelOr MakeShapeQuery(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1));
  DataType out_type = DT_INT32;
  if (kQuery != ShapeQuery::kRank && ctx.node.Has("out_type")) {
    ASSIGN_OR_RETURN(out_type, ctx.node.GetType("out_type"));
  }
  if (out_type != DT_INT32 && out_type != DT_INT64) {
    return ctx.node.Unsupported(
        absl::StrCat("out_type ", DataTypeName(out_type), " (want int32 or int64)"));
  }
  return MakeKernel([node = KernelNode(ctx.node), out_type](absl::Span<const Tensor> in,
                                                             std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 1));
    const TensorShape& shape = in[0].shape();
    if (kQuery == ShapeQuery::kShape) {
      ASSIGN_OR_RETURN(out[0], IntTensor(node, out_type, shape.dims(), {shape.rank()}));
    } else if (kQuery == ShapeQuery::kSize) {
      ASSIGN_OR_RETURN(out[0], IntTensor(node, out_type, {shape.num_elements()}, {}));
    } else {
      ASSIGN_OR_RETURN(out[0], IntTensor(node, out_type, {shape.rank()}, {}));
    }
    return absl::OkStatus();
  });
}

KernelOr MakeFill(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 2));
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 2));
    ASSIGN_OR_RETURN(std::vector<int64_t> dims, node.ReadIntVector(in[0], "dims"));
    const Tensor& value = in[1];
    RETURN_IF_ERROR(node.CheckData(value, "value"));
    if (value.shape().rank() != 0) {
      return node.Invalid(absl::StrCat("value must be a scalar, got ", value.DebugString()));
    }
    ASSIGN_OR_RETURN(Tensor t, node.Allocate(value.dtype(), std::move(dims)));
    for (int64_t i = 0; i < t.num_elements(); ++i) CopyElements(value, 0, t, i, 1);
    out[0] = std::move(t);
    return absl::OkStatus();
  });
}

// Writes the value 1 of `t`'s dtype into every element.
absl::Status FillOnes(const KernelNode& node, Tensor& t) {
  const int64_t n = t.num_elements();
  auto fill = [&](auto one) {
    using T = decltype(one);
    T* p = reinterpret_cast<T*>(t.raw_data());
    for (int64_t i = 0; i < n; ++i) std::memcpy(p + i, &one, sizeof(T));
  };
  switch (t.dtype()) {
    case tensorflow::DT_FLOAT: fill(1.0f); break;
    case tensorflow::DT_DOUBLE: fill(1.0); break;
    case tensorflow::DT_HALF: fill(uint16_t{0x3C00}); break;      // IEEE binary16 1.0
    case tensorflow::DT_BFLOAT16: fill(uint16_t{0x3F80}); break;  // top half of 1.0f
    case tensorflow::DT_INT8: case tensorflow::DT_UINT8: case tensorflow::DT_BOOL:
      fill(uint8_t{1}); break;
    case tensorflow::DT_INT16: case tensorflow::DT_UINT16: fill(uint16_t{1}); break;
    case tensorflow::DT_INT32: case tensorflow::DT_UINT32: fill(uint32_t{1}); break;
    case tensorflow::DT_INT64: case tensorflow::DT_UINT64: fill(uint64_t{1}); break;
    default:
      return node.Invalid(absl::StrCat("no value 1 for dtype ", DataTypeName(t.dtype())));
  }
  return absl::OkStatus();
}

template <bool kOnes>
KernelOr MakeConstantLike(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckInputCount(ctx, 1));
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 1));
    RETURN_IF_ERROR(node.CheckData(in[0], "x"));
    ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), in[0].shape().dims()));
    if (kOnes) RETURN_IF_ERROR(FillOnes(node, t));
    out[0] = std::move(t);
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterArrayKernels(KernelRegistry& registry) {
  for (const char* op : {"Identity", "StopGradient", "Snapshot", "PreventGradient"}) {
    registry.Register(op, MakeIdentity);
  }
  registry.Register("IdentityN", MakeIdentityN);
  registry.Register("Reshape", MakeReshape);
  registry.Register("Squeeze", MakeSqueeze);
  registry.Register("ExpandDims", MakeExpandDims);
  registry.Register("Shape", MakeShapeQuery<ShapeQuery::kShape>);
  registry.Register("Size", MakeShapeQuery<ShapeQuery::kSize>);
  registry.Register("Rank", MakeShapeQuery<ShapeQuery::kRank>);
  registry.Register("Fill", MakeFill);
  registry.Register("ZerosLike", MakeConstantLike<false>);
  registry.Register("OnesLike", MakeConstantLike<true>);
  RegisterCastKernels(registry);
  RegisterShuffleKernels(registry);
  RegisterSliceKernels(registry);
  RegisterGatherKernels(registry);
}

}  // namespace swapserve
