// Matrix products: MatMul (2-D, optional transposes), _FusedMatMul (MatMul +
// BiasAdd [+ Relu/Relu6], grappler's fusion, which Keras Dense layers also
// become) and BatchMatMul/BatchMatMulV2 (batch dims broadcast, V1 requires equal
// batch dims). float32 goes through OpenBLAS (gemm.h), float64 through Eigen.
#include <Eigen/Core>

#include "absl/strings/str_cat.h"
#include "model/ops/broadcast.h"
#include "model/ops/gemm.h"
#include "model/ops/kernel.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMap = Eigen::Map<const RowMajor<T>>;
template <typename T>
using Map = Eigen::Map<RowMajor<T>>;

// c[m,n] = op(a) * op(b), where a is stored [ra,ca] and b [rb,cb].
void Gemm(const float* a, int64_t ra, int64_t ca, bool ta, const float* b, int64_t rb,
          int64_t cb, bool tb, float* c) {
  Sgemm(ta, tb, ta ? ca : ra, tb ? rb : cb, ta ? ra : ca, a, ca, b, cb, c, tb ? rb : cb,
        /*accumulate=*/false);
}

template <typename T>
void Gemm(const T* a, int64_t ra, int64_t ca, bool ta, const T* b, int64_t rb,
          int64_t cb, bool tb, T* c) {
  ConstMap<T> A(a, ra, ca), B(b, rb, cb);
  const int64_t m = ta ? ca : ra, n = tb ? rb : cb;
  Map<T> C(c, m, n);
  if (!ta && !tb) C.noalias() = A * B;
  if (ta && !tb) C.noalias() = A.transpose() * B;
  if (!ta && tb) C.noalias() = A * B.transpose();
  if (ta && tb) C.noalias() = A.transpose() * B.transpose();
}

class MatMulKernel : public Kernel {
 public:
  MatMulKernel(const NodeAttrs& node, bool ta, bool tb, Epilogue epilogue = {})
      : node_(node), ta_(ta), tb_(tb), epilogue_(epilogue) {}

  absl::Status Compute(absl::Span<const Tensor> in,
                       std::vector<Tensor>& out) const override {
    const NodeName& node = node_;
    const size_t arity = epilogue_.bias ? 3 : 2;
    if (in.size() != arity) return node.Invalid(absl::StrCat("expects ", arity, " inputs"));
    const Tensor &a = in[0], &b = in[1];
    if (a.shape().rank() != 2 || b.shape().rank() != 2) {
      return node.Invalid(absl::StrCat("expects matrices, got ", a.shape().DebugString(),
                                       " and ", b.shape().DebugString()));
    }
    if (a.dtype() != b.dtype()) return node.Invalid("input dtypes differ");
    const int64_t m = ta_ ? a.shape().dim(1) : a.shape().dim(0);
    const int64_t k = ta_ ? a.shape().dim(0) : a.shape().dim(1);
    const int64_t k2 = tb_ ? b.shape().dim(1) : b.shape().dim(0);
    const int64_t n = tb_ ? b.shape().dim(0) : b.shape().dim(1);
    if (k != k2) {
      return node.Invalid(absl::StrCat("inner dimensions differ: ", a.shape().DebugString(),
                                       ta_ ? "^T" : "", " x ", b.shape().DebugString(),
                                       tb_ ? "^T" : ""));
    }
    if (epilogue_.bias) RETURN_IF_ERROR(CheckBias(in[2], a.dtype(), n));
    ASSIGN_OR_RETURN(out[0], Tensor::AllocateUninitialized(a.dtype(), TensorShape{m, n}));
    if (out[0].num_elements() == 0) return absl::OkStatus();
    const auto& sa = a.shape();
    const auto& sb = b.shape();
    switch (a.dtype()) {
      case tensorflow::DT_FLOAT: {
        float* c = out[0].data<float>();
        Gemm(a.data<float>(), sa.dim(0), sa.dim(1), ta_, b.data<float>(), sb.dim(0),
             sb.dim(1), tb_, c);
        ApplyEpilogue(epilogue_.bias ? in[2].data<float>() : nullptr, epilogue_.activation, m,
                      n, c);
        return absl::OkStatus();
      }
      case tensorflow::DT_DOUBLE:
        if (epilogue_.bias) return node.Unsupported("fused ops on float64");
        Gemm(a.data<double>(), sa.dim(0), sa.dim(1), ta_, b.data<double>(), sb.dim(0),
             sb.dim(1), tb_, out[0].data<double>());
        return absl::OkStatus();
      default:
        return node.Unsupported(absl::StrCat("dtype ", DataTypeName(a.dtype())));
    }
  }

 private:
  absl::Status CheckBias(const Tensor& bias, DataType dtype, int64_t n) const {
    if (bias.dtype() != dtype || bias.shape().rank() != 1 || bias.shape().dim(0) != n) {
      return node_.Invalid(absl::StrCat("bias ", bias.DebugString(), " does not match ", n,
                                        " output columns of ", DataTypeName(dtype)));
    }
    return absl::OkStatus();
  }

  NodeName node_;
  bool ta_, tb_;
  Epilogue epilogue_;
};

