// Keras 3 `.weights.h5` files: every dataset by path; see keras_weights_h5.h.
#include "model/formats/keras_weights_h5.h"

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/formats/hdf5_reader.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

constexpr int kMaxDepth = 32;
constexpr size_t kMaxObjects = 100000;

class Walker {
 public:
  Walker(const Hdf5Reader& h5, const KerasWeightsWanted& wanted, KerasWeightsFile* out)
      : h5_(h5), wanted_(wanted), out_(out) {}

  // Visits `group` (at `prefix`, "" for the root) and everything below it.
  absl::Status Walk(hid_t group, const std::string& prefix, int depth) {
    if (depth > kMaxDepth) {
      return absl::InvalidArgumentError(absl::StrCat(
          h5_.path(), ": groups nested deeper than ", kMaxDepth, " levels at /", prefix));
    }
    ASSIGN_OR_RETURN(std::vector<Hdf5Link> links, h5_.ListGroup(group, kMaxObjects));
    for (const Hdf5Link& link : links) {
      if (++objects_ > kMaxObjects) {
        return absl::InvalidArgumentError(
            absl::StrCat(h5_.path(), ": more than ", kMaxObjects, " objects"));
      }
      const std::string key = prefix.empty() ? link.name : absl::StrCat(prefix, "/", link.name);
      if (link.is_group) {
        ASSIGN_OR_RETURN(H5Id child, h5_.OpenGroup(group, link.name));
        RETURN_IF_ERROR(Walk(child.get(), key, depth + 1));
      } else if (link.is_dataset) {
        ASSIGN_OR_RETURN(Hdf5DatasetInfo info, h5_.DescribeDataset(group, link.name));
        out_->variables[key] = {info.dtype, std::move(info.shape)};
        if (!wanted_ || wanted_(key)) {
          ASSIGN_OR_RETURN(out_->values[key], h5_.ReadDataset(group, link.name));
        }
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            h5_.path(), ": /", key, " is neither a group nor a dataset (Keras writes no links)"));
      }
    }
    return absl::OkStatus();
  }

 private:
  const Hdf5Reader& h5_;
  const KerasWeightsWanted& wanted_;
  KerasWeightsFile* out_;
  size_t objects_ = 0;
};

absl::StatusOr<KerasWeightsFile> Read(const Hdf5Reader& h5, const KerasWeightsWanted& wanted) {
  KerasWeightsFile file;
  file.path = h5.path();
  ASSIGN_OR_RETURN(H5Id root, h5.OpenGroup(h5.file(), "/"));
  // The legacy layout keeps its layer list in a root attribute; a Keras 3
  // file has none.
  for (const char* legacy : {"layer_names", "model_config"}) {
    ASSIGN_OR_RETURN(bool present, h5.HasAttr(root.get(), legacy));
    if (present) {
      return absl::InvalidArgumentError(absl::StrCat(
          h5.path(), ": a legacy Keras HDF5 file (root attribute '", legacy,
          "'), not Keras 3's weights layout"));
    }
  }
  Walker walker(h5, wanted, &file);
  RETURN_IF_ERROR(walker.Walk(root.get(), "", 0));
  return file;
}

}  // namespace

absl::StatusOr<KerasWeightsFile> ReadKerasWeightsH5(const std::string& path,
                                                    const KerasWeightsWanted& wanted) {
  Hdf5Session session;
  ASSIGN_OR_RETURN(std::unique_ptr<Hdf5Reader> h5, Hdf5Reader::Open(path));
  return Read(*h5, wanted);
}

absl::StatusOr<KerasWeightsFile> ReadKerasWeightsH5Image(const std::string& name,
                                                         absl::string_view image,
                                                         const KerasWeightsWanted& wanted) {
  Hdf5Session session;
  ASSIGN_OR_RETURN(std::unique_ptr<Hdf5Reader> h5, Hdf5Reader::OpenImage(name, image));
  return Read(*h5, wanted);
}

}  // namespace swapserve
