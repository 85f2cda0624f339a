// Neural-network kernels: activations, bias, softmax and inference-mode batch
// normalization. Convolutions live in conv_ops.cc and pooling in pool_ops.cc;
// RegisterNnKernels registers all three. float32 only, TensorFlow semantics.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/ops/kernel.h"
#include "model/ops/nn_common.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

using KernelOr = absl::StatusOr<std::unique_ptr<Kernel>>;

// ---- Element-wise activations -----------------------------------------------

// `alpha` is only read by LeakyRelu.
using UnaryFn = float (*)(float x, float alpha);

float Relu(float x, float) { return x > 0.0f ? x : 0.0f; }
float Relu6(float x, float) { return std::min(std::max(x, 0.0f), 6.0f); }
float Elu(float x, float) { return x < 0.0f ? std::expm1(x) : x; }
float Selu(float x, float) {
  // The constants of Klambauer et al. (2017), as TensorFlow uses them.
  constexpr float kScale = 1.0507009873554804934193349852946f;
  constexpr float kAlpha = 1.6732632423543772848170429916717f;
  return x < 0.0f ? kScale * kAlpha * std::expm1(x) : kScale * x;
}
float LeakyRelu(float x, float alpha) { return x > 0.0f ? x : x * alpha; }
float Sigmoid(float x, float) {
  // exp of a non-positive number only, so large |x| neither overflows nor NaNs.
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}
float Tanh(float x, float) { return std::tanh(x); }
// log(1 + e^x) = max(x, 0) + log1p(e^-|x|), exact in float for every x.
float Softplus(float x, float) {
  return std::max(x, 0.0f) + std::log1p(std::exp(-std::abs(x)));
}
float Softsign(float x, float) { return x / (1.0f + std::abs(x)); }

class UnaryKernel : public Kernel {
 public:
  UnaryKernel(const NodeAttrs& node, UnaryFn fn, float alpha)
      : label_(node), fn_(fn), alpha_(alpha) {}

  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    RETURN_IF_ERROR(label_.CheckArity(inputs, outputs, 1, 1));
    const Tensor& x = inputs[0];
    RETURN_IF_ERROR(label_.CheckFloat(x, "features", 0, INT_MAX));
    ASSIGN_OR_RETURN(Tensor y,
                     Tensor::AllocateUninitialized(tensorflow::DT_FLOAT, x.shape()));
    const float* in = x.data<float>();
    float* out = y.data<float>();
    for (int64_t i = 0; i < x.num_elements(); ++i) out[i] = fn_(in[i], alpha_);
    outputs[0] = std::move(y);
    return absl::OkStatus();
  }

 private:
  NodeLabel label_;
  UnaryFn fn_;
  float alpha_;
};

template <UnaryFn Fn>
KernelOr MakeUnary(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  return std::make_unique<UnaryKernel>(ctx.node, Fn, 0.0f);
}

KernelOr MakeLeakyRelu(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  return std::make_unique<UnaryKernel>(ctx.node, LeakyRelu,
                                       ctx.node.GetFloatOr("alpha", 0.2f));
}

// ---- BiasAdd ----------------------------------------------------------------

class BiasAddKernel : public Kernel {
 public:
  explicit BiasAddKernel(const NodeAttrs& node) : label_(node) {}

  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    RETURN_IF_ERROR(label_.CheckArity(inputs, outputs, 2, 1));
    const Tensor& value = inputs[0];
    const Tensor& bias = inputs[1];
    RETURN_IF_ERROR(label_.CheckFloat(value, "value", 2, INT_MAX));
    RETURN_IF_ERROR(label_.CheckFloat(bias, "bias", 1, 1));
    const int64_t channels = value.shape().dim(value.shape().rank() - 1);
    if (bias.shape().dim(0) != channels) {
      return label_.Invalid(
          absl::StrCat("bias shape ", bias.shape().DebugString(),
                       " does not match the last dimension of value ",
                       value.shape().DebugString()));
    }
    ASSIGN_OR_RETURN(Tensor y,
                     Tensor::AllocateUninitialized(tensorflow::DT_FLOAT, value.shape()));
    const float* in = value.data<float>();
    const float* b = bias.data<float>();
    float* out = y.data<float>();
    const int64_t rows = channels == 0 ? 0 : value.num_elements() / channels;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < channels; ++c) {
        out[r * channels + c] = in[r * channels + c] + b[c];
      }
    }
    outputs[0] = std::move(y);
    return absl::OkStatus();
  }

 private:
  NodeLabel label_;
};

