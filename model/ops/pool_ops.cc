// Pooling kernels, NHWC float32 with TensorFlow semantics: MaxPool and AvgPool
// with SAME or VALID padding. Padded positions are not part of a window: they
// never win a max, and AvgPool divides by the number of real inputs it summed.
#include <algorithm>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "model/ops/kernel.h"
#include "model/ops/nn_common.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;

// Pools the window of output position (n, oh, ow) over all `channels` into
// `out`.
template <bool kMax>
void PoolAt(const float* input, const Window& wh, const Window& ww,
            int64_t channels, int64_t n, int64_t oh, int64_t ow, float* out) {
  const int64_t h0 = std::max<int64_t>(wh.Start(oh), 0);
  const int64_t h1 = std::min<int64_t>(wh.Start(oh) + wh.size, wh.in);
  const int64_t w0 = std::max<int64_t>(ww.Start(ow), 0);
  const int64_t w1 = std::min<int64_t>(ww.Start(ow) + ww.size, ww.in);
  // TensorFlow starts a max at the lowest finite float, not -inf.
  const float init = kMax ? std::numeric_limits<float>::lowest() : 0.0f;
  std::fill(out, out + channels, init);
  for (int64_t ih = h0; ih < h1; ++ih) {
    for (int64_t iw = w0; iw < w1; ++iw) {
      const float* x = input + ((n * wh.in + ih) * ww.in + iw) * channels;
      for (int64_t c = 0; c < channels; ++c) {
        out[c] = kMax ? std::max(out[c], x[c]) : out[c] + x[c];
      }
    }
  }
  const int64_t count =
      std::max<int64_t>(h1 - h0, 0) * std::max<int64_t>(w1 - w0, 0);
  if (!kMax && count > 0) {
    for (int64_t c = 0; c < channels; ++c) out[c] /= static_cast<float>(count);
  }
}

template <bool kMax>
class PoolKernel : public Kernel {
 public:
  PoolKernel(const NodeAttrs& node, WindowAttrs attrs,
             std::vector<int64_t> ksize)
      : label_(node), attrs_(attrs), ksize_(std::move(ksize)) {}

  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    RETURN_IF_ERROR(label_.CheckArity(inputs, outputs, 1, 1));
    const Tensor& input = inputs[0];
    RETURN_IF_ERROR(label_.CheckFloat(input, "input", 4, 4));
    const TensorShape& in = input.shape();
    ASSIGN_OR_RETURN(Window wh,
                     MakeWindow(label_, attrs_, 0, in.dim(1), ksize_[0]));
    ASSIGN_OR_RETURN(Window ww,
                     MakeWindow(label_, attrs_, 1, in.dim(2), ksize_[1]));
    const int64_t channels = in.dim(3);
    ASSIGN_OR_RETURN(
        TensorShape out_shape,
        label_.MakeShape({in.dim(0), wh.out, ww.out, channels}, "output"));
    ASSIGN_OR_RETURN(Tensor out,
                     Tensor::AllocateUninitialized(tensorflow::DT_FLOAT, out_shape));
    if (out.num_elements() > 0) {
      float* o = out.data<float>();
      for (int64_t n = 0; n < in.dim(0); ++n) {
        for (int64_t oh = 0; oh < wh.out; ++oh) {
          for (int64_t ow = 0; ow < ww.out; ++ow, o += channels) {
            PoolAt<kMax>(input.data<float>(), wh, ww, channels, n, oh, ow, o);
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
  std::vector<int64_t> ksize_;  // {h, w}
};

template <bool kMax>
KernelOr MakePool(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  RETURN_IF_ERROR(CheckNhwc(ctx.node));
  ASSIGN_OR_RETURN(std::vector<int64_t> ksize,
                   ParseSpatialList(ctx.node, "ksize"));
  ASSIGN_OR_RETURN(WindowAttrs attrs,
                   ParseWindowAttrs(ctx.node, /*allow_explicit=*/false));
  return std::make_unique<PoolKernel<kMax>>(ctx.node, attrs, std::move(ksize));
}

}  // namespace

void RegisterPoolKernels(KernelRegistry& registry) {
  registry.Register("MaxPool", MakePool<true>);
  registry.Register("AvgPool", MakePool<false>);
}

}  // namespace swapserve
