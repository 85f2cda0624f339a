// WeightSet: the values of a model's variables, one tensor per slot, immutable once
// built. A Plan refers to variables only by slot index, so a new WeightSet (from a
// newer checkpoint) can replace the old one without touching the Plan.
//
// Thread safety: immutable after construction; share via shared_ptr<const>.
#ifndef SWAPSERVE_MODEL_WEIGHTS_H_
#define SWAPSERVE_MODEL_WEIGHTS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/formats/bundle_reader.h"
#include "model/tensor.h"

namespace swapserve {

// What a slot must hold: the variable's name in the graph, the checkpoint key the
// model's restore path reads it from, and its dtype and shape (-1: any size).
struct SlotSpec {
  std::string variable;
  std::string checkpoint_key;
  DataType dtype = tensorflow::DT_INVALID;
  std::vector<int64_t> shape;
  bool shape_known = false;
};

class WeightSet {
 public:
  WeightSet(std::vector<Tensor> tensors, std::string source)
      : tensors_(std::move(tensors)), source_(std::move(source)) {}

  int size() const { return static_cast<int>(tensors_.size()); }
  const Tensor& slot(int i) const { return tensors_[i]; }
  // Where the values came from (checkpoint prefix, .h5 path).
  const std::string& source() const { return source_; }

 private:
  std::vector<Tensor> tensors_;
  std::string source_;
};

// True when `shape` fits the spec (same rank; -1 matches any size).
bool ShapeMatches(const SlotSpec& spec, const TensorShape& shape);

// Reads every slot from the bundle, checking presence, dtype, shape and CRC. Keys
// the slots do not name are ignored. A bundle without the slots' keys whose
// object graph holds the model under another object (CheckpointManager's
// `net/...`) is read from there (object_graph.h's RerootCheckpointKeys). Errors name the key, the variable and the
// expected vs actual dtype/shape.
absl::StatusOr<std::shared_ptr<const WeightSet>> LoadWeights(
    const std::vector<SlotSpec>& slots, const BundleReader& bundle);

// The same from tensors by key (a Keras 3 weights file's datasets); `source`
// names them in errors and becomes the WeightSet's source.
absl::StatusOr<std::shared_ptr<const WeightSet>> LoadWeights(
    const std::vector<SlotSpec>& slots, const std::map<std::string, Tensor>& values,
    const std::string& source);

// INVALID_ARGUMENT naming the first slot holding a NaN or an infinity (float,
// double and half slots; other dtypes cannot hold them).
absl::Status CheckAllFinite(const std::vector<SlotSpec>& slots, const WeightSet& weights);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_WEIGHTS_H_
