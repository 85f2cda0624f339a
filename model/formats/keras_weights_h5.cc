// Keras 3 `.weights.h5` files: every dataset by path; see keras_weights_h5.h.
#include "model/formats/keras_weights_h5.h"

#include <unistd.h>

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "model/formats/hdf5_reader.h"
#include "model/util/file.h"
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

namespace {

absl::StatusOr<hid_t> FileType(DataType dtype) {
  switch (dtype) {
    case tensorflow::DT_FLOAT: return H5T_IEEE_F32LE;
    case tensorflow::DT_DOUBLE: return H5T_IEEE_F64LE;
    case tensorflow::DT_INT32: return H5T_STD_I32LE;
    case tensorflow::DT_INT64: return H5T_STD_I64LE;
    default:
      return absl::UnimplementedError(absl::StrCat("cannot write ", DataTypeName(dtype),
                                                   " to a Keras weights file"));
  }
}

hid_t MemoryType(DataType dtype) {
  switch (dtype) {
    case tensorflow::DT_FLOAT: return H5T_NATIVE_FLOAT;
    case tensorflow::DT_DOUBLE: return H5T_NATIVE_DOUBLE;
    case tensorflow::DT_INT32: return H5T_NATIVE_INT32;
    default: return H5T_NATIVE_INT64;
  }
}

// Creates `path`'s groups from the root down ("a/b/c": a, a/b, a/b/c).
absl::Status EnsureGroups(hid_t file, const std::string& path, const std::string& where) {
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    prefix = prefix.empty() ? std::string(part) : absl::StrCat(prefix, "/", part);
    const htri_t exists = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    if (exists > 0) continue;
    H5Id group(H5Gcreate2(file, prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (exists < 0 || !group.valid()) {
      return absl::InternalError(
          absl::StrCat(where, ": cannot create group ", prefix, TakeHdf5Error()));
    }
  }
  return absl::OkStatus();
}

absl::Status Write(const std::string& path, const std::vector<std::string>& groups,
                   const std::vector<std::pair<std::string, Tensor>>& datasets) {
  H5Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) {
    return absl::InternalError(absl::StrCat(path, ": cannot create", TakeHdf5Error()));
  }
  for (const std::string& g : groups) RETURN_IF_ERROR(EnsureGroups(file.get(), g, path));
  for (const auto& [key, t] : datasets) {
    ASSIGN_OR_RETURN(hid_t file_type, FileType(t.dtype()));
    const size_t slash = key.rfind('/');
    if (slash != std::string::npos) {
      RETURN_IF_ERROR(EnsureGroups(file.get(), key.substr(0, slash), path));
    }
    std::vector<hsize_t> dims(t.shape().dims().begin(), t.shape().dims().end());
    H5Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
               H5Sclose);
    H5Id dataset(space.valid() ? H5Dcreate2(file.get(), key.c_str(), file_type, space.get(),
                                            H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                               : H5I_INVALID_HID,
                 H5Dclose);
    if (!dataset.valid() ||
        (t.num_elements() > 0 && H5Dwrite(dataset.get(), MemoryType(t.dtype()), H5S_ALL, H5S_ALL,
                                          H5P_DEFAULT, t.raw_data()) < 0)) {
      return absl::InternalError(absl::StrCat(path, ": cannot write ", key, TakeHdf5Error()));
    }
  }
  if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot flush", TakeHdf5Error()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteKerasWeightsH5(const std::string& path, const std::vector<std::string>& groups,
                                 const std::vector<std::pair<std::string, Tensor>>& datasets) {
  const std::string tmp = absl::StrCat(DirName(path), "/.", BaseName(path), ".tmp");
  absl::Status written;
  {
    Hdf5Session session;
    written = Write(tmp, groups, datasets);
  }  // the file is closed here
  if (!written.ok()) {
    ::unlink(tmp.c_str());
    return written;
  }
  return SyncAndRename(tmp, path);
}

}  // namespace swapserve
