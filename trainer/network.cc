#include "trainer/network.h"

#include <cmath>
#include <random>

#include <Eigen/Core>

#include "absl/strings/str_cat.h"

namespace swapserve::trainer {

// What a layer's forward pass keeps for its backward pass.
struct Network::Saved {
  std::vector<int64_t> in_shape;
  Floats input;                 // Dense: X; Conv2D: the im2col matrix
  Floats output;                // after the activation
  std::vector<int64_t> argmax;  // MaxPool2D: input index of each output
  Floats mask;                  // Dropout
};

namespace {

using Kind = LayerSpec::Kind;
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Map = Eigen::Map<Matrix>;
using ConstMap = Eigen::Map<const Matrix>;

// Per-example activation shape: {features} or {height, width, channels}.
using Shape = std::vector<int64_t>;

int64_t Size(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape OutputShape(const LayerSpec& l, const Shape& in) {
  switch (l.kind) {
    case Kind::kDense: return {l.units};
    case Kind::kConv2D: return {in[0] - l.kernel + 1, in[1] - l.kernel + 1, l.units};
    case Kind::kMaxPool2D: return {in[0] / l.pool, in[1] / l.pool, in[2]};
    case Kind::kFlatten: return {Size(in)};
    case Kind::kDropout: return in;
  }
  return in;
}

// im2col for a VALID, stride-1 convolution: row (b, oy, ox) holds the k×k×C patch
// in (ky, kx, c) order, matching the HWIO kernel flattened to [k*k*C, F].
void Im2Col(const float* x, int64_t n, const Shape& in, int k, Floats* col) {
  const int64_t h = in[0], w = in[1], c = in[2], oh = h - k + 1, ow = w - k + 1;
  col->resize(static_cast<size_t>(n * oh * ow * k * k * c));
  float* out = col->data();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int ky = 0; ky < k; ++ky) {
          const float* src = x + ((b * h + oy + ky) * w + ox) * c;
          std::copy(src, src + k * c, out);
          out += k * c;
        }
}

// The adjoint of Im2Col: sums patch gradients back into the input gradient.
void Col2Im(const float* dcol, int64_t n, const Shape& in, int k, float* dx) {
  const int64_t h = in[0], w = in[1], c = in[2], oh = h - k + 1, ow = w - k + 1;
  std::fill(dx, dx + n * h * w * c, 0.0f);
  const float* src = dcol;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int ky = 0; ky < k; ++ky) {
          float* dst = dx + ((b * h + oy + ky) * w + ox) * c;
          for (int64_t i = 0; i < k * c; ++i) dst[i] += src[i];
          src += k * c;
        }
}

// VALID max pooling, window = stride = p; records each output's input index.
void MaxPool(const float* x, int64_t n, const Shape& in, int p, float* out,
             std::vector<int64_t>* argmax) {
  const int64_t h = in[0], w = in[1], c = in[2], oh = h / p, ow = w / p;
  argmax->resize(static_cast<size_t>(n * oh * ow * c));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t ch = 0; ch < c; ++ch) {
          int64_t best = -1;
          for (int py = 0; py < p; ++py)
            for (int px = 0; px < p; ++px) {
              const int64_t idx = ((b * h + oy * p + py) * w + ox * p + px) * c + ch;
              if (best < 0 || x[idx] > x[best]) best = idx;
            }
          const int64_t o = ((b * oh + oy) * ow + ox) * c + ch;
          out[o] = x[best];
          (*argmax)[o] = best;
        }
}

// Loss and correct count of `n` rows of logits; with `gradient`, replaces the
// logits by d(sum of losses)/d(logits) = softmax - one_hot.
BatchStats SoftmaxCrossEntropy(const int32_t* labels, int64_t n, Floats* logits,
                               bool gradient) {
  BatchStats stats;
  const int64_t classes = static_cast<int64_t>(logits->size()) / n;
  for (int64_t b = 0; b < n; ++b) {
    float* z = &(*logits)[b * classes];
    const int64_t argmax = std::max_element(z, z + classes) - z;
    const float zmax = z[argmax];
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c] - zmax));
    stats.correct += argmax == labels[b];
    stats.loss_sum += std::log(sum) - (z[labels[b]] - zmax);
    if (!gradient) continue;
    for (int64_t c = 0; c < classes; ++c) {
      z[c] = static_cast<float>(std::exp(static_cast<double>(z[c] - zmax)) / sum) -
             (c == labels[b] ? 1.0f : 0.0f);
    }
  }
  return stats;
}

}  // namespace

Network::Network(ModelSpec spec, uint32_t seed) : spec_(std::move(spec)) {
  std::mt19937 rng(seed);
  Shape shape = spec_.input_shape;
  int with_weights = 0;
  for (const LayerSpec& l : spec_.layers) {
    if (!l.has_weights()) {
      param_of_layer_.push_back(-1);
      shape = OutputShape(l, shape);
      continue;
    }
    const int64_t fan_in = l.kind == Kind::kDense ? Size(shape) : int64_t{l.kernel} * l.kernel * shape[2];
    const int64_t fan_out = l.kind == Kind::kDense ? l.units : int64_t{l.kernel} * l.kernel * l.units;
    Param kernel{WeightKey(with_weights, "kernel"), l.name + "/kernel",
                 l.kind == Kind::kDense ? Shape{Size(shape), l.units}
                                        : Shape{l.kernel, l.kernel, shape[2], l.units},
                 {}};
    const float limit = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
    std::uniform_real_distribution<float> uniform(-limit, limit);
    kernel.value.resize(static_cast<size_t>(Size(kernel.shape)));
    for (float& v : kernel.value) v = uniform(rng);
    Param bias{WeightKey(with_weights, "bias"), l.name + "/bias", {l.units},
               Floats(static_cast<size_t>(l.units), 0.0f)};
    param_of_layer_.push_back(static_cast<int>(params_.size()));
    params_.push_back(std::move(kernel));
    params_.push_back(std::move(bias));
    ++with_weights;
    shape = OutputShape(l, shape);
  }
}

