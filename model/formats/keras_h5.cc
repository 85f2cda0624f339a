// The legacy Keras HDF5 layout (model_weights, layer_names, weight_names) on
// top of Hdf5Reader; see keras_h5.h.
#include "model/formats/keras_h5.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "model/formats/hdf5_reader.h"
#include "model/formats/keras_json.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

// Reads the Keras layout of one open file.
class H5Reader {
 public:
  explicit H5Reader(const Hdf5Reader& h5) : h5_(h5), path_(h5.path()) {}

  absl::Status Read(KerasH5File* out);

 private:
  absl::Status ReadHeader(hid_t root, hid_t weights, KerasH5File* out);
  absl::StatusOr<KerasH5Layer> ReadLayer(hid_t weights, const std::string& name);
  absl::StatusOr<std::optional<std::vector<std::string>>> ReadKerasList(
      hid_t obj, const std::string& name);

  const Hdf5Reader& h5_;
  const std::string& path_;
};

// Keras splits attributes over 64 KB into NAME0, NAME1, ...; nullopt when
// absent.
absl::StatusOr<std::optional<std::vector<std::string>>> H5Reader::ReadKerasList(
    hid_t obj, const std::string& name) {
  ASSIGN_OR_RETURN(bool whole, h5_.HasAttr(obj, name));
  if (whole) return h5_.ReadStrings(obj, name);
  std::optional<std::vector<std::string>> all;
  for (int chunk = 0;; ++chunk) {
    const std::string chunk_name = absl::StrCat(name, chunk);
    ASSIGN_OR_RETURN(bool present, h5_.HasAttr(obj, chunk_name));
    if (!present) break;
    ASSIGN_OR_RETURN(std::vector<std::string> part,
                     h5_.ReadStrings(obj, chunk_name));
    if (!all) all.emplace();
    all->insert(all->end(), part.begin(), part.end());
  }
  return all;
}

absl::StatusOr<KerasH5Layer> H5Reader::ReadLayer(hid_t weights,
                                                 const std::string& name) {
  const std::string weights_name = Hdf5ObjectName(weights);
  absl::StatusOr<H5Id> group = h5_.OpenGroup(weights, name);
  if (!group.ok()) {
    return absl::NotFoundError(absl::StrCat(path_, ": layer '", name, "' named in layer_names of ",
                                            weights_name, " has no group"));
  }
  ASSIGN_OR_RETURN(auto weight_names,
                   ReadKerasList(group->get(), "weight_names"));
  if (!weight_names) {
    return absl::NotFoundError(
        absl::StrCat(path_, ": layer group ", Hdf5ObjectName(group->get()),
                     " has no 'weight_names' attribute"));
  }
  KerasH5Layer layer{name, {}};
  for (std::string& weight_name : *weight_names) {
    ASSIGN_OR_RETURN(Tensor value, h5_.ReadDataset(group->get(), weight_name));
    layer.weights.push_back({std::move(weight_name), std::move(value)});
  }
  return layer;
}

absl::Status H5Reader::ReadHeader(hid_t root, hid_t weights, KerasH5File* out) {
  for (auto [name, field] : {std::pair{"keras_version", &out->keras_version},
                             std::pair{"backend", &out->backend}}) {
    ASSIGN_OR_RETURN(std::optional<std::string> value,
                     h5_.ReadOneString(root, name));
    if (!value && weights != root) {
      ASSIGN_OR_RETURN(value, h5_.ReadOneString(weights, name));
    }
    if (value) *field = std::move(*value);
  }
  for (auto [name, field] :
       {std::pair{"model_config", &out->model_config},
        std::pair{"training_config", &out->training_config}}) {
    ASSIGN_OR_RETURN(std::optional<std::string> text,
                     h5_.ReadOneString(root, name));
    if (!text) continue;
    ASSIGN_OR_RETURN(
        *field,
        ParseKerasJson(*text, absl::StrCat(path_, ": attribute ", name)));
  }
  return absl::OkStatus();
}

absl::Status H5Reader::Read(KerasH5File* out) {
  absl::StatusOr<H5Id> root = h5_.OpenGroup(h5_.file(), "/");
  const htri_t full_model =
      root.ok() ? H5Lexists(root->get(), "model_weights", H5P_DEFAULT) : -1;
  if (full_model < 0) {
    return absl::DataLossError(
        absl::StrCat(path_, ": unreadable root group", TakeHdf5Error()));
  }
  absl::StatusOr<H5Id> weights = h5_.OpenGroup(h5_.file(), full_model ? "model_weights" : "/");
  if (!weights.ok()) {
    return absl::DataLossError(absl::StrCat(path_, ": cannot open the weights group (",
                                            weights.status().message(), ")"));
  }
  RETURN_IF_ERROR(ReadHeader(root->get(), weights->get(), out));
  ASSIGN_OR_RETURN(auto layer_names,
                   ReadKerasList(weights->get(), "layer_names"));
  if (!layer_names) {
    return absl::NotFoundError(absl::StrCat(
        path_, ": not a Keras HDF5 file: ",
        full_model
            ? "/model_weights has no 'layer_names' attribute"
            : "no 'model_weights' group and no 'layer_names' attribute on /"));
  }
  for (const std::string& name : *layer_names) {
    ASSIGN_OR_RETURN(KerasH5Layer layer, ReadLayer(weights->get(), name));
    out->layers.push_back(std::move(layer));
  }
  return absl::OkStatus();
}

}  // namespace

const KerasH5Layer* KerasH5File::FindLayer(absl::string_view name) const {
  for (const KerasH5Layer& layer : layers) {
    if (layer.name == name) return &layer;
  }
  return nullptr;
}

absl::StatusOr<KerasH5File> ReadKerasH5(const std::string& path) {
  Hdf5Session session;
  ASSIGN_OR_RETURN(std::unique_ptr<Hdf5Reader> h5, Hdf5Reader::Open(path));
  KerasH5File file;
  file.path = path;
  RETURN_IF_ERROR(H5Reader(*h5).Read(&file));
  return file;
}

}  // namespace swapserve
