// Pooling kernels, NHWC float32 with TensorFlow semantics: MaxPool and AvgPool
// with SAME or VALID padding. Padded positions are not part of a window: they
// never win a max, and AvgPool divides by the number of real inputs it summed.
#include <algorithm>
#include <cstring>
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

// Eight floats, one AVX register (GCC/Clang vector extension).
typedef float Float8 __attribute__((vector_size(32)));

// Pools channels [c0, c0 + 8) of the window [h0, h1) x [w0, w1) of image n into
// out[c0...], the running values in one register. Accumulating in `out` itself
// made every tap wait for the previous tap's store (MaxPool was ~5 % of the
// CNN's batch-1 time), and GCC leaves a fixed-size scalar array unvectorized.
template <bool kMax>
void PoolEight(const float* input, const Window& wh, const Window& ww, int64_t channels,
               int64_t n, int64_t h0, int64_t h1, int64_t w0, int64_t w1, int64_t c0,
               float* out) {
  // TensorFlow starts a max at the lowest finite float, not -inf.
  Float8 acc = Float8{} + (kMax ? std::numeric_limits<float>::lowest() : 0.0f);
  for (int64_t ih = h0; ih < h1; ++ih) {
    for (int64_t iw = w0; iw < w1; ++iw) {
      Float8 x;
      std::memcpy(&x, input + ((n * wh.in + ih) * ww.in + iw) * channels + c0, sizeof x);
      if constexpr (kMax) {
        acc = acc < x ? x : acc;  // std::max, lane by lane
      } else {
        acc += x;
      }
    }
  }
  std::memcpy(out + c0, &acc, sizeof acc);
}

// Pools the window of output position (n, oh, ow) over all `channels` into
// `out`: blocks of 8 channels, then the rest one at a time.
template <bool kMax>
void PoolAt(const float* input, const Window& wh, const Window& ww,
            int64_t channels, int64_t n, int64_t oh, int64_t ow, float* out) {
  const int64_t h0 = std::max<int64_t>(wh.Start(oh), 0);
  const int64_t h1 = std::min<int64_t>(wh.Start(oh) + wh.size, wh.in);
  const int64_t w0 = std::max<int64_t>(ww.Start(ow), 0);
  const int64_t w1 = std::min<int64_t>(ww.Start(ow) + ww.size, ww.in);
  int64_t c0 = 0;
  for (; c0 + 8 <= channels; c0 += 8) {
    PoolEight<kMax>(input, wh, ww, channels, n, h0, h1, w0, w1, c0, out);
  }
  if (c0 < channels) {
    const float init = kMax ? std::numeric_limits<float>::lowest() : 0.0f;
    std::fill(out + c0, out + channels, init);
    for (int64_t ih = h0; ih < h1; ++ih) {
      for (int64_t iw = w0; iw < w1; ++iw) {
        const float* x = input + ((n * wh.in + ih) * ww.in + iw) * channels;
        for (int64_t c = c0; c < channels; ++c) {
          out[c] = kMax ? std::max(out[c], x[c]) : out[c] + x[c];
        }
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
