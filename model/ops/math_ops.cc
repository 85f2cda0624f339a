// Math kernels: element-wise arithmetic and comparisons (NumPy broadcasting), and
// the reductions. Matrix products live in matmul_ops.cc.
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "model/ops/broadcast.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using tensorflow::DT_BOOL;
using tensorflow::DT_DOUBLE;
using tensorflow::DT_FLOAT;
using tensorflow::DT_INT32;
using tensorflow::DT_INT64;

// Applies out[i] = fn(a[ia], b[ib]) with broadcasting; Out is the output C type.
template <typename T, typename Out, typename Fn>
absl::Status Binary(const NodeName& node, const Tensor& a, const Tensor& b,
                    DataType out_dtype, Fn fn, Tensor& out) {
  absl::StatusOr<TensorShape> shape = BroadcastShape(a.shape(), b.shape());
  if (!shape.ok()) return node.Invalid(shape.status().message());
  ASSIGN_OR_RETURN(out, Tensor::Allocate(out_dtype, *shape));
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  Out* po = out.data<Out>();
  const int64_t n = out.num_elements();
  if (a.shape() == b.shape()) {
    for (int64_t i = 0; i < n; ++i) po[i] = fn(pa[i], pb[i]);
  } else if (b.num_elements() == 1) {
    for (int64_t i = 0; i < n; ++i) po[i] = fn(pa[i], pb[0]);
  } else if (a.num_elements() == 1) {
    for (int64_t i = 0; i < n; ++i) po[i] = fn(pa[0], pb[i]);
  } else {
    BroadcastIndexer ia(a.shape(), *shape), ib(b.shape(), *shape);
    std::vector<int64_t> offsets_b(n);
    ib.ForEach([&](int64_t i, int64_t off) { offsets_b[i] = off; });
    ia.ForEach([&](int64_t i, int64_t off) { po[i] = fn(pa[off], pb[offsets_b[i]]); });
  }
  return absl::OkStatus();
}

absl::Status CheckBinaryInputs(const NodeName& node, absl::Span<const Tensor> in) {
  if (in.size() != 2) return node.Invalid(absl::StrCat("expects 2 inputs, got ", in.size()));
  if (in[0].dtype() != in[1].dtype()) {
    return node.Invalid(absl::StrCat("input dtypes differ: ", DataTypeName(in[0].dtype()),
                                     " vs ", DataTypeName(in[1].dtype())));
  }
  return absl::OkStatus();
}

// An arithmetic op over float, double, int32 and int64 (ints only when IntsToo).
template <template <typename> class Op, bool IntsToo = true>
class ArithmeticKernel : public Kernel {
 public:
  explicit ArithmeticKernel(const NodeAttrs& node) : node_(node) {}
  absl::Status Compute(absl::Span<const Tensor> in,
                       std::vector<Tensor>& out) const override {
    const NodeName& node = node_;
    RETURN_IF_ERROR(CheckBinaryInputs(node, in));
    switch (in[0].dtype()) {
      case DT_FLOAT: return Binary<float, float>(node, in[0], in[1], DT_FLOAT, Op<float>(), out[0]);
      case DT_DOUBLE: return Binary<double, double>(node, in[0], in[1], DT_DOUBLE, Op<double>(), out[0]);
      case DT_INT32:
        if (IntsToo) return Binary<int32_t, int32_t>(node, in[0], in[1], DT_INT32, Op<int32_t>(), out[0]);
        break;
      case DT_INT64:
        if (IntsToo) return Binary<int64_t, int64_t>(node, in[0], in[1], DT_INT64, Op<int64_t>(), out[0]);
        break;
      default: break;
    }
    return node.Unsupported(absl::StrCat("dtype ", DataTypeName(in[0].dtype())));
  }

 private:
  NodeName node_;
};

