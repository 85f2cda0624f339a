#include "model/weights.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/util/status_macros.h"

namespace swapserve {

bool ShapeMatches(const SlotSpec& spec, const TensorShape& shape) {
  if (!spec.shape_known) return true;
  if (static_cast<int>(spec.shape.size()) != shape.rank()) return false;
  for (int i = 0; i < shape.rank(); ++i) {
    if (spec.shape[i] >= 0 && spec.shape[i] != shape.dim(i)) return false;
  }
  return true;
}

absl::StatusOr<std::shared_ptr<const WeightSet>> LoadWeights(
    const std::vector<SlotSpec>& slots, const BundleReader& bundle) {
  std::vector<Tensor> tensors;
  tensors.reserve(slots.size());
  for (const SlotSpec& spec : slots) {
    const BundleEntry* entry = bundle.Find(spec.checkpoint_key);
    if (entry == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "checkpoint ", bundle.prefix(), " has no key '", spec.checkpoint_key,
          "' (variable ", spec.variable, ")"));
    }
    ASSIGN_OR_RETURN(Tensor t, bundle.Read(*entry));
    if (t.dtype() != spec.dtype || !ShapeMatches(spec, t.shape())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint ", bundle.prefix(), " key '", spec.checkpoint_key, "' is ",
          t.DebugString(), " but variable ", spec.variable, " is ",
          DataTypeName(spec.dtype), "[", absl::StrJoin(spec.shape, ","), "]"));
    }
    tensors.push_back(std::move(t));
  }
  return std::make_shared<const WeightSet>(std::move(tensors), bundle.prefix());
}

}  // namespace swapserve
