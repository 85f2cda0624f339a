// Keras 3's weights layout: the `.weights.h5` files `model.save_weights()` and
// `ModelCheckpoint(save_weights_only=True)` write, and the `model.weights.h5`
// inside a `.keras` archive. Every saveable object's variables are datasets
// `<object path>/vars/<i>` (i from 0, in the object's own order), the paths
// nesting as the objects do: `layers/dense/vars/0`,
// `layers/sequential/layers/dense_1/vars/1`, `optimizer/vars/3`. There are no
// root attributes and no name lists; each `vars` group may carry the layer's
// configured name as an attribute, which nothing here relies on.
//
// This reader lists every dataset, keyed by its path without the leading '/',
// and reads the values of the ones asked for; which key belongs to which layer
// is keras_plan.h's business (Keras 3's naming rule). Malformed files are
// errors (hdf5_reader.h's checks; groups deeper than 32 levels or more than
// 100,000 objects; links other than hard links).
//
// Thread safety: safe from many threads; HDF5 calls are serialized.
#ifndef SWAPSERVE_MODEL_FORMATS_KERAS_WEIGHTS_H5_H_
#define SWAPSERVE_MODEL_FORMATS_KERAS_WEIGHTS_H5_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/tensor.h"

namespace swapserve {

struct KerasVariableInfo {
  DataType dtype = tensorflow::DT_INVALID;
  TensorShape shape;
};

struct KerasWeightsFile {
  std::string path;  // The file, or "<archive>/model.weights.h5".
  std::map<std::string, KerasVariableInfo> variables;  // Every dataset.
  std::map<std::string, Tensor> values;                 // Those read.
};

// Which datasets to read the values of; null: all of them.
using KerasWeightsWanted = std::function<bool(const std::string& key)>;

absl::StatusOr<KerasWeightsFile> ReadKerasWeightsH5(const std::string& path,
                                                    const KerasWeightsWanted& wanted);

// The same for a file image in memory; `name` stands for it in errors.
absl::StatusOr<KerasWeightsFile> ReadKerasWeightsH5Image(const std::string& name,
                                                         absl::string_view image,
                                                         const KerasWeightsWanted& wanted);

// Writes a weights file in that layout: every group of `groups` (Keras writes
// a `vars` group for every saveable, weights or not), then each dataset at its
// key (parent groups created as needed; float32, float64, int32 or int64),
// in the HDF5 format h5py writes by default (superblock version 0). Written
// to a hidden temporary name in the same directory, fsync'd and renamed into
// place, so a follower never sees it half-written (Keras itself writes in
// place).
absl::Status WriteKerasWeightsH5(const std::string& path, const std::vector<std::string>& groups,
                                 const std::vector<std::pair<std::string, Tensor>>& datasets);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_KERAS_WEIGHTS_H5_H_
