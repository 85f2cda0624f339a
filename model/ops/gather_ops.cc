// Indexing kernels: GatherV2 (batch_dims 0), Gather (axis 0), Select (condition
// of the same shape, a scalar, or a vector over dim 0), SelectV2 (all three
// inputs broadcast) and Where (coordinates of non-zero elements).
//
// Byte copies (array_util.h), so every fixed-size dtype and DT_STRING work. Every
// index is checked against its dimension before anything is read.
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/ops/array_util.h"
#include "model/ops/broadcast.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using array_internal::CopyElements;
using array_internal::KernelNode;
using array_internal::Product;
using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;

// All indices widened to int64, each checked to lie in [0, limit).
absl::StatusOr<std::vector<int64_t>> ReadIndices(const KernelNode& node, const Tensor& t,
                                                 int64_t limit) {
  std::vector<int64_t> v(t.num_elements());
  if (t.dtype() == tensorflow::DT_INT32) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = t.data<int32_t>()[i];
  } else if (t.dtype() == tensorflow::DT_INT64) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = t.data<int64_t>()[i];
  } else {
    return node.Invalid(absl::StrCat("indices must be int32 or int64, got ", t.DebugString()));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0 || v[i] >= limit) {
      return node.Invalid(absl::StrCat("indices[", i, "] = ", v[i], " is not in [0, ", limit,
                                       ")"));
    }
  }
  return v;
}

absl::Status Gather(const KernelNode& node, const Tensor& params, const Tensor& indices,
                    int64_t axis, Tensor& result) {
  RETURN_IF_ERROR(node.CheckData(params, "params"));
  const std::vector<int64_t>& p_dims = params.shape().dims();
  const int rank = params.shape().rank();
  if (rank == 0) return node.Invalid("params must be at least 1-dimensional");
  ASSIGN_OR_RETURN(int a, node.NormalizeAxis(axis, rank, "axis"));
  const int64_t limit = p_dims[a];
  ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadIndices(node, indices, limit));
  std::vector<int64_t> dims(p_dims.begin(), p_dims.begin() + a);
  dims.insert(dims.end(), indices.shape().dims().begin(), indices.shape().dims().end());
  dims.insert(dims.end(), p_dims.begin() + a + 1, p_dims.end());
  ASSIGN_OR_RETURN(result, node.Allocate(params.dtype(), std::move(dims)));
  if (result.num_elements() == 0) return absl::OkStatus();
  const int64_t outer = Product(p_dims, 0, a), inner = Product(p_dims, a + 1, rank);
  const int64_t n = static_cast<int64_t>(idx.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < n; ++j) {
      CopyElements(params, (o * limit + idx[j]) * inner, result, (o * n + j) * inner, inner);
    }
  }
  return absl::OkStatus();
}

KernelOr MakeGatherV2(const KernelContext& ctx) {
  if (ctx.num_inputs != 3) return ctx.node.Invalid("expected 3 inputs");
  const int64_t batch_dims = ctx.node.GetIntOr("batch_dims", 0);
  if (batch_dims != 0) {
    return ctx.node.Unsupported(absl::StrCat("batch_dims = ", batch_dims, " (only 0)"));
  }
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 3));
    ASSIGN_OR_RETURN(int64_t axis, node.ReadScalarInt(in[2], "axis"));
    return Gather(node, in[0], in[1], axis, out[0]);
  });
}

KernelOr MakeGatherV1(const KernelContext& ctx) {
  if (ctx.num_inputs != 2) return ctx.node.Invalid("expected 2 inputs");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 2));
    return Gather(node, in[0], in[1], 0, out[0]);
  });
}

bool IsTrue(const Tensor& cond, int64_t i) { return cond.data<uint8_t>()[i] != 0; }

absl::Status CheckSelectInputs(const KernelNode& node, absl::Span<const Tensor> in) {
  RETURN_IF_ERROR(node.CheckArity(in, 3));
  RETURN_IF_ERROR(node.CheckDtype(in[0], tensorflow::DT_BOOL, "condition"));
  RETURN_IF_ERROR(node.CheckData(in[1], "t"));
  if (in[2].dtype() != in[1].dtype()) {
    return node.Invalid(absl::StrCat("t is ", in[1].DebugString(), " but e is ",
                                     in[2].DebugString()));
  }
  return absl::OkStatus();
}

absl::Status SelectCompute(const KernelNode& node, absl::Span<const Tensor> in,
                           std::vector<Tensor>& out) {
  RETURN_IF_ERROR(CheckSelectInputs(node, in));
  const Tensor &cond = in[0], &t = in[1], &e = in[2];
  if (!(t.shape() == e.shape())) {
    return node.Invalid(absl::StrCat("t ", t.DebugString(), " and e ", e.DebugString(),
                                     " differ in shape"));
  }
  if (cond.shape().rank() == 0) {
    out[0] = IsTrue(cond, 0) ? t : e;
    return absl::OkStatus();
  }
  // inner: elements chosen by one condition value.
  int64_t inner = 1;
  if (cond.shape() == t.shape()) {
    inner = 1;
  } else if (cond.shape().rank() == 1 && t.shape().rank() >= 1 &&
             cond.shape().dim(0) == t.shape().dim(0)) {
    inner = Product(t.shape().dims(), 1, t.shape().rank());
  } else {
    return node.Invalid(absl::StrCat("condition ", cond.DebugString(),
                                     " must be a scalar, match t ", t.DebugString(),
                                     ", or be a vector over its first dimension"));
  }
  ASSIGN_OR_RETURN(Tensor result, node.Allocate(t.dtype(), t.shape().dims()));
  if (result.num_elements() > 0) {
    for (int64_t i = 0; i < cond.num_elements(); ++i) {
      CopyElements(IsTrue(cond, i) ? t : e, i * inner, result, i * inner, inner);
    }
  }
  out[0] = std::move(result);
  return absl::OkStatus();
}

