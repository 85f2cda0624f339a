// Convolution kernels, NHWC float32 with TensorFlow semantics: Conv2D (and
// _FusedConv2D: Conv2D + BiasAdd [+ Relu/Relu6], which Keras Conv2D layers
// become) as im2col followed by an OpenBLAS GEMM per chunk of images, and
// DepthwiseConv2dNative as a direct loop (each output channel reads one input
// channel, so there is no GEMM to hand off to).
#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/ops/gemm.h"
#include "model/ops/kernel.h"
#include "model/ops/nn_common.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;

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

// Copies / zeroes n floats with a plain loop. conv_ops.cc is compiled with
// -fno-tree-loop-distribute-patterns, so GCC keeps these inline instead of
// calling memcpy/memset, which costs more than the copy for the short runs of a
// first layer (3 taps x 1 channel); long runs still vectorize.
void CopyFloats(const float* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}
void ZeroFloats(int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = 0.0f;
}

// Copies `count` runs of `len` floats: run i from src + i * src_step to
// dst + i * dst_step. Kept out of line, with the short runs of a first layer
// (KW taps x 1-3 channels) at compile-time lengths: inlined into Im2Col's loop
// nest, the per-run bookkeeping cost more than the copies (a 3x3x1 filter's
// im2col was ~14 % of the CNN's batch-1 time).
template <int64_t kLen>
void CopyFixedRuns(const float* src, int64_t src_step, int64_t count, float* dst,
                   int64_t dst_step) {
  for (int64_t i = 0; i < count; ++i, src += src_step, dst += dst_step) {
    for (int64_t j = 0; j < kLen; ++j) dst[j] = src[j];
  }
}
[[gnu::noinline]] void CopyRuns(const float* src, int64_t src_step, int64_t len,
                                int64_t count, float* dst, int64_t dst_step) {
  switch (len) {
    case 3: return CopyFixedRuns<3>(src, src_step, count, dst, dst_step);
    case 6: return CopyFixedRuns<6>(src, src_step, count, dst, dst_step);
    case 9: return CopyFixedRuns<9>(src, src_step, count, dst, dst_step);
    default:
      for (int64_t i = 0; i < count; ++i) CopyFloats(src + i * src_step, len, dst + i * dst_step);
  }
}

// Writes the KW * C taps of kernel row `kh` at output position (n, oh, ow) to
// `dst` in filter order (kw, c), zeros for taps in the padding. With dilation 1
// the in-bounds taps are one contiguous run of the input row.
void CopyKernelRow(const float* input, const ConvShape& s, int64_t n, int64_t oh,
                   int64_t ow, int64_t kh, float* dst) {
  const Window& wh = s.h;
  const Window& ww = s.w;
  const int64_t c = s.channels;
  const int64_t ih = wh.Start(oh) + kh * wh.dilation;
  if (ih < 0 || ih >= wh.in) {
    ZeroFloats(ww.size * c, dst);
    return;
  }
  const float* row = input + (n * wh.in + ih) * ww.in * c;
  const int64_t iw0 = ww.Start(ow);
  if (ww.dilation == 1) {
    const int64_t lo = std::clamp<int64_t>(-iw0, 0, ww.size);
    const int64_t hi = std::clamp<int64_t>(ww.in - iw0, lo, ww.size);
    ZeroFloats(lo * c, dst);
    CopyFloats(row + (iw0 + lo) * c, (hi - lo) * c, dst + lo * c);
    ZeroFloats((ww.size - hi) * c, dst + hi * c);
    return;
  }
  for (int64_t kw = 0; kw < ww.size; ++kw) {
    const int64_t iw = iw0 + kw * ww.dilation;
    if (iw < 0 || iw >= ww.in) {
      ZeroFloats(c, dst + kw * c);
    } else {
      CopyFloats(row + iw * c, c, dst + kw * c);
    }
  }
}