KernelOr MakeBiasAdd(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  RETURN_IF_ERROR(CheckNhwc(ctx.node));
  return std::make_unique<BiasAddKernel>(ctx.node);
}

// ---- Softmax / LogSoftmax ---------------------------------------------------

// Over the last axis; subtracting the row maximum keeps exp() from overflowing.
template <bool kLog>
class SoftmaxKernel : public Kernel {
 public:
  explicit SoftmaxKernel(const NodeAttrs& node) : label_(node) {}

  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    RETURN_IF_ERROR(label_.CheckArity(inputs, outputs, 1, 1));
    const Tensor& logits = inputs[0];
    RETURN_IF_ERROR(label_.CheckFloat(logits, "logits", 1, INT_MAX));
    ASSIGN_OR_RETURN(Tensor y,
                     Tensor::Allocate(tensorflow::DT_FLOAT, logits.shape()));
    const int64_t depth = logits.shape().dim(logits.shape().rank() - 1);
    const int64_t rows = depth == 0 ? 0 : logits.num_elements() / depth;
    for (int64_t r = 0; r < rows; ++r) {
      Row(logits.data<float>() + r * depth, depth, y.data<float>() + r * depth);
    }
    outputs[0] = std::move(y);
    return absl::OkStatus();
  }

 private:
  static void Row(const float* x, int64_t n, float* y) {
    const float max = *std::max_element(x, x + n);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
    if (kLog) {
      const float log_sum = std::log(sum);
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] - max - log_sum;
    } else {
      for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i] - max) / sum;
    }
  }

  NodeLabel label_;
};

template <bool kLog>
KernelOr MakeSoftmax(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  return std::make_unique<SoftmaxKernel<kLog>>(ctx.node);
}

// ---- FusedBatchNorm (inference) ---------------------------------------------

// y = (x - mean) * rsqrt(variance + epsilon) * scale + offset per channel (last
// axis). Outputs 1.. (batch statistics, reserve spaces) repeat mean and
// variance so that consumers of any output index find a tensor.
class FusedBatchNormKernel : public Kernel {
 public:
  FusedBatchNormKernel(const NodeAttrs& node, float epsilon, size_t num_outputs)
      : label_(node), epsilon_(epsilon), num_outputs_(num_outputs) {}

  absl::Status Compute(absl::Span<const Tensor> inputs,
                       std::vector<Tensor>& outputs) const override {
    RETURN_IF_ERROR(label_.CheckArity(inputs, outputs, 5, num_outputs_));
    const Tensor& x = inputs[0];
    RETURN_IF_ERROR(label_.CheckFloat(x, "x", 4, 4));
    const int64_t channels = x.shape().dim(3);
    static constexpr const char* kNames[] = {"x", "scale", "offset", "mean",
                                             "variance"};
    for (int i = 1; i < 5; ++i) {
      RETURN_IF_ERROR(label_.CheckFloat(inputs[i], kNames[i], 1, 1));
      if (inputs[i].shape().dim(0) != channels) {
        return label_.Invalid(
            absl::StrCat("input '", kNames[i], "' has shape ",
                         inputs[i].shape().DebugString(), ", expected [",
                         channels, "] to match x ", x.shape().DebugString()));
      }
    }
    ASSIGN_OR_RETURN(Tensor y,
                     Tensor::Allocate(tensorflow::DT_FLOAT, x.shape()));
    Normalize(inputs, channels, y.data<float>());
    outputs[0] = std::move(y);
    for (size_t i = 1; i < outputs.size(); ++i) {
      ASSIGN_OR_RETURN(outputs[i], Copy(inputs[i % 2 == 1 ? 3 : 4]));
    }
    return absl::OkStatus();
  }