// Offsets into an input of `in` shape for each element of broadcast shape `out`.
std::vector<int64_t> BroadcastOffsets(const TensorShape& in, const TensorShape& out) {
  std::vector<int64_t> offsets(out.num_elements());
  BroadcastIndexer(in, out).ForEach([&](int64_t i, int64_t off) { offsets[i] = off; });
  return offsets;
}

absl::Status SelectV2Compute(const KernelNode& node, absl::Span<const Tensor> in,
                             std::vector<Tensor>& out) {
  RETURN_IF_ERROR(CheckSelectInputs(node, in));
  const Tensor &cond = in[0], &t = in[1], &e = in[2];
  absl::StatusOr<TensorShape> shape = BroadcastShape(cond.shape(), t.shape());
  if (shape.ok()) shape = BroadcastShape(*shape, e.shape());
  if (!shape.ok()) {
    return node.Invalid(absl::StrCat("condition ", cond.DebugString(), ", t ",
                                     t.DebugString(), " and e ", e.DebugString(),
                                     " do not broadcast"));
  }
  ASSIGN_OR_RETURN(Tensor result, node.Allocate(t.dtype(), shape->dims()));
  if (result.num_elements() > 0) {
    const std::vector<int64_t> t_off = BroadcastOffsets(t.shape(), *shape);
    const std::vector<int64_t> e_off = BroadcastOffsets(e.shape(), *shape);
    BroadcastIndexer(cond.shape(), *shape).ForEach([&](int64_t i, int64_t c) {
      if (IsTrue(cond, c)) {
        CopyElements(t, t_off[i], result, i, 1);
      } else {
        CopyElements(e, e_off[i], result, i, 1);
      }
    });
  }
  out[0] = std::move(result);
  return absl::OkStatus();
}

template <absl::Status (*kCompute)(const KernelNode&, absl::Span<const Tensor>,
                                   std::vector<Tensor>&)>
KernelOr MakeSelect(const KernelContext& ctx) {
  if (ctx.num_inputs != 3) return ctx.node.Invalid("expected 3 inputs");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    return kCompute(node, in, out);
  });
}

// True if the element at byte `p` of a `size`-byte dtype is not zero. Floats are
// zero when every bit but the sign is (so -0.0 is zero); integers and bool when
// every bit is. Little-endian: the sign bit is in the last byte.
bool NonZero(const char* p, size_t size, bool is_float) {
  for (size_t b = 0; b < size; ++b) {
    uint8_t byte = static_cast<uint8_t>(p[b]);
    if (is_float && b == size - 1) byte &= 0x7F;
    if (byte != 0) return true;
  }
  return false;
}

// Where(input): int64 [num_true, rank] coordinates of the non-zero elements,
// in row-major order.
absl::Status WhereCompute(const KernelNode& node, absl::Span<const Tensor> in,
                          std::vector<Tensor>& out) {
  RETURN_IF_ERROR(node.CheckArity(in, 1));
  const Tensor& x = in[0];
  const size_t size = DataTypeSize(x.dtype());
  if (size == 0) return node.Invalid(absl::StrCat("unsupported input ", x.DebugString()));
  const DataType dt = x.dtype();
  const bool is_float = dt == tensorflow::DT_FLOAT || dt == tensorflow::DT_DOUBLE ||
                        dt == tensorflow::DT_HALF || dt == tensorflow::DT_BFLOAT16;
  std::vector<int64_t> hits;
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    if (NonZero(x.raw_data() + i * size, size, is_float)) hits.push_back(i);
  }
  const int rank = x.shape().rank();
  ASSIGN_OR_RETURN(Tensor t, node.Allocate(tensorflow::DT_INT64,
                                           {static_cast<int64_t>(hits.size()), rank}));
  const std::vector<int64_t> strides = array_internal::RowMajorStrides(x.shape().dims());
  int64_t* coords = t.data<int64_t>();
  for (int64_t i : hits) {
    for (int d = 0; d < rank; ++d) *coords++ = (i / strides[d]) % x.shape().dim(d);
  }
  out[0] = std::move(t);
  return absl::OkStatus();
}

KernelOr MakeWhere(const KernelContext& ctx) {
  if (ctx.num_inputs != 1) return ctx.node.Invalid("expected 1 input");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    return WhereCompute(node, in, out);
  });
}

}  // namespace

void RegisterGatherKernels(KernelRegistry& registry) {
  registry.Register("GatherV2", MakeGatherV2);
  registry.Register("Gather", MakeGatherV1);
  registry.Register("Select", MakeSelect<SelectCompute>);
  registry.Register("SelectV2", MakeSelect<SelectV2Compute>);
  registry.Register("Where", MakeWhere);
}

}  // namespace swapserve