// Row (n, oh, ow) of `patches`, for images [first, first + count), receives the
// input values under the filter at that output position, in filter order
// (kh, kw, c). Loops run kh outside ow so that, for an input row in range and
// windows without padding or dilation, each tap row is one straight copy.
void Im2Col(const float* input, const ConvShape& s, int64_t first, int64_t count,
            float* patches) {
  const Window& wh = s.h;
  const Window& ww = s.w;
  const int64_t c = s.channels;
  const int64_t row_size = wh.size * ww.size * c;
  const int64_t kh_size = ww.size * c;
  // Every window of a row lies inside the input: each tap row is a straight copy.
  const bool row_runs = ww.dilation == 1 && ww.out > 0 && ww.Start(0) >= 0 &&
                        ww.Start(ww.out - 1) + ww.size <= ww.in;
  for (int64_t n = first; n < first + count; ++n) {
    for (int64_t oh = 0; oh < wh.out; ++oh) {
      float* rows = patches + ((n - first) * wh.out + oh) * ww.out * row_size;
      for (int64_t kh = 0; kh < wh.size; ++kh) {
        const int64_t ih = wh.Start(oh) + kh * wh.dilation;
        const bool row_in = ih >= 0 && ih < wh.in;
        const float* in_row = row_in ? input + (n * wh.in + ih) * ww.in * c : nullptr;
        if (row_in && row_runs) {
          CopyRuns(in_row + ww.Start(0) * c, ww.stride * c, kh_size, ww.out,
                   rows + kh * kh_size, row_size);
          continue;
        }
        for (int64_t ow = 0; ow < ww.out; ++ow) {
          float* dst = rows + ow * row_size + kh * kh_size;
          const int64_t iw0 = ww.Start(ow);
          if (row_in && ww.dilation == 1 && iw0 >= 0 && iw0 + ww.size <= ww.in) {
            CopyFloats(in_row + iw0 * c, kh_size, dst);
          } else {
            CopyKernelRow(input, s, n, oh, ow, kh, dst);
          }
        }
      }
    }
  }
}

// Bytes of patches plus output a chunk of images should span: small enough to
// stay in a core's L2 between im2col, the GEMM and the epilogue.
constexpr int64_t kChunkBytes = 512 << 10;
// The largest patch buffer a thread keeps between convolutions.
constexpr size_t kMaxRetainedBytes = size_t{8} << 20;

// out = epilogue(im2col(input) * filter): the filter in HWIO, row-major, already
// is the [KH*KW*C, O] right-hand operand. Runs over chunks of whole images so
// the patch matrix never grows with the batch. A 1x1 stride-1 unpadded
// convolution needs no patches: the input already is the left-hand matrix.
absl::Status Conv2DGemm(const NodeLabel& label, const ConvShape& s, const Tensor& input,
                        const Tensor& filter, const float* bias, Activation activation,
                        Tensor& out) {
  if (out.num_elements() == 0) return absl::OkStatus();
  // Every output dimension is > 0 and their product fits, so `rows` does too;
  // MakeShape checks the product with the window size and depth.
  const int64_t image_rows = s.h.out * s.w.out;
  ASSIGN_OR_RETURN(TensorShape patch_shape,
                   label.MakeShape({s.batch * image_rows, s.h.size, s.w.size, s.channels},
                                   "im2col"));
  const int64_t k = patch_shape.num_elements() / (s.batch * image_rows);
  const int64_t depth = filter.shape().dim(3);
  const bool direct = s.h.size == 1 && s.w.size == 1 && s.h.stride == 1 &&
                      s.w.stride == 1 && s.h.pad_before == 0 && s.w.pad_before == 0 &&
                      s.h.out == s.h.in && s.w.out == s.w.in;
  // A heuristic, in double so that absurd shapes cannot overflow it.
  const double image_bytes = static_cast<double>(sizeof(float)) *
                             static_cast<double>(k + depth) * static_cast<double>(image_rows);
  const int64_t chunk = std::clamp<int64_t>(
      static_cast<int64_t>(std::min(static_cast<double>(kChunkBytes) / image_bytes, 1e9)), 1,
      s.batch);
  // Im2Col writes every element: no zero-fill. chunk <= batch, so the size was
  // checked with patch_shape; Allocate still refuses what cannot be allocated.
  const bool need_patches = !direct && k > 0;
  ASSIGN_OR_RETURN(TensorShape chunk_shape,
                   label.MakeShape({need_patches ? chunk * image_rows : 0, k}, "im2col"));
  // The patch buffer is per thread and reused by its next convolution: a
  // request's convolutions run one after another on one thread, and reusing it
  // saves an allocation (and its page faults) per convolution per request. A
  // chunk bigger than kMaxRetainedBytes (one huge image) gets its own buffer,
  // so no thread keeps a huge one.
  const size_t need = need_patches ? static_cast<size_t>(chunk_shape.num_elements()) : 0;
  thread_local std::vector<float> retained;
  std::vector<float> oversized;
  std::vector<float>& patches = need * sizeof(float) > kMaxRetainedBytes ? oversized : retained;
  if (patches.size() < need) patches.resize(need);
  for (int64_t first = 0; first < s.batch; first += chunk) {
    const int64_t count = std::min(chunk, s.batch - first);
    const int64_t rows = count * image_rows;
    float* c = out.data<float>() + first * image_rows * depth;
    const float* lhs = input.data<float>() + first * image_rows * k;
    if (need_patches) {
      Im2Col(input.data<float>(), s, first, count, patches.data());
      lhs = patches.data();
    }
    Sgemm(false, false, rows, depth, k, lhs, k, filter.data<float>(), depth, c, depth, false);
    ApplyEpilogue(bias, activation, rows, depth, c);
  }
  return absl::OkStatus();
}

