#include "trainer/adam.h"

#include <cmath>

namespace swapserve::trainer {

Adam::Adam(AdamConfig config, const std::vector<Param>& params) : config_(config) {
  for (const Param& p : params) {
    m_.emplace_back(p.value.size(), 0.0f);
    v_.emplace_back(p.value.size(), 0.0f);
  }
}

void Adam::Apply(const std::vector<Floats>& grads, float scale,
                 std::vector<Param>* params) {
  ++iterations_;
  const double t = static_cast<double>(iterations_);
  const float lr_t = static_cast<float>(config_.learning_rate *
                                        std::sqrt(1.0 - std::pow(config_.beta_2, t)) /
                                        (1.0 - std::pow(config_.beta_1, t)));
  const float b1 = config_.beta_1, b2 = config_.beta_2, eps = config_.epsilon;
  for (size_t p = 0; p < params->size(); ++p) {
    float* theta = (*params)[p].value.data();
    float* m = m_[p].data();
    float* v = v_[p].data();
    const float* g = grads[p].data();
    const size_t n = m_[p].size();
    for (size_t i = 0; i < n; ++i) {
      const float gi = g[i] * scale;
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      theta[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
    }
  }
}

}  // namespace swapserve::trainer
