// Convolution kernels, NHWC float32 with TensorFlow semantics: Conv2D as im2col
// followed by one Eigen GEMM, and DepthwiseConv2dNative as a direct loop (each
// output channel reads one input channel, so there is no GEMM to hand off to).
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "model/ops/kernel.h"
#include "model/ops/nn_common.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;
using RowMajorMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The checked geometry of one convolution call.
struct ConvShape {
  int64_t batch = 0;
  int64_t channels = 0;  // input depth
  Window h, w;
  TensorShape out;
};

// Checks input [N,H,W,C] and filter [KH,KW,C,X] and derives the output shape
// [N,OH,OW,C*X] (depthwise) or [N,OH,OW,X] (Conv2D).
absl::StatusOr<ConvShape> CheckConvInputs(const NodeLabel& label,
                                          const WindowAttrs& attrs,
                                          const Tensor& input,
                                          const Tensor& filter,
                                          bool depthwise) {
  RETURN_IF_ERROR(label.CheckFloat(input, "input", 4, 4));
  RETURN_IF_ERROR(label.CheckFloat(filter, "filter", 4, 4));
  const TensorShape& in = input.shape();
  const TensorShape& f = filter.shape();
  if (!depthwise && f.dim(2) > 0 && in.dim(3) != f.dim(2) &&
      in.dim(3) % f.dim(2) == 0) {
    return label.Unsupported(absl::StrCat("grouped convolution (input depth ",
                                          in.dim(3), ", filter in-depth ",
                                          f.dim(2), ") is not supported"));
  }
  if (f.dim(2) != in.dim(3)) {
    return label.Invalid(absl::StrCat(
        "input depth ", in.dim(3), " does not match filter in-depth ", f.dim(2),
        " (input ", in.DebugString(), ", filter ", f.DebugString(), ")"));
  }
  ConvShape s;
  s.batch = in.dim(0);
  s.channels = in.dim(3);
  ASSIGN_OR_RETURN(s.h, MakeWindow(label, attrs, 0, in.dim(1), f.dim(0)));
  ASSIGN_OR_RETURN(s.w, MakeWindow(label, attrs, 1, in.dim(2), f.dim(1)));
  // C * multiplier cannot overflow: the filter holds that many elements per tap
  // (or none, when either is 0).
  const int64_t out_depth = depthwise ? f.dim(2) * f.dim(3) : f.dim(3);
  ASSIGN_OR_RETURN(
      s.out, label.MakeShape({s.batch, s.h.out, s.w.out, out_depth}, "output"));
  return s;
}

// Row (n, oh, ow) of `patches` receives the input values under the filter at
// that output position, in filter order (kh, kw, c). Taps in the padding are
// skipped, leaving the zeros `patches` was allocated with.
void Im2Col(const float* input, const ConvShape& s, float* patches) {
  const Window& wh = s.h;
  const Window& ww = s.w;
  const int64_t c = s.channels;
  const int64_t row_size = wh.size * ww.size * c;
  float* row = patches;
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t oh = 0; oh < wh.out; ++oh) {
      for (int64_t ow = 0; ow < ww.out; ++ow, row += row_size) {
        for (int64_t kh = 0; kh < wh.size; ++kh) {
          const int64_t ih = wh.Start(oh) + kh * wh.dilation;
          if (ih < 0 || ih >= wh.in) continue;
          for (int64_t kw = 0; kw < ww.size; ++kw) {
            const int64_t iw = ww.Start(ow) + kw * ww.dilation;
            if (iw < 0 || iw >= ww.in) continue;
            std::memcpy(row + (kh * ww.size + kw) * c,
                        input + ((n * wh.in + ih) * ww.in + iw) * c,
                        c * sizeof(float));
          }
        }
      }
    }
  }
}

// out = im2col(input) * filter: the filter in HWIO, row-major, already is the
// [KH*KW*C, O] right-hand operand. `out` arrives zero-filled.
absl::Status Conv2DGemm(const NodeLabel& label, const ConvShape& s,
                        const Tensor& input, const Tensor& filter,
                        Tensor& out) {
  if (out.num_elements() == 0) return absl::OkStatus();
  // Every output dimension is > 0 and their product fits, so `rows` does too;
  // MakeShape checks the product with the window size and depth.
  const int64_t rows = s.batch * s.h.out * s.w.out;
  ASSIGN_OR_RETURN(
      TensorShape patch_shape,
      label.MakeShape({rows, s.h.size, s.w.size, s.channels}, "im2col"));
  const int64_t k = patch_shape.num_elements() / rows;
  if (k == 0) return absl::OkStatus();  // no input channels: all zeros
  ASSIGN_OR_RETURN(Tensor patches,
                   Tensor::Allocate(tensorflow::DT_FLOAT, patch_shape));
  Im2Col(input.data<float>(), s, patches.data<float>());
  const int64_t depth = filter.shape().dim(3);
  Eigen::Map<const RowMajorMatrix> lhs(patches.data<float>(), rows, k);
  Eigen::Map<const RowMajorMatrix> rhs(filter.data<float>(), k, depth);
  Eigen::Map<RowMajorMatrix> result(out.data<float>(), rows, depth);
  result.noalias() = lhs * rhs;
  return absl::OkStatus();
}

