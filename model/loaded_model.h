// LoadedModel: a model path (SavedModel, Keras .h5 or .keras) turned into runnable Plans (one per signature), the slot
// table its variables map to, and the WeightSet loaded for them — what `swapserve-cli
// run` executes and what the daemon will wrap in a Servable.
//
// A signature the engine cannot run is recorded as unavailable with the reason; the
// model loads if `serving_default` (or, without one, any signature) runs.
//
// Thread safety: immutable after LoadModel; Plans may run concurrently.
#ifndef SWAPSERVE_MODEL_LOADED_MODEL_H_
#define SWAPSERVE_MODEL_LOADED_MODEL_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/formats/keras_h5.h"
#include "model/graph/plan.h"
#include "model/weights.h"
#include "tensorflow/core/protobuf/meta_graph.pb.h"

namespace swapserve {

// Reads the layer variables of a Keras 3 weights file — a `.weights.h5`, or a
// `.keras` archive's — into tensors by key. Null: read in this process; the
// daemon passes one that parses in a child process (server/isolated_reader.h),
// since libhdf5 can crash on a corrupt file.
using KerasWeightsReader =
    std::function<absl::StatusOr<std::map<std::string, Tensor>>(const std::string& path)>;

// Reads a legacy Keras `.h5` file whole (ReadKerasH5's result), for the same
// reason; null: in this process.
using KerasH5Reader = std::function<absl::StatusOr<KerasH5File>(const std::string& path)>;

struct LoadOptions {
  // A checkpoint (ResolveCheckpointArgument's forms) whose weights replace the
  // model's own. Empty: the model's own variables.
  std::string checkpoint;
  // Every HDF5 file a load reads goes through these when set: a `.weights.h5`
  // or a `.keras` archive's weights through keras_reader, a legacy `.h5`
  // model through keras_h5_reader.
  KerasWeightsReader keras_reader;
  KerasH5Reader keras_h5_reader;
};

struct LoadedModel {
  std::string path;
  std::vector<SlotSpec> slots;
  std::map<std::string, std::unique_ptr<Plan>> plans;
  std::map<std::string, absl::Status> unavailable;
  std::shared_ptr<const WeightSet> weights;
  // Every signature as the model declares it (a SavedModel's own SignatureDefs,
  // including ones that cannot run; for .h5 files the one Keras would export) —
  // what GetModelMetadata returns.
  google::protobuf::Map<std::string, tensorflow::SignatureDef> signature_defs;

  // The plan for `signature` (empty: serving_default), or NOT_FOUND /
  // the reason it is unavailable.
  absl::StatusOr<const Plan*> FindPlan(const std::string& signature) const;
};

absl::StatusOr<std::unique_ptr<LoadedModel>> LoadModel(const std::string& path,
                                                       const LoadOptions& options);

// The same without reading any weights (`weights` stays null): which signatures
// can run, and why the others cannot. Used by `show`.
absl::StatusOr<std::unique_ptr<LoadedModel>> AnalyzeModel(const std::string& path);

// Resolves a --checkpoint argument: a bundle prefix, a Keras 3 `.weights.h5`
// or `.keras` file, or a directory (its latest: checkpoint_dir.h).
absl::StatusOr<std::string> ResolveCheckpointArgument(const std::string& checkpoint);

// Reads `slots` from a resolved checkpoint: a tensor bundle, a `.weights.h5`
// file (refused while incomplete: CheckHdf5Complete) or a `.keras` archive's
// weights, checking each key's presence, dtype and shape.
absl::StatusOr<std::shared_ptr<const WeightSet>> ReadCheckpointWeights(
    const std::vector<SlotSpec>& slots, const std::string& checkpoint,
    const KerasWeightsReader& keras_reader = nullptr);

// The in-process KerasWeightsReader.
absl::StatusOr<std::map<std::string, Tensor>> ReadKerasLayerWeights(const std::string& path);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_LOADED_MODEL_H_