int64_t Network::input_size() const { return Size(spec_.input_shape); }

// The forward pass over `n` examples: returns the logits. With `saved`, keeps
// what the backward pass needs; dropout is active when `rng` is given.
Floats Network::Forward(const float* x, int64_t n, std::mt19937_64* rng,
                        std::vector<Saved>* saved) const {
  Floats act(x, x + n * input_size());
  Shape shape = spec_.input_shape;
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    const LayerSpec& l = spec_.layers[i];
    const Shape out_shape = OutputShape(l, shape);
    Floats out(static_cast<size_t>(n * Size(out_shape)));
    Saved scratch;
    Saved& s = saved != nullptr ? (*saved)[i] : scratch;
    s.in_shape = shape;
    if (l.has_weights()) {
      const Param& kernel = params_[param_of_layer_[i]];
      const Param& bias = params_[param_of_layer_[i] + 1];
      const int64_t rows = l.kind == Kind::kDense ? n : n * out_shape[0] * out_shape[1];
      if (l.kind == Kind::kDense) {
        s.input = std::move(act);
      } else {
        Im2Col(act.data(), n, shape, l.kernel, &s.input);
      }
      const int64_t k = Size(kernel.shape) / l.units;
      Map y(out.data(), rows, l.units);
      y.noalias() = ConstMap(s.input.data(), rows, k) * ConstMap(kernel.value.data(), k, l.units);
      y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias.value.data(), l.units);
      if (l.relu) y = y.cwiseMax(0.0f);
      if (saved != nullptr) s.output = out;
    } else if (l.kind == Kind::kMaxPool2D) {
      MaxPool(act.data(), n, shape, l.pool, out.data(), &s.argmax);
    } else if (l.kind == Kind::kDropout && rng != nullptr) {
      std::uniform_real_distribution<float> u(0.0f, 1.0f);
      s.mask.resize(act.size());
      const float keep = 1.0f / (1.0f - l.rate);
      for (size_t j = 0; j < act.size(); ++j) {
        s.mask[j] = u(*rng) >= l.rate ? keep : 0.0f;
        out[j] = act[j] * s.mask[j];
      }
    } else {
      out = std::move(act);  // Flatten, or Dropout at inference
    }
    act = std::move(out);
    shape = out_shape;
  }
  return act;
}

// Gradient of a layer's input from its output's (`grad`, replaced); adds the
// parameter gradients. The first layer passes nothing on.
void Network::Backward(size_t i, const Saved& s, int64_t n, bool training,
                       Floats* grad, std::vector<Floats>* grads) const {
  const LayerSpec& l = spec_.layers[i];
  Floats dx;
  if (l.has_weights()) {
    const int p = param_of_layer_[i];
    const Param& kernel = params_[p];
    const int64_t k = Size(kernel.shape) / l.units;
    const int64_t rows = static_cast<int64_t>(s.output.size()) / l.units;
    Map dz(grad->data(), rows, l.units);
    if (l.relu) {
      dz.array() *= (ConstMap(s.output.data(), rows, l.units).array() > 0.0f).cast<float>();
    }
    Map((*grads)[p].data(), k, l.units).noalias() += ConstMap(s.input.data(), rows, k).transpose() * dz;
    Eigen::Map<Eigen::RowVectorXf>((*grads)[p + 1].data(), l.units) += dz.colwise().sum();
    if (i == 0) return;  // no gradient needed for the input
    Floats dcol(static_cast<size_t>(rows * k));
    Map(dcol.data(), rows, k).noalias() = dz * ConstMap(kernel.value.data(), k, l.units).transpose();
    if (l.kind == Kind::kDense) {
      dx = std::move(dcol);
    } else {
      dx.resize(static_cast<size_t>(n * Size(s.in_shape)));
      Col2Im(dcol.data(), n, s.in_shape, l.kernel, dx.data());
    }
  } else if (l.kind == Kind::kMaxPool2D) {
    dx.assign(static_cast<size_t>(n * Size(s.in_shape)), 0.0f);
    for (size_t o = 0; o < grad->size(); ++o) dx[s.argmax[o]] += (*grad)[o];
  } else if (l.kind == Kind::kDropout && training) {
    dx.resize(grad->size());
    for (size_t j = 0; j < grad->size(); ++j) dx[j] = (*grad)[j] * s.mask[j];
  } else {
    return;  // Flatten, inference Dropout: the gradient passes unchanged
  }
  *grad = std::move(dx);
}

BatchStats Network::Accumulate(const float* x, const int32_t* labels, int64_t n, bool training,
                               uint64_t seed, std::vector<Floats>* grads) const {
  std::vector<Saved> saved(spec_.layers.size());
  std::mt19937_64 rng(seed);
  Floats logits = Forward(x, n, training ? &rng : nullptr, &saved);
  const BatchStats stats = SoftmaxCrossEntropy(labels, n, &logits, true);
  for (size_t i = spec_.layers.size(); i-- > 0;) Backward(i, saved[i], n, training, &logits, grads);
  return stats;
}

Floats Network::Predict(const float* x, int64_t n) const {
  return Forward(x, n, nullptr, nullptr);
}

BatchStats Network::Evaluate(const float* x, const int32_t* labels, int64_t n) const {
  Floats logits = Forward(x, n, nullptr, nullptr);
  return SoftmaxCrossEntropy(labels, n, &logits, false);
}

}  // namespace swapserve::trainer
