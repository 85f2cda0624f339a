// Reading the HDF5 files Keras writes (the "legacy" .h5 format): a whole model
// from `model.save('x.h5')` — JSON `model_config`/`training_config` attributes
// on the root and the weights under the `model_weights` group — or the weights
// alone from `model.save_weights('x.h5')`, where the layer groups sit at the
// root.
//
// In both, the weights group has a `layer_names` attribute, each layer group a
// `weight_names` attribute, and each weight name is a dataset path relative to
// its layer group ("dense/kernel:0"). Keras stored these attributes as fixed-
// or variable-length strings, scalar or array, and split attributes over 64 KB
// into `name0`, `name1`, ... chunks; all of these are read. `optimizer_weights`
// and `top_level_model_weights` are not part of `layer_names` and are not read.
//
// Bad files are errors, not crashes (hdf5_reader.h: truncation, external
// links and storage, sizes bounded by the file, HDF5's own messages in the
// status), and so are missing attributes, groups and datasets. The limit of
// libhdf5 1.10 against deliberately corrupted internals is hdf5_reader.h's.
//
// Thread safety: the functions are safe to call from many threads; HDF5 calls
// are serialized behind one process-wide mutex.
#ifndef SWAPSERVE_MODEL_FORMATS_KERAS_H5_H_
#define SWAPSERVE_MODEL_FORMATS_KERAS_H5_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/formats/hdf5_signature.h"
#include "model/tensor.h"
#include "nlohmann/json.hpp"

namespace swapserve {

struct KerasH5Weight {
  std::string name;  // As in `weight_names`, e.g. "dense/kernel:0".
  Tensor value;
};

struct KerasH5Layer {
  std::string name;
  // In `weight_names` order; empty for layers without weights (Dropout).
  std::vector<KerasH5Weight> weights;
};

struct KerasH5File {
  std::string path;
  std::string keras_version;  // Empty when the file does not say.
  std::string backend;
  // Absent for save_weights() files.
  std::optional<nlohmann::json> model_config;
  std::optional<nlohmann::json> training_config;
  std::vector<KerasH5Layer> layers;  // `layer_names` order.

  // nullptr when no layer has that name.
  const KerasH5Layer* FindLayer(absl::string_view name) const;
};

// Reads the model config (when present) and every weight of every layer.
absl::StatusOr<KerasH5File> ReadKerasH5(const std::string& path);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_KERAS_H5_H_