class Conv2DKernel : public Kernel {
 public:
  Conv2DKernel(const NodeAttrs& node, WindowAttrs attrs, Epilogue epilogue)
      : label_(node), attrs_(attrs), epilogue_(epilogue) {}

  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    RETURN_IF_ERROR(label_.CheckArity(inputs, outputs, epilogue_.bias ? 3 : 2, 1));
    const Tensor& input = inputs[0];
    const Tensor& filter = inputs[1];
    ASSIGN_OR_RETURN(ConvShape s,
                     CheckConvInputs(label_, attrs_, input, filter, false));
    const float* bias = nullptr;
    if (epilogue_.bias) {
      const Tensor& b = inputs[2];
      RETURN_IF_ERROR(label_.CheckFloat(b, "bias", 1, 1));
      if (b.shape().dim(0) != filter.shape().dim(3)) {
        return label_.Invalid(absl::StrCat("bias ", b.shape().DebugString(),
                                           " does not match filter ",
                                           filter.shape().DebugString()));
      }
      bias = b.data<float>();
    }
    ASSIGN_OR_RETURN(Tensor out, Tensor::AllocateUninitialized(tensorflow::DT_FLOAT, s.out));
    RETURN_IF_ERROR(
        Conv2DGemm(label_, s, input, filter, bias, epilogue_.activation, out));
    outputs[0] = std::move(out);
    return absl::OkStatus();
  }

 private:
  NodeLabel label_;
  WindowAttrs attrs_;
  Epilogue epilogue_;
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

KernelOr MakeDepthwise(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  RETURN_IF_ERROR(CheckNhwc(ctx.node));
  ASSIGN_OR_RETURN(WindowAttrs attrs,
                   ParseWindowAttrs(ctx.node, /*allow_explicit=*/true));
  return std::make_unique<DepthwiseConvKernel>(ctx.node, attrs);
}

template <bool kFused>
KernelOr MakeConv2D(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  RETURN_IF_ERROR(CheckNhwc(ctx.node));
  ASSIGN_OR_RETURN(WindowAttrs attrs,
                   ParseWindowAttrs(ctx.node, /*allow_explicit=*/true));
  Epilogue epilogue;
  if (kFused) {
    ASSIGN_OR_RETURN(epilogue, ParseEpilogue(ctx.node));
  }
  return std::make_unique<Conv2DKernel>(ctx.node, attrs, epilogue);
}

}  // namespace

void RegisterConvKernels(KernelRegistry& registry) {
  registry.Register("Conv2D", MakeConv2D<false>);
  registry.Register("_FusedConv2D", MakeConv2D<true>);
  registry.Register("DepthwiseConv2dNative", MakeDepthwise);
}

}  // namespace swapserve