// Integer arithmetic wraps on overflow, as TF's does, by computing unsigned
// (signed overflow is undefined in C++).
template <typename T, typename Fn>
T Wrapping(T a, T b, Fn fn) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(fn(static_cast<U>(a), static_cast<U>(b)));
  } else {
    return fn(a, b);
  }
}
template <typename T> struct AddOp {
  T operator()(T a, T b) const { return Wrapping(a, b, [](auto x, auto y) { return x + y; }); }
};
template <typename T> struct SubOp {
  T operator()(T a, T b) const { return Wrapping(a, b, [](auto x, auto y) { return x - y; }); }
};
template <typename T> struct MulOp {
  T operator()(T a, T b) const { return Wrapping(a, b, [](auto x, auto y) { return x * y; }); }
};
template <typename T> struct DivOp { T operator()(T a, T b) const { return a / b; } };
template <typename T> struct MaxOp { T operator()(T a, T b) const { return a > b ? a : b; } };
template <typename T> struct MinOp { T operator()(T a, T b) const { return a < b ? a : b; } };
template <typename T> struct SqDiffOp {
  T operator()(T a, T b) const {
    const T d = SubOp<T>()(a, b);
    return MulOp<T>()(d, d);
  }
};
template <typename T> struct PowOp { T operator()(T a, T b) const { return std::pow(a, b); } };
// Integer division by zero (and MIN / -1) is undefined in C++ and traps; TF
// reports an error for zero. We yield 0 for zero and wrap MIN / -1 rather than
// crash (a documented divergence that float graphs never reach).
template <typename T> struct SafeDivOp {
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if (b == -1) return Wrapping(T(0), a, [](auto x, auto y) { return x - y; });
    }
    return a / b;
  }
};

template <template <typename> class Op, bool IntsToo = true>
absl::StatusOr<std::unique_ptr<Kernel>> MakeArithmetic(const KernelContext& c) {
  return std::make_unique<ArithmeticKernel<Op, IntsToo>>(c.node);
}

// Comparison op producing DT_BOOL.
template <typename Cmp>
class CompareKernel : public Kernel {
 public:
  explicit CompareKernel(const NodeAttrs& node) : node_(node) {}
  absl::Status Compute(absl::Span<const Tensor> in,
                       std::vector<Tensor>& out) const override {
    const NodeName& node = node_;
    RETURN_IF_ERROR(CheckBinaryInputs(node, in));
    auto fn = [](auto a, auto b) -> uint8_t { return Cmp()(a, b) ? 1 : 0; };
    switch (in[0].dtype()) {
      case DT_FLOAT: return Binary<float, uint8_t>(node, in[0], in[1], DT_BOOL, fn, out[0]);
      case DT_DOUBLE: return Binary<double, uint8_t>(node, in[0], in[1], DT_BOOL, fn, out[0]);
      case DT_INT32: return Binary<int32_t, uint8_t>(node, in[0], in[1], DT_BOOL, fn, out[0]);
      case DT_INT64: return Binary<int64_t, uint8_t>(node, in[0], in[1], DT_BOOL, fn, out[0]);
      case DT_BOOL: return Binary<uint8_t, uint8_t>(node, in[0], in[1], DT_BOOL, fn, out[0]);
      default: return node.Unsupported(absl::StrCat("dtype ", DataTypeName(in[0].dtype())));
    }
  }

 private:
  NodeName node_;
};

template <typename Cmp>
absl::StatusOr<std::unique_ptr<Kernel>> MakeCompare(const KernelContext& c) {
  return std::make_unique<CompareKernel<Cmp>>(c.node);
}

// Unary float (and double) op; IntsToo adds int32/int64.
template <typename Fn, bool IntsToo = false>
class UnaryKernel : public Kernel {
 public:
  explicit UnaryKernel(const NodeAttrs& node) : node_(node) {}
  absl::Status Compute(absl::Span<const Tensor> in,
                       std::vector<Tensor>& out) const override {
    const NodeName& node = node_;
    if (in.size() != 1) return node.Invalid("expects 1 input");
    switch (in[0].dtype()) {
      case DT_FLOAT: return Apply<float>(in[0], out[0]);
      case DT_DOUBLE: return Apply<double>(in[0], out[0]);
      case DT_INT32: if (IntsToo) return Apply<int32_t>(in[0], out[0]); break;
      case DT_INT64: if (IntsToo) return Apply<int64_t>(in[0], out[0]); break;
      default: break;
    }
    return node.Unsupported(absl::StrCat("dtype ", DataTypeName(in[0].dtype())));
  }

 private:
  template <typename T>
  static absl::Status Apply(const Tensor& x, Tensor& y) {
    ASSIGN_OR_RETURN(y, Tensor::Allocate(x.dtype(), x.shape()));
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const Fn fn;
    for (int64_t i = 0, n = x.num_elements(); i < n; ++i) py[i] = fn(px[i]);
    return absl::OkStatus();
  }
  NodeName node_;
};

