// Cast and Range: the array kernels whose work depends on the element type, so
// they dispatch from DataType to a C++ type instead of moving raw bytes.
//
// Cast converts as C++ static_cast does (float -> int truncates toward zero,
// int -> narrower int wraps), except that to bool is `x != 0` and float -> int
// values C++ leaves undefined (NaN, out of range) become 0 and the saturated bound.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "model/ops/array_util.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using array_internal::kMaxOutputElements;
using array_internal::KernelNode;
using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls fn(TypeTag<T>{}) for the C++ type of `dtype`; false if there is none.
template <typename Fn>
bool VisitNumeric(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case tensorflow::DT_FLOAT: fn(TypeTag<float>{}); return true;
    case tensorflow::DT_DOUBLE: fn(TypeTag<double>{}); return true;
    case tensorflow::DT_HALF: fn(TypeTag<Eigen::half>{}); return true;
    case tensorflow::DT_BFLOAT16: fn(TypeTag<Eigen::bfloat16>{}); return true;
    case tensorflow::DT_INT8: fn(TypeTag<int8_t>{}); return true;
    case tensorflow::DT_INT16: fn(TypeTag<int16_t>{}); return true;
    case tensorflow::DT_INT32: fn(TypeTag<int32_t>{}); return true;
    case tensorflow::DT_INT64: fn(TypeTag<int64_t>{}); return true;
    case tensorflow::DT_UINT8: fn(TypeTag<uint8_t>{}); return true;
    case tensorflow::DT_UINT16: fn(TypeTag<uint16_t>{}); return true;
    case tensorflow::DT_UINT32: fn(TypeTag<uint32_t>{}); return true;
    case tensorflow::DT_UINT64: fn(TypeTag<uint64_t>{}); return true;
    case tensorflow::DT_BOOL: fn(TypeTag<bool>{}); return true;
    default: return false;
  }
}

// The type a stored value is computed in: the 16-bit floats widen to float.
template <typename T>
using Wide = std::conditional_t<std::is_same_v<T, Eigen::half> ||
                                    std::is_same_v<T, Eigen::bfloat16>,
                                float, T>;

template <typename T>
Wide<T> Load(const char* p) {
  if constexpr (std::is_same_v<T, bool>) {
    // Read the byte, not a bool: a byte other than 0/1 must not be UB.
    uint8_t b;
    std::memcpy(&b, p, 1);
    return b != 0;
  } else {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return static_cast<Wide<T>>(v);
  }
}

template <typename D, typename W>
D Convert(W w) {
  if constexpr (std::is_same_v<D, bool>) {
    return w != W(0);
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<W>) {
    using Limits = std::numeric_limits<D>;
    if (std::isnan(w)) return 0;
    if (w <= static_cast<W>(Limits::lowest())) return Limits::lowest();
    if (w >= static_cast<W>(Limits::max())) return Limits::max();
    return static_cast<D>(w);
  } else if constexpr (std::is_same_v<D, Eigen::half> ||
                       std::is_same_v<D, Eigen::bfloat16>) {
    return D(static_cast<float>(w));
  } else {
    return static_cast<D>(w);
  }
}

template <typename S, typename D>
void CastLoop(const Tensor& in, Tensor& out) {
  const char* src = in.raw_data();
  char* dst = out.raw_data();
  for (int64_t i = 0; i < in.num_elements(); ++i) {
    const D v = Convert<D>(Load<S>(src + i * sizeof(S)));
    std::memcpy(dst + i * sizeof(D), &v, sizeof(D));
  }
}

KernelOr MakeCast(const KernelContext& ctx) {
  ASSIGN_OR_RETURN(DataType src, ctx.node.GetType("SrcT"));
  ASSIGN_OR_RETURN(DataType dst, ctx.node.GetType("DstT"));
  for (DataType t : {src, dst}) {
    if (!VisitNumeric(t, [](auto) {})) {
      return ctx.node.Unsupported(absl::StrCat("cast involving ", DataTypeName(t)));
    }
  }
  if (ctx.num_inputs != 1) return ctx.node.Invalid("expected 1 input");
  return MakeKernel([node = KernelNode(ctx.node), src, dst](absl::Span<const Tensor> in,
                                                             std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 1));
    RETURN_IF_ERROR(node.CheckDtype(in[0], src, "x"));
    if (src == dst) {
      out[0] = in[0];
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Tensor t, node.Allocate(dst, in[0].shape().dims()));
    VisitNumeric(src, [&](auto s) {
      VisitNumeric(dst, [&](auto d) {
        CastLoop<typename decltype(s)::type, typename decltype(d)::type>(in[0], t);
      });
    });
    out[0] = std::move(t);
    return absl::OkStatus();
  });
}