class Conv2DKernel : public Kernel {
 public:
  Conv2DKernel(const NodeAttrs& node, WindowAttrs attrs)
      : label_(node), attrs_(attrs) {}

  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    RETURN_IF_ERROR(label_.CheckArity(inputs, outputs, 2, 1));
    const Tensor& input = inputs[0];
    const Tensor& filter = inputs[1];
    ASSIGN_OR_RETURN(ConvShape s,
                     CheckConvInputs(label_, attrs_, input, filter, false));
    ASSIGN_OR_RETURN(Tensor out, Tensor::Allocate(tensorflow::DT_FLOAT, s.out));
    RETURN_IF_ERROR(Conv2DGemm(label_, s, input, filter, out));
    outputs[0] = std::move(out);
    return absl::OkStatus();
  }

 private:
  NodeLabel label_;
  WindowAttrs attrs_;
};

// Accumulates into `out` (C * M values, channel-major) the depthwise products
// at output position (n, oh, ow).
void DepthwiseAt(const float* input, const float* filter, const ConvShape& s,
                 int64_t multiplier, int64_t n, int64_t oh, int64_t ow,
                 float* out) {
  const Window& wh = s.h;
  const Window& ww = s.w;
  const int64_t c_count = s.channels;
  for (int64_t kh = 0; kh < wh.size; ++kh) {
    const int64_t ih = wh.Start(oh) + kh * wh.dilation;
    if (ih < 0 || ih >= wh.in) continue;
    for (int64_t kw = 0; kw < ww.size; ++kw) {
      const int64_t iw = ww.Start(ow) + kw * ww.dilation;
      if (iw < 0 || iw >= ww.in) continue;
      const float* x = input + ((n * wh.in + ih) * ww.in + iw) * c_count;
      const float* f = filter + (kh * ww.size + kw) * c_count * multiplier;
      for (int64_t c = 0; c < c_count; ++c) {
        for (int64_t m = 0; m < multiplier; ++m) {
          out[c * multiplier + m] += x[c] * f[c * multiplier + m];
        }
      }
    }
  }
}

class DepthwiseConvKernel : public Kernel {
 public:
  DepthwiseConvKernel(const NodeAttrs& node, WindowAttrs attrs)
      : label_(node), attrs_(attrs) {}

  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    RETURN_IF_ERROR(label_.CheckArity(inputs, outputs, 2, 1));
    const Tensor& input = inputs[0];
    const Tensor& filter = inputs[1];
    ASSIGN_OR_RETURN(ConvShape s,
                     CheckConvInputs(label_, attrs_, input, filter, true));
    ASSIGN_OR_RETURN(Tensor out, Tensor::Allocate(tensorflow::DT_FLOAT, s.out));
    if (out.num_elements() > 0) {
      const int64_t multiplier = filter.shape().dim(3);
      const int64_t depth = s.channels * multiplier;
      float* o = out.data<float>();
      for (int64_t n = 0; n < s.batch; ++n) {
        for (int64_t oh = 0; oh < s.h.out; ++oh) {
          for (int64_t ow = 0; ow < s.w.out; ++ow, o += depth) {
            DepthwiseAt(input.data<float>(), filter.data<float>(), s,
                        multiplier, n, oh, ow, o);
          }
        }
      }
    }
    outputs[0] = std::move(out);
    return absl::OkStatus();
  }

 private:
  NodeLabel label_;
  WindowAttrs attrs_;
};

template <typename KernelT>
KernelOr MakeConv(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  RETURN_IF_ERROR(CheckNhwc(ctx.node));
  ASSIGN_OR_RETURN(WindowAttrs attrs,
                   ParseWindowAttrs(ctx.node, /*allow_explicit=*/true));
  return std::make_unique<KernelT>(ctx.node, attrs);
}

}  // namespace

void RegisterConvKernels(KernelRegistry& registry) {
  registry.Register("Conv2D", MakeConv<Conv2DKernel>);
  registry.Register("DepthwiseConv2dNative", MakeConv<DepthwiseConvKernel>);
}

}  // namespace swapserve