struct NegFn {
  template <typename T> T operator()(T x) const { return SubOp<T>()(T(0), x); }
};
struct SquareFn {
  template <typename T> T operator()(T x) const { return MulOp<T>()(x, x); }
};
struct AbsFn {
  template <typename T> T operator()(T x) const { return x < 0 ? NegFn()(x) : x; }
};
struct SqrtFn { template <typename T> T operator()(T x) const { return std::sqrt(x); } };
struct RsqrtFn { template <typename T> T operator()(T x) const { return T(1) / std::sqrt(x); } };
struct ExpFn { template <typename T> T operator()(T x) const { return std::exp(x); } };
struct LogFn { template <typename T> T operator()(T x) const { return std::log(x); } };
struct ErfFn { template <typename T> T operator()(T x) const { return std::erf(x); } };
struct ReciprocalFn { template <typename T> T operator()(T x) const { return T(1) / x; } };

template <typename Fn, bool IntsToo = false>
absl::StatusOr<std::unique_ptr<Kernel>> MakeUnary(const KernelContext& c) {
  return std::make_unique<UnaryKernel<Fn, IntsToo>>(c.node);
}

absl::StatusOr<std::unique_ptr<Kernel>> MakeLogicalNot(const KernelContext& c) {
  return MakeKernel([node = NodeName(c.node)](absl::Span<const Tensor> in,
                                               std::vector<Tensor>& out) -> absl::Status {
    if (in.size() != 1 || in[0].dtype() != DT_BOOL) return node.Invalid("expects one bool input");
    ASSIGN_OR_RETURN(out[0], Tensor::Allocate(DT_BOOL, in[0].shape()));
    for (int64_t i = 0; i < in[0].num_elements(); ++i) {
      out[0].data<uint8_t>()[i] = in[0].data<uint8_t>()[i] ? 0 : 1;
    }
    return absl::OkStatus();
  });
}

template <typename T> struct AndOp { T operator()(T a, T b) const { return a && b; } };
template <typename T> struct OrOp { T operator()(T a, T b) const { return a || b; } };

template <template <typename> class Op>
absl::StatusOr<std::unique_ptr<Kernel>> MakeLogical(const KernelContext& c) {
  return MakeKernel([node = NodeName(c.node)](absl::Span<const Tensor> in,
                                               std::vector<Tensor>& out) -> absl::Status {
    RETURN_IF_ERROR(CheckBinaryInputs(node, in));
    if (in[0].dtype() != DT_BOOL) return node.Invalid("expects bool inputs");
    return Binary<uint8_t, uint8_t>(node, in[0], in[1], DT_BOOL, Op<uint8_t>(), out[0]);
  });
}

}  // namespace

void RegisterReductionKernels(KernelRegistry& registry);
void RegisterMatMulKernels(KernelRegistry& registry);

void RegisterMathKernels(KernelRegistry& r) {
  r.Register("Add", MakeArithmetic<AddOp>);
  r.Register("AddV2", MakeArithmetic<AddOp>);
  r.Register("Sub", MakeArithmetic<SubOp>);
  r.Register("Mul", MakeArithmetic<MulOp>);
  r.Register("RealDiv", MakeArithmetic<DivOp, false>);
  r.Register("Div", MakeArithmetic<SafeDivOp>);
  r.Register("Maximum", MakeArithmetic<MaxOp>);
  r.Register("Minimum", MakeArithmetic<MinOp>);
  r.Register("SquaredDifference", MakeArithmetic<SqDiffOp>);
  r.Register("Pow", MakeArithmetic<PowOp, false>);
  r.Register("Equal", MakeCompare<std::equal_to<>>);
  r.Register("NotEqual", MakeCompare<std::not_equal_to<>>);
  r.Register("Less", MakeCompare<std::less<>>);
  r.Register("LessEqual", MakeCompare<std::less_equal<>>);
  r.Register("Greater", MakeCompare<std::greater<>>);
  r.Register("GreaterEqual", MakeCompare<std::greater_equal<>>);
  r.Register("LogicalAnd", MakeLogical<AndOp>);
  r.Register("LogicalOr", MakeLogical<OrOp>);
  r.Register("LogicalNot", MakeLogicalNot);
  r.Register("Neg", MakeUnary<NegFn, true>);
  r.Register("Square", MakeUnary<SquareFn, true>);
  r.Register("Abs", MakeUnary<AbsFn, true>);
  r.Register("Sqrt", MakeUnary<SqrtFn>);
  r.Register("Rsqrt", MakeUnary<RsqrtFn>);
  r.Register("Exp", MakeUnary<ExpFn>);
  r.Register("Log", MakeUnary<LogFn>);
  r.Register("Reciprocal", MakeUnary<ReciprocalFn>);
  r.Register("Erf", MakeUnary<ErfFn>);
  RegisterReductionKernels(r);
  RegisterMatMulKernels(r);
}

}  // namespace swapserve