 private:
  void Normalize(absl::Span<const Tensor> inputs, int64_t channels,
                 float* out) const {
    const float* x = inputs[0].data<float>();
    const float* scale = inputs[1].data<float>();
    const float* offset = inputs[2].data<float>();
    const float* mean = inputs[3].data<float>();
    const float* variance = inputs[4].data<float>();
    // TensorFlow's order of operations: centre first, then one per-channel
    // factor rsqrt(variance + epsilon) * scale, then the offset.
    std::vector<float> factor(channels);
    for (int64_t c = 0; c < channels; ++c) {
      factor[c] = scale[c] / std::sqrt(variance[c] + epsilon_);
    }
    const int64_t rows =
        channels == 0 ? 0 : inputs[0].num_elements() / channels;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < channels; ++c) {
        const float centred = x[r * channels + c] - mean[c];
        out[r * channels + c] = centred * factor[c] + offset[c];
      }
    }
  }

  static absl::StatusOr<Tensor> Copy(const Tensor& t) {
    ASSIGN_OR_RETURN(Tensor copy, Tensor::Allocate(t.dtype(), t.shape()));
    if (t.num_bytes() > 0) {
      std::memcpy(copy.raw_data(), t.raw_data(), t.num_bytes());
    }
    return copy;
  }

  NodeLabel label_;
  float epsilon_;
  size_t num_outputs_;
};

template <size_t kNumOutputs>
KernelOr MakeFusedBatchNorm(const KernelContext& ctx) {
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "T"));
  RETURN_IF_ERROR(CheckFloatAttr(ctx.node, "U"));
  RETURN_IF_ERROR(CheckNhwc(ctx.node));
  // TensorFlow's default for is_training is true.
  if (ctx.node.GetBoolOr("is_training", true)) {
    return ctx.node.Unsupported(
        "is_training=true (training-mode batch statistics) is not supported; "
        "only inference mode is");
  }
  const float epsilon = ctx.node.GetFloatOr("epsilon", 1e-4f);
  return std::make_unique<FusedBatchNormKernel>(ctx.node, epsilon, kNumOutputs);
}

}  // namespace

void RegisterNnKernels(KernelRegistry& registry) {
  registry.Register("Relu", MakeUnary<Relu>);
  registry.Register("Relu6", MakeUnary<Relu6>);
  registry.Register("Elu", MakeUnary<Elu>);
  registry.Register("Selu", MakeUnary<Selu>);
  registry.Register("LeakyRelu", MakeLeakyRelu);
  registry.Register("Sigmoid", MakeUnary<Sigmoid>);
  registry.Register("Tanh", MakeUnary<Tanh>);
  registry.Register("Softplus", MakeUnary<Softplus>);
  registry.Register("Softsign", MakeUnary<Softsign>);
  registry.Register("BiasAdd", MakeBiasAdd);
  registry.Register("BiasAddV1", MakeBiasAdd);
  registry.Register("Softmax", MakeSoftmax<false>);
  registry.Register("LogSoftmax", MakeSoftmax<true>);
  registry.Register("FusedBatchNorm", MakeFusedBatchNorm<5>);
  registry.Register("FusedBatchNormV2", MakeFusedBatchNorm<5>);
  registry.Register("FusedBatchNormV3", MakeFusedBatchNorm<6>);
  RegisterConvKernels(registry);
  RegisterPoolKernels(registry);
}

}  // namespace swapserve