// Number of Range elements, checking delta's sign and the output cap.
template <typename T>
absl::StatusOr<int64_t> RangeSize(const KernelNode& node, T start, T limit, T delta) {
  if (delta == 0) return node.Invalid("delta must not be 0");
  if (delta > 0 ? start > limit : start < limit) {
    return node.Invalid(absl::StrCat("start ", start, " cannot reach limit ", limit,
                                     " with delta ", delta));
  }
  double size;
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta)) {
      return node.Invalid("start, limit and delta must be finite");
    }
    size = std::ceil(std::abs((limit - start) / delta));  // as TF, in T precision
  } else {
    // Unsigned arithmetic: limit - start may not fit in int64.
    const int64_t s = start, l = limit, d = delta;
    const uint64_t diff = d > 0 ? uint64_t(l) - uint64_t(s) : uint64_t(s) - uint64_t(l);
    const uint64_t step = d > 0 ? uint64_t(d) : uint64_t(0) - uint64_t(d);
    size = static_cast<double>(diff / step + (diff % step != 0 ? 1 : 0));
  }
  if (!(size <= static_cast<double>(kMaxOutputElements))) {
    return node.Invalid(absl::StrCat("range of ", size, " elements is more than the limit of ",
                                     kMaxOutputElements));
  }
  return static_cast<int64_t>(size);
}

template <typename T>
absl::Status RangeCompute(const KernelNode& node, absl::Span<const Tensor> in,
                          std::vector<Tensor>& out) {
  const T start = in[0].data<T>()[0], limit = in[1].data<T>()[0], delta = in[2].data<T>()[0];
  ASSIGN_OR_RETURN(int64_t n, RangeSize<T>(node, start, limit, delta));
  ASSIGN_OR_RETURN(Tensor t, node.Allocate(in[0].dtype(), {n}));
  T* p = t.data<T>();
  if constexpr (std::is_floating_point_v<T>) {
    T v = start;  // TF accumulates for floats
    for (int64_t i = 0; i < n; ++i, v += delta) p[i] = v;
  } else {
    // Modular arithmetic never overflows; every value lies in [start, limit).
    for (int64_t i = 0; i < n; ++i) {
      p[i] = static_cast<T>(static_cast<int64_t>(
          uint64_t(int64_t{start}) + uint64_t(i) * uint64_t(int64_t{delta})));
    }
  }
  out[0] = std::move(t);
  return absl::OkStatus();
}

KernelOr MakeRange(const KernelContext& ctx) {
  if (ctx.num_inputs != 3) return ctx.node.Invalid("expected 3 inputs");
  return MakeKernel([node = KernelNode(ctx.node)](absl::Span<const Tensor> in,
                                                   std::vector<Tensor>& out) {
    RETURN_IF_ERROR(node.CheckArity(in, 3));
    const DataType dtype = in[0].dtype();
    const char* names[] = {"start", "limit", "delta"};
    for (int i = 0; i < 3; ++i) {
      RETURN_IF_ERROR(node.CheckDtype(in[i], dtype, names[i]));
      // TF still takes the legacy one-element vector.
      if (in[i].num_elements() != 1 || in[i].shape().rank() > 1) {
        return node.Invalid(absl::StrCat(names[i], " must be a scalar, got ",
                                         in[i].DebugString()));
      }
    }
    switch (dtype) {
      case tensorflow::DT_INT32: return RangeCompute<int32_t>(node, in, out);
      case tensorflow::DT_INT64: return RangeCompute<int64_t>(node, in, out);
      case tensorflow::DT_FLOAT: return RangeCompute<float>(node, in, out);
      case tensorflow::DT_DOUBLE: return RangeCompute<double>(node, in, out);
      default:
        return node.Unsupported(absl::StrCat("Range over ", DataTypeName(dtype)));
    }
  });
}

}  // namespace

void RegisterCastKernels(KernelRegistry& registry) {
  registry.Register("Cast", MakeCast);
  registry.Register("Range", MakeRange);
}

}  // namespace swapserve
