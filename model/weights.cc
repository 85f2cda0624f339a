#include "model/weights.h"

#include <cmath>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/formats/object_graph.h"
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

namespace {

// Takes each slot's tensor from `read` (key -> tensor, null when absent),
// under `keys[i]` for slot i, checking dtype and shape; `source` names where
// they came from in errors.
template <typename ReadFn>
absl::StatusOr<std::shared_ptr<const WeightSet>> CollectWeights(const std::vector<SlotSpec>& slots,
                                                                const std::vector<std::string>& keys,
                                                                const std::string& source,
                                                                ReadFn read) {
  std::vector<Tensor> tensors;
  tensors.reserve(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    const SlotSpec& spec = slots[i];
    ASSIGN_OR_RETURN(std::optional<Tensor> t, read(keys[i]));
    if (!t) {
      return absl::NotFoundError(absl::StrCat("checkpoint ", source, " has no key '", keys[i],
                                              "' (variable ", spec.variable, ")"));
    }
    if (t->dtype() != spec.dtype || !ShapeMatches(spec, t->shape())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint ", source, " key '", keys[i], "' is ", t->DebugString(),
          " but variable ", spec.variable, " is ", DataTypeName(spec.dtype), "[",
          absl::StrJoin(spec.shape, ","), "]"));
    }
    tensors.push_back(*std::move(t));
  }
  return std::make_shared<const WeightSet>(std::move(tensors), source);
}

std::vector<std::string> SlotKeys(const std::vector<SlotSpec>& slots) {
  std::vector<std::string> keys;
  for (const SlotSpec& spec : slots) keys.push_back(spec.checkpoint_key);
  return keys;
}

// The bundle keys of the slots: their own when the bundle has them all,
// else where the bundle's object graph holds the model (a CheckpointManager
// checkpoint with the model under an attribute).
absl::StatusOr<std::vector<std::string>> BundleKeys(const std::vector<SlotSpec>& slots,
                                                    const BundleReader& bundle) {
  std::vector<std::string> keys = SlotKeys(slots);
  bool object_keys = true, all_present = true;
  for (const std::string& key : keys) {
    all_present = all_present && bundle.Find(key) != nullptr;
    object_keys = object_keys && absl::StrContains(key, "/.ATTRIBUTES/");
  }
  if (all_present || !object_keys) return keys;
  absl::StatusOr<tensorflow::TrackableObjectGraph> graph = ReadObjectGraph(bundle);
  if (!graph.ok()) return keys;  // name-based: report the missing key
  absl::StatusOr<RerootedKeys> rerooted = RerootCheckpointKeys(*graph, keys);
  if (!rerooted.ok()) {
    return absl::Status(rerooted.status().code(), absl::StrCat("checkpoint ", bundle.prefix(),
                                                               ": ", rerooted.status().message()));
  }
  return std::move(rerooted->keys);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const WeightSet>> LoadWeights(
    const std::vector<SlotSpec>& slots, const BundleReader& bundle) {
  ASSIGN_OR_RETURN(std::vector<std::string> keys, BundleKeys(slots, bundle));
  return CollectWeights(slots, keys, bundle.prefix(),
                        [&](const std::string& key) -> absl::StatusOr<std::optional<Tensor>> {
                          const BundleEntry* entry = bundle.Find(key);
                          if (entry == nullptr) return std::nullopt;
                          ASSIGN_OR_RETURN(Tensor t, bundle.Read(*entry));
                          return t;
                        });
}

absl::StatusOr<std::shared_ptr<const WeightSet>> LoadWeights(
    const std::vector<SlotSpec>& slots, const std::map<std::string, Tensor>& values,
    const std::string& source) {
  return CollectWeights(slots, SlotKeys(slots), source,
                        [&](const std::string& key) -> absl::StatusOr<std::optional<Tensor>> {
                          auto it = values.find(key);
                          if (it == values.end()) return std::nullopt;
                          return it->second;
                        });
}

namespace {

// Index of the first non-finite value, or -1.
template <typename T>
int64_t FirstNonFinite(const Tensor& t) {
  const T* v = t.data<T>();
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (!std::isfinite(static_cast<double>(v[i]))) return i;
  }
  return -1;
}

// IEEE half: exponent bits all ones means Inf or NaN. bfloat16 likewise with an
// 8-bit exponent.
int64_t FirstNonFiniteBits(const Tensor& t, uint16_t exponent_mask) {
  const uint16_t* v = t.data<uint16_t>();
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if ((v[i] & exponent_mask) == exponent_mask) return i;
  }
  return -1;
}

}  // namespace

absl::Status CheckAllFinite(const std::vector<SlotSpec>& slots, const WeightSet& weights) {
  for (int i = 0; i < weights.size() && i < static_cast<int>(slots.size()); ++i) {
    const Tensor& t = weights.slot(i);
    int64_t bad = -1;
    switch (t.dtype()) {
      case tensorflow::DT_FLOAT: bad = FirstNonFinite<float>(t); break;
      case tensorflow::DT_DOUBLE: bad = FirstNonFinite<double>(t); break;
      case tensorflow::DT_HALF: bad = FirstNonFiniteBits(t, 0x7C00); break;
      case tensorflow::DT_BFLOAT16: bad = FirstNonFiniteBits(t, 0x7F80); break;
      default: break;
    }
    if (bad >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", slots[i].checkpoint_key, "' (variable ", slots[i].variable,
          ") holds a NaN or infinity at element ", bad));
    }
  }
  return absl::OkStatus();
}

}  // namespace swapserve
