#include "trainer/export_hook.h"

#include <cstring>
#include <map>

#include "model/util/status_macros.h"
#include "trainer/saved_model_export.h"

namespace swapserve::trainer {

absl::Status ExportTrainedModel(const Network& network, const std::string& dir) {
  std::map<std::string, Tensor> weights;
  for (const Param& p : network.params()) {
    ASSIGN_OR_RETURN(TensorShape shape, TensorShape::Make(p.shape));
    ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(tensorflow::DT_FLOAT, shape));
    std::memcpy(t.data<float>(), p.value.data(), p.value.size() * sizeof(float));
    weights.emplace(p.key, std::move(t));
  }
  return ExportSavedModel(network.spec(), weights, dir);
}

}  // namespace swapserve::trainer
