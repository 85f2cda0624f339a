// Adam as Keras implements it (tf.keras.optimizers.Adam, defaults lr 1e-3,
// β1 0.9, β2 0.999, ε 1e-7): m and v slots per parameter, the iteration counter,
// and the bias correction folded into the step size,
//   lr_t = lr · sqrt(1 − β2^t) / (1 − β1^t),  θ −= lr_t · m / (sqrt(v) + ε).
// Not thread-safe: one trainer thread applies updates.
#ifndef SWAPSERVE_TRAINER_ADAM_H_
#define SWAPSERVE_TRAINER_ADAM_H_

#include <cstdint>
#include <vector>

#include "trainer/network.h"

namespace swapserve::trainer {

struct AdamConfig {
  float learning_rate = 1e-3f;
  float beta_1 = 0.9f;
  float beta_2 = 0.999f;
  float epsilon = 1e-7f;
  float decay = 0.0f;  // kept for Keras's checkpoint layout; not applied
};

class Adam {
 public:
  Adam(AdamConfig config, const std::vector<Param>& params);

  // One step with gradients `grads` (same layout as params) times `scale`.
  void Apply(const std::vector<Floats>& grads, float scale, std::vector<Param>* params);

  const AdamConfig& config() const { return config_; }
  int64_t iterations() const { return iterations_; }
  void set_iterations(int64_t t) { iterations_ = t; }
  std::vector<Floats>& m() { return m_; }
  std::vector<Floats>& v() { return v_; }
  const std::vector<Floats>& m() const { return m_; }
  const std::vector<Floats>& v() const { return v_; }

 private:
  AdamConfig config_;
  int64_t iterations_ = 0;
  std::vector<Floats> m_, v_;
};

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_ADAM_H_
