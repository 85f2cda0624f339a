#include "model/formats/saved_model.h"

#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/text_format.h"
#include "model/formats/bundle_format.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"
#include "tensorflow/core/protobuf/saved_model.pb.h"

namespace swapserve {
namespace {

// Protobuf messages cannot exceed 2 GiB; neither can a saved_model.pb.
constexpr uint64_t kMaxProtoBytes = INT_MAX;

absl::Status ParseBinaryProto(const std::string& path,
                              google::protobuf::Message* message) {
  std::string bytes;
  RETURN_IF_ERROR(ReadFileToString(path, kMaxProtoBytes, &bytes));
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  in.SetTotalBytesLimit(INT_MAX);
  if (!message->ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a valid ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

absl::Status ReadSavedModelProto(const std::string& dir,
                                 tensorflow::SavedModel* saved_model) {
  const std::string pb = absl::StrCat(dir, "/saved_model.pb");
  if (PathExists(pb)) return ParseBinaryProto(pb, saved_model);
  const std::string pbtxt = absl::StrCat(dir, "/saved_model.pbtxt");
  if (!PathExists(pbtxt)) {
    return absl::NotFoundError(
        absl::StrCat(dir, " is not a SavedModel: no saved_model.pb or .pbtxt"));
  }
  std::string text;
  RETURN_IF_ERROR(ReadFileToString(pbtxt, kMaxProtoBytes, &text));
  if (!google::protobuf::TextFormat::ParseFromString(text, saved_model)) {
    return absl::DataLossError(absl::StrCat(pbtxt, ": not a valid SavedModel"));
  }
  return absl::OkStatus();
}

// Index of the MetaGraphDef to serve: exactly {tag} first, else any containing tag.
absl::StatusOr<int> SelectMetaGraph(const std::string& dir,
                                    const tensorflow::SavedModel& saved_model,
                                    absl::string_view tag) {
  int any = -1;
  std::vector<std::string> seen;
  for (int i = 0; i < saved_model.meta_graphs_size(); ++i) {
    const auto& tags = saved_model.meta_graphs(i).meta_info_def().tags();
    seen.push_back(absl::StrCat("{", absl::StrJoin(tags, ","), "}"));
    for (const std::string& t : tags) {
      if (t != tag) continue;
      if (tags.size() == 1) return i;
      if (any < 0) any = i;
    }
  }
  if (any >= 0) return any;
  return absl::NotFoundError(absl::StrCat(dir, ": no MetaGraphDef tagged '", tag,
                                          "' (tag sets: ", absl::StrJoin(seen, " "),
                                          ")"));
}

// TF2 lists assets in asset_file_def; TF1's SavedModelBuilder in the
// "saved_model_assets" collection as Any-packed AssetFileDefs.
std::vector<tensorflow::AssetFileDef> AssetFileDefs(
    const tensorflow::MetaGraphDef& mg) {
  std::vector<tensorflow::AssetFileDef> assets(mg.asset_file_def().begin(),
                                               mg.asset_file_def().end());
  if (!assets.empty()) return assets;
  auto it = mg.collection_def().find("saved_model_assets");
  if (it == mg.collection_def().end()) return assets;
  for (const auto& any : it->second.any_list().value()) {
    tensorflow::AssetFileDef asset;
    if (any.UnpackTo(&asset)) assets.push_back(std::move(asset));
  }
  return assets;
}

}  // namespace

bool IsSavedModelDir(const std::string& dir) {
  return PathExists(absl::StrCat(dir, "/saved_model.pb")) ||
         PathExists(absl::StrCat(dir, "/saved_model.pbtxt"));
}

absl::StatusOr<SavedModelInfo> ReadSavedModel(const std::string& dir,
                                              absl::string_view tag) {
  tensorflow::SavedModel saved_model;
  RETURN_IF_ERROR(ReadSavedModelProto(dir, &saved_model));
  ASSIGN_OR_RETURN(int index, SelectMetaGraph(dir, saved_model, tag));
  SavedModelInfo info;
  info.dir = dir;
  info.meta_graph = std::move(*saved_model.mutable_meta_graphs(index));
  info.variables_prefix = absl::StrCat(dir, "/variables/variables");
  info.has_variables = PathExists(BundleIndexFilename(info.variables_prefix));
  for (const auto& asset : AssetFileDefs(info.meta_graph)) {
    info.asset_paths.push_back(absl::StrCat(dir, "/assets/", asset.filename()));
  }
  const std::string keras = absl::StrCat(dir, "/keras_metadata.pb");
  if (PathExists(keras)) {
    info.keras_metadata.emplace();
    RETURN_IF_ERROR(ParseBinaryProto(keras, &*info.keras_metadata));
  }
  return info;
}

}  // namespace swapserve
