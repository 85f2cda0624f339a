// Reading a SavedModel directory as TensorFlow writes it: saved_model.pb (or
// saved_model.pbtxt), variables/variables.{index,data-*}, assets/, and Keras's
// keras_metadata.pb. Picks the MetaGraphDef tagged "serve" (TF Serving's choice).
// Stateless functions, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_SAVED_MODEL_H_
#define SWAPSERVE_MODEL_FORMATS_SAVED_MODEL_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "tensorflow/core/protobuf/meta_graph.pb.h"
#include "tensorflow/python/keras/protobuf/saved_metadata.pb.h"

namespace swapserve {

inline constexpr absl::string_view kServeTag = "serve";
inline constexpr absl::string_view kDefaultSignature = "serving_default";

struct SavedModelInfo {
  std::string dir;
  tensorflow::MetaGraphDef meta_graph;  // The one tagged `tag`.
  // DIR/variables/variables; has_variables says whether its .index exists (a Keras
  // export without weights, or a graph without variables, has none).
  std::string variables_prefix;
  bool has_variables = false;
  // Absolute paths of the asset files the graph declares.
  std::vector<std::string> asset_paths;
  // keras_metadata.pb, when the directory has one.
  std::optional<third_party::tensorflow::python::keras::protobuf::SavedMetadata>
      keras_metadata;
};

// True when DIR holds saved_model.pb or saved_model.pbtxt.
bool IsSavedModelDir(const std::string& dir);

// Reads the SavedModel in DIR and selects the MetaGraphDef whose tags include `tag`
// (an exact {tag} set preferred). Errors name the file and what is missing.
absl::StatusOr<SavedModelInfo> ReadSavedModel(const std::string& dir,
                                              absl::string_view tag = kServeTag);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_SAVED_MODEL_H_
