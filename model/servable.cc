#include "model/servable.h"

#include <mutex>

#include "glog/logging.h"

namespace swapserve {

Servable::Servable(std::unique_ptr<const LoadedModel> model) : model_(std::move(model)) {
  CHECK(model_->weights != nullptr) << "Servable needs loaded weights";
  weights_.store(std::make_shared<const ServedWeights>(ServedWeights{model_->weights, 1}));
}

int64_t Servable::Swap(std::shared_ptr<const WeightSet> weights) {
  std::lock_guard<std::mutex> lock(swap_mu_);
  const int64_t next = weights_.load()->generation + 1;
  weights_.store(std::make_shared<const ServedWeights>(ServedWeights{std::move(weights), next}));
  return next;
}

}  // namespace swapserve
