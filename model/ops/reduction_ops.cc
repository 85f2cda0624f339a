// Reductions over axes (Sum, Mean, Max, Min, Prod) and ArgMax/ArgMin.
#include <algorithm>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "model/ops/broadcast.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using tensorflow::DT_DOUBLE;
using tensorflow::DT_FLOAT;
using tensorflow::DT_INT32;
using tensorflow::DT_INT64;

// Reads an int32/int64 scalar or vector tensor as int64 values.
absl::StatusOr<std::vector<int64_t>> IntValues(const NodeName& node, const Tensor& t) {
  std::vector<int64_t> v(t.num_elements());
  if (t.dtype() == DT_INT32) {
    std::copy(t.data<int32_t>(), t.data<int32_t>() + v.size(), v.begin());
  } else if (t.dtype() == DT_INT64) {
    std::copy(t.data<int64_t>(), t.data<int64_t>() + v.size(), v.begin());
  } else {
    return node.Invalid(absl::StrCat("axis input must be int32 or int64, got ",
                                     DataTypeName(t.dtype())));
  }
  return v;
}

// Marks the reduced axes of a rank-`rank` input, accepting negative axes.
absl::StatusOr<std::vector<bool>> ReducedAxes(const NodeName& node, int rank,
                                              const std::vector<int64_t>& axes) {
  std::vector<bool> reduced(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) {
      return node.Invalid(absl::StrCat("axis ", a, " out of range for rank ", rank));
    }
    reduced[a < 0 ? a + rank : a] = true;
  }
  return reduced;
}

enum class Reduce { kSum, kMean, kMax, kMin, kProd };

template <typename T>
void ReduceInto(Reduce kind, const Tensor& x, const TensorShape& kept, Tensor& out) {
  T* po = out.data<T>();
  const int64_t n_out = out.num_elements();
  T init = 0;
  if (kind == Reduce::kProd) init = 1;
  if (kind == Reduce::kMax) init = std::numeric_limits<T>::lowest();
  if (kind == Reduce::kMin) init = std::numeric_limits<T>::max();
  std::fill(po, po + n_out, init);
  const T* px = x.data<T>();
  BroadcastIndexer indexer(kept, x.shape());
  // Integer sums and products wrap (as in TF) instead of overflowing (UB).
  using Acc = typename std::conditional_t<std::is_integral_v<T>, std::make_unsigned<T>,
                                          std::type_identity<T>>::type;
  indexer.ForEach([&](int64_t i, int64_t o) {
    switch (kind) {
      case Reduce::kSum:
      case Reduce::kMean: po[o] = static_cast<T>(static_cast<Acc>(po[o]) + static_cast<Acc>(px[i])); break;
      case Reduce::kProd: po[o] = static_cast<T>(static_cast<Acc>(po[o]) * static_cast<Acc>(px[i])); break;
      case Reduce::kMax: po[o] = std::max(po[o], px[i]); break;
      case Reduce::kMin: po[o] = std::min(po[o], px[i]); break;
    }
  });
  if (kind == Reduce::kMean && n_out > 0) {
    const int64_t count = x.num_elements() / n_out;
    if (count > 0) {
      for (int64_t i = 0; i < n_out; ++i) po[i] /= static_cast<T>(count);
    }
  }
}

class ReduceKernel : public Kernel {
 public:
  ReduceKernel(const NodeAttrs& node, Reduce kind, bool keep_dims)
      : node_(node), kind_(kind), keep_dims_(keep_dims) {}

  absl::Status Compute(absl::Span<const Tensor> in,
                       std::vector<Tensor>& out) const override {
    const NodeName& node = node_;
    if (in.size() != 2) return node.Invalid("expects input and reduction axes");
    const Tensor& x = in[0];
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, IntValues(node, in[1]));
    ASSIGN_OR_RETURN(std::vector<bool> reduced, ReducedAxes(node, x.shape().rank(), axes));
    std::vector<int64_t> kept_dims, out_dims;
    for (int d = 0; d < x.shape().rank(); ++d) {
      kept_dims.push_back(reduced[d] ? 1 : x.shape().dim(d));
      if (!reduced[d] || keep_dims_) out_dims.push_back(kept_dims.back());
    }
    ASSIGN_OR_RETURN(TensorShape kept, TensorShape::Make(kept_dims));
    ASSIGN_OR_RETURN(TensorShape out_shape, TensorShape::Make(out_dims));
    if ((kind_ == Reduce::kMax || kind_ == Reduce::kMin) && x.num_elements() == 0 &&
        out_shape.num_elements() > 0) {
      return node.Invalid("cannot take the max/min of an empty set");
    }
    ASSIGN_OR_RETURN(out[0], Tensor::Allocate(x.dtype(), out_shape));
    switch (x.dtype()) {
      case DT_FLOAT: ReduceInto<float>(kind_, x, kept, out[0]); break;
      case DT_DOUBLE: ReduceInto<double>(kind_, x, kept, out[0]); break;
      case DT_INT32: ReduceInto<int32_t>(kind_, x, kept, out[0]); break;
      case DT_INT64: ReduceInto<int64_t>(kind_, x, kept, out[0]); break;
      default: return node.Unsupported(absl::StrCat("dtype ", DataTypeName(x.dtype())));
    }
    return absl::OkStatus();
  }

 private:
  NodeName node_;
  Reduce kind_;
  bool keep_dims_;
};

