// Exporting a trained ModelSpec as a TensorFlow SavedModel: DIR/saved_model.pb (one
// MetaGraphDef tagged "serve" with the `serving_default` predict signature) and
// DIR/variables/variables.{index,data-00000-of-00001} holding the weights.
//
// The graph is the one TF1 Keras (`tf.compat.v1.keras` + SavedModelBuilder) would
// write for the layers — resource variables, a V2 Saver whose RestoreV2 lists the
// Keras checkpoint keys (`layer_with_weights-N/kernel/.ATTRIBUTES/VARIABLE_VALUE`) —
// so that our engine serves it, real TensorFlow loads it
// (`tf.saved_model.load`, `tf.compat.v1.saved_model.loader.load`), and the server
// can later swap in a Keras ModelCheckpoint or our trainer's checkpoints, whose keys
// are the same.
//
// Stateless function, thread-safe for distinct directories.
#ifndef SWAPSERVE_TRAINER_SAVED_MODEL_EXPORT_H_
#define SWAPSERVE_TRAINER_SAVED_MODEL_EXPORT_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/tensor.h"
#include "tensorflow/core/protobuf/saved_model.pb.h"
#include "trainer/model_spec.h"

namespace swapserve::trainer {

// The TF version the exported MetaGraphDef claims, and the GraphDef producer
// version that TF release writes (copied from a real TF 2.14 export).
inline constexpr char kExportTensorflowVersion[] = "2.14.0";
inline constexpr int kExportGraphProducer = 1569;

// Builds the SavedModel proto for `spec` without writing anything. `weights` only
// provides shapes and dtypes here (the values go to the variables bundle); every
// weight is checked as in ExportSavedModel.
absl::StatusOr<tensorflow::SavedModel> BuildSavedModelProto(
    const ModelSpec& spec, const std::map<std::string, Tensor>& weights);

// Writes DIR/saved_model.pb and DIR/variables/variables.{index,data-00000-of-00001},
// creating DIR and DIR/variables. `weights` is keyed by WeightKey(n, "kernel"/
// "bias"); a missing key, a wrong dtype (only DT_FLOAT) or a wrong shape is
// INVALID_ARGUMENT naming the key and the expected shape. Weights not used by the
// spec are an error too (a typo'd key would otherwise be silently dropped).
// DIR must not exist or be empty (ALREADY_EXISTS otherwise, like TF's
// SavedModelBuilder). Everything is written durably into a hidden sibling
// ".DIR.tmp-PID" — the bundle (data before index), then saved_model.pb — which is
// then renamed to DIR: a model server polling DIR's parent sees the complete
// export or nothing.
absl::Status ExportSavedModel(const ModelSpec& spec, const std::map<std::string, Tensor>& weights,
                              const std::string& dir);

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_SAVED_MODEL_EXPORT_H_
