#include "model/servable.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "model/util/file.h"

namespace swapserve {

Servable::Servable(std::unique_ptr<LoadedModel> model) {
  CHECK(model->weights != nullptr) << "Servable needs loaded weights";
  weights_ = std::make_shared<const ServedWeights>(ServedWeights{std::move(model->weights), 1});
  model_ = std::move(model);
}

std::shared_ptr<const ServedWeights> Servable::Weights() const {
  absl::ReaderMutexLock lock(&mu_);
  return weights_;
}

int64_t Servable::Swap(std::shared_ptr<const WeightSet> weights) {
  std::lock_guard<std::mutex> lock(swap_mu_);
  const int64_t next = Weights()->generation + 1;
  auto current = std::make_shared<const ServedWeights>(ServedWeights{std::move(weights), next});
  {
    absl::MutexLock exchange(&mu_);
    weights_.swap(current);
  }
  return next;  // `current` (the old set) is released here, outside mu_.
}

bool Servable::IsOwnWeights(const WeightSet& weights) const {
  return weights.source() == model_->path + "/variables/variables" ||
         weights.source() == model_->path;
}

std::string Servable::WeightsName(const WeightSet& weights) const {
  if (IsOwnWeights(weights)) return "saved_model";
  return BaseName(weights.source());
}

absl::Status Servable::WarmUp(const WeightSet& weights) const {
  for (const auto& [name, plan] : model_->plans) {
    std::vector<Tensor> inputs;
    bool runnable = true;
    for (const PlanTensor& in : plan->inputs()) {
      if (!in.shape_known || in.dtype == tensorflow::DT_STRING) {
        runnable = false;
        break;
      }
      std::vector<int64_t> dims = in.shape;
      for (int64_t& d : dims) d = d < 0 ? 1 : d;
      absl::StatusOr<TensorShape> shape = TensorShape::Make(dims);
      if (!shape.ok()) return shape.status();
      absl::StatusOr<Tensor> t = Tensor::Allocate(in.dtype, *shape);
      if (!t.ok()) return t.status();
      inputs.push_back(*std::move(t));
    }
    if (!runnable) continue;
    absl::StatusOr<std::vector<Tensor>> out = plan->Run(weights, inputs);
    if (!out.ok()) {
      return absl::Status(out.status().code(), absl::StrCat("warm-up of signature '", name,
                                                            "' failed: ", out.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace swapserve