absl::StatusOr<std::unique_ptr<Kernel>> MakeMatMul(const KernelContext& c) {
  return std::make_unique<MatMulKernel>(c.node, c.node.GetBoolOr("transpose_a", false),
                                        c.node.GetBoolOr("transpose_b", false));
}

// TensorFlow's _FusedMatMul: inputs (a, b, bias), float32 only.
absl::StatusOr<std::unique_ptr<Kernel>> MakeFusedMatMul(const KernelContext& c) {
  if (c.node.Has("T")) {
    ASSIGN_OR_RETURN(DataType t, c.node.GetType("T"));
    if (t != tensorflow::DT_FLOAT) return c.node.Unsupported("only float32 is supported");
  }
  ASSIGN_OR_RETURN(Epilogue epilogue, ParseEpilogue(c.node));
  return std::make_unique<MatMulKernel>(c.node, c.node.GetBoolOr("transpose_a", false),
                                        c.node.GetBoolOr("transpose_b", false), epilogue);
}

class BatchMatMulKernel : public Kernel {
 public:
  BatchMatMulKernel(const NodeAttrs& node, bool adj_x, bool adj_y, bool broadcast)
      : node_(node), adj_x_(adj_x), adj_y_(adj_y), broadcast_(broadcast) {}

  absl::Status Compute(absl::Span<const Tensor> in,
                       std::vector<Tensor>& out) const override {
    const NodeName& node = node_;
    if (in.size() != 2) return node.Invalid("expects 2 inputs");
    const Tensor &x = in[0], &y = in[1];
    if (x.dtype() != tensorflow::DT_FLOAT || y.dtype() != tensorflow::DT_FLOAT) {
      return node.Unsupported("only float32 is supported");
    }
    const int rx = x.shape().rank(), ry = y.shape().rank();
    if (rx < 2 || ry < 2) return node.Invalid("inputs must have rank >= 2");
    const int64_t xr = x.shape().dim(rx - 2), xc = x.shape().dim(rx - 1);
    const int64_t yr = y.shape().dim(ry - 2), yc = y.shape().dim(ry - 1);
    const int64_t m = adj_x_ ? xc : xr, k = adj_x_ ? xr : xc;
    const int64_t k2 = adj_y_ ? yc : yr, n = adj_y_ ? yr : yc;
    if (k != k2) {
      return node.Invalid(absl::StrCat("inner dimensions differ: ", x.shape().DebugString(),
                                       " x ", y.shape().DebugString()));
    }
    std::vector<int64_t> bx(x.shape().dims().begin(), x.shape().dims().end() - 2);
    std::vector<int64_t> by(y.shape().dims().begin(), y.shape().dims().end() - 2);
    ASSIGN_OR_RETURN(TensorShape sbx, TensorShape::Make(bx));
    ASSIGN_OR_RETURN(TensorShape sby, TensorShape::Make(by));
    if (!broadcast_ && !(sbx == sby)) return node.Invalid("batch dimensions differ");
    absl::StatusOr<TensorShape> batch = BroadcastShape(sbx, sby);
    if (!batch.ok()) return node.Invalid(batch.status().message());
    std::vector<int64_t> out_dims = batch->dims();
    out_dims.push_back(m);
    out_dims.push_back(n);
    ASSIGN_OR_RETURN(TensorShape out_shape, TensorShape::Make(out_dims));
    ASSIGN_OR_RETURN(out[0], Tensor::AllocateUninitialized(tensorflow::DT_FLOAT, out_shape));
    std::vector<int64_t> off_x(batch->num_elements()), off_y(batch->num_elements());
    BroadcastIndexer(sbx, *batch).ForEach([&](int64_t i, int64_t o) { off_x[i] = o; });
    BroadcastIndexer(sby, *batch).ForEach([&](int64_t i, int64_t o) { off_y[i] = o; });
    for (int64_t i = 0; i < batch->num_elements(); ++i) {
      Gemm(x.data<float>() + off_x[i] * xr * xc, xr, xc, adj_x_,
           y.data<float>() + off_y[i] * yr * yc, yr, yc, adj_y_,
           out[0].data<float>() + i * m * n);
    }
    return absl::OkStatus();
  }

 private:
  NodeName node_;
  bool adj_x_, adj_y_, broadcast_;
};

template <bool kBroadcast>
absl::StatusOr<std::unique_ptr<Kernel>> MakeBatchMatMul(const KernelContext& c) {
  return std::make_unique<BatchMatMulKernel>(c.node, c.node.GetBoolOr("adj_x", false),
                                             c.node.GetBoolOr("adj_y", false), kBroadcast);
}

}  // namespace

void RegisterMatMulKernels(KernelRegistry& r) {
  r.Register("MatMul", MakeMatMul);
  r.Register("_FusedMatMul", MakeFusedMatMul);
  r.Register("BatchMatMul", MakeBatchMatMul<false>);
  r.Register("BatchMatMulV2", MakeBatchMatMul<true>);
  r.Register("BatchMatMulV3", MakeBatchMatMul<true>);
}

}  // namespace swapserve