template <Reduce kKind>
absl::StatusOr<std::unique_ptr<Kernel>> MakeReduce(const KernelContext& c) {
  return std::make_unique<ReduceKernel>(c.node, kKind, c.node.GetBoolOr("keep_dims", false));
}

// ArgMax / ArgMin over one axis; output dtype from output_type (int64 default).
template <bool kMax>
class ArgKernel : public Kernel {
 public:
  ArgKernel(const NodeAttrs& node, DataType out_type)
      : node_(node), out_type_(out_type) {}
  absl::Status Compute(absl::Span<const Tensor> in,
                       std::vector<Tensor>& out) const override {
    const NodeName& node = node_;
    if (in.size() != 2) return node.Invalid("expects input and dimension");
    const Tensor& x = in[0];
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, IntValues(node, in[1]));
    if (axes.size() != 1) return node.Invalid("dimension must be a scalar");
    const int rank = x.shape().rank();
    ASSIGN_OR_RETURN(std::vector<bool> reduced, ReducedAxes(node, rank, axes));
    const int axis = static_cast<int>(std::find(reduced.begin(), reduced.end(), true) - reduced.begin());
    if (x.shape().dim(axis) == 0) return node.Invalid("reduction over an empty axis");
    std::vector<int64_t> out_dims;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < rank; ++d) {
      if (d != axis) out_dims.push_back(x.shape().dim(d));
      if (d < axis) outer *= x.shape().dim(d);
      if (d > axis) inner *= x.shape().dim(d);
    }
    ASSIGN_OR_RETURN(TensorShape shape, TensorShape::Make(out_dims));
    ASSIGN_OR_RETURN(out[0], Tensor::Allocate(out_type_, shape));
    switch (x.dtype()) {
      case DT_FLOAT: return Run<float>(x, axis, outer, inner, out[0]);
      case DT_DOUBLE: return Run<double>(x, axis, outer, inner, out[0]);
      case DT_INT32: return Run<int32_t>(x, axis, outer, inner, out[0]);
      case DT_INT64: return Run<int64_t>(x, axis, outer, inner, out[0]);
      default: return node.Unsupported(absl::StrCat("dtype ", DataTypeName(x.dtype())));
    }
  }

 private:
  template <typename T>
  absl::Status Run(const Tensor& x, int axis, int64_t outer, int64_t inner,
                   Tensor& out) const {
    const int64_t len = x.shape().dim(axis);
    const T* px = x.data<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        int64_t best = 0;
        for (int64_t k = 1; k < len; ++k) {
          const T v = px[(o * len + k) * inner + i], b = px[(o * len + best) * inner + i];
          if (kMax ? v > b : v < b) best = k;
        }
        if (out_type_ == DT_INT32) {
          out.data<int32_t>()[o * inner + i] = static_cast<int32_t>(best);
        } else {
          out.data<int64_t>()[o * inner + i] = best;
        }
      }
    }
    return absl::OkStatus();
  }
  NodeName node_;
  DataType out_type_;
};

template <bool kMax>
absl::StatusOr<std::unique_ptr<Kernel>> MakeArg(const KernelContext& c) {
  DataType out_type = DT_INT64;
  if (c.node.Has("output_type")) {
    ASSIGN_OR_RETURN(out_type, c.node.GetType("output_type"));
  }
  if (out_type != DT_INT32 && out_type != DT_INT64) {
    return c.node.Unsupported(absl::StrCat("output_type ", DataTypeName(out_type)));
  }
  return std::make_unique<ArgKernel<kMax>>(c.node, out_type);
}

}  // namespace

void RegisterReductionKernels(KernelRegistry& r) {
  r.Register("Sum", MakeReduce<Reduce::kSum>);
  r.Register("Mean", MakeReduce<Reduce::kMean>);
  r.Register("Max", MakeReduce<Reduce::kMax>);
  r.Register("Min", MakeReduce<Reduce::kMin>);
  r.Register("Prod", MakeReduce<Reduce::kProd>);
  r.Register("ArgMax", MakeArg<true>);
  r.Register("ArgMin", MakeArg<false>);
}

}  // namespace swapserve
