#include "model/formats/keras_h5.h"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "model/formats/keras_json.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

// Uncompressed data must fit in the file; deflate, the only compressing filter
// a Keras file uses, cannot shrink data by more than about 1032:1.
constexpr uint64_t kMaxExpansionRatio = 1032;
constexpr char kHdf5Signature[8] = {'\x89', 'H',  'D',    'F',
                                    '\r',   '\n', '\x1a', '\n'};

std::mutex& Hdf5Mutex() {
  static std::mutex* mutex = new std::mutex;
  return *mutex;
}

// Owns one HDF5 identifier and closes it with the matching H5?close.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;  // Holds nothing.
  H5Id(hid_t id, Closer close) : id_(id), close_(close) {}
  ~H5Id() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
  }
  H5Id(H5Id&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  H5Id& operator=(H5Id&& other) noexcept {
    std::swap(id_, other.id_);
    std::swap(close_, other.close_);
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;

  bool valid() const { return id_ >= 0; }
  hid_t get() const { return id_; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Turns off HDF5's printing of errors to stderr on this thread while alive (the
// reader reports them in statuses instead) and restores the previous handler.
class ScopedHdf5Silence {
 public:
  ScopedHdf5Silence() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~ScopedHdf5Silence() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  ScopedHdf5Silence(const ScopedHdf5Silence&) = delete;
  ScopedHdf5Silence& operator=(const ScopedHdf5Silence&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

herr_t KeepMostSpecific(unsigned n, const H5E_error2_t* error, void* out) {
  if (n == 0 && error->desc != nullptr)
    *static_cast<std::string*>(out) = error->desc;
  return 0;
}

// " (HDF5: <most specific message>)" for the call that just failed, or "".
// Every HDF5 API call clears the stack, so this must run right after the
// failing call.
std::string TakeHdf5Error() {
  std::string desc;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, KeepMostSpecific, &desc);
  H5Eclear2(H5E_DEFAULT);
  return desc.empty() ? "" : absl::StrCat(" (HDF5: ", desc, ")");
}

// Refuses to follow external links: a model file must not read other files.
herr_t DenyExternalLink(const char*, const char*, const char*, const char*,
                        unsigned*, hid_t, void*) {
  return -1;
}

std::string ObjectName(hid_t id) {
  const ssize_t size = H5Iget_name(id, nullptr, 0);
  if (size <= 0) return "?";
  std::string name(static_cast<size_t>(size) + 1, '\0');
  H5Iget_name(id, name.data(), name.size());
  name.resize(static_cast<size_t>(size));
  return name;
}

std::string TypeDescription(hid_t type) {
  const char* names[] = {"integer",  "float",  "time",     "string",
                         "bitfield", "opaque", "compound", "reference",
                         "enum",     "vlen",   "array"};
  const H5T_class_t cls = H5Tget_class(type);
  const char* name = (cls >= 0 && cls < H5T_NCLASSES) ? names[cls] : "unknown";
  return absl::StrCat(name, " of ", H5Tget_size(type), " bytes");
}

absl::StatusOr<uint64_t> RegularFileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  return static_cast<uint64_t>(st.st_size);
}

// The memory type a dataset is read into, and the Tensor dtype it fills.
struct MemoryType {
  DataType dtype;
  hid_t type;  // A predefined type, or the one `owner` holds.
  H5Id owner;  // Holds the types made here; empty for predefined ones.
};

MemoryType Native(DataType dtype, hid_t type) { return {dtype, type, H5Id()}; }

// IEEE binary16 in native byte order; HDF5 1.10 has no predefined half type.
std::optional<MemoryType> HalfType() {
  MemoryType half{tensorflow::DT_HALF, H5Tcopy(H5T_NATIVE_FLOAT), H5Id()};
  half.owner = H5Id(half.type, H5Tclose);
  if (half.type < 0 || H5Tset_fields(half.type, 15, 10, 5, 0, 10) < 0 ||
      H5Tset_size(half.type, 2) < 0 || H5Tset_ebias(half.type, 15) < 0) {
    return std::nullopt;
  }
  return half;
}

std::optional<MemoryType> IntegerType(bool is_signed, size_t size) {
  switch (size) {
    case 1:
      return is_signed ? Native(tensorflow::DT_INT8, H5T_NATIVE_INT8)
                       : Native(tensorflow::DT_UINT8, H5T_NATIVE_UINT8);
    case 2:
      return is_signed ? Native(tensorflow::DT_INT16, H5T_NATIVE_INT16)
                       : Native(tensorflow::DT_UINT16, H5T_NATIVE_UINT16);
    case 4:
      return is_signed ? Native(tensorflow::DT_INT32, H5T_NATIVE_INT32)
                       : Native(tensorflow::DT_UINT32, H5T_NATIVE_UINT32);
    case 8:
      return is_signed ? Native(tensorflow::DT_INT64, H5T_NATIVE_INT64)
                       : Native(tensorflow::DT_UINT64, H5T_NATIVE_UINT64);
    default:
      return std::nullopt;
  }
}

// HDF5 converts the file's byte order (and float layout) to the native one on
// read.
absl::StatusOr<MemoryType> MemoryTypeFor(hid_t file_type,
                                         const std::string& where) {
  const H5T_class_t cls = H5Tget_class(file_type);
  const size_t size = H5Tget_size(file_type);
  std::optional<MemoryType> memory;
  if (cls == H5T_FLOAT && size == 4) {
    memory = Native(tensorflow::DT_FLOAT, H5T_NATIVE_FLOAT);
  } else if (cls == H5T_FLOAT && size == 8) {
    memory = Native(tensorflow::DT_DOUBLE, H5T_NATIVE_DOUBLE);
  } else if (cls == H5T_FLOAT && size == 2) {
    size_t spos, epos, esize, mpos, msize;
    if (H5Tget_fields(file_type, &spos, &epos, &esize, &mpos, &msize) >= 0 &&
        esize == 5 && msize == 10) {
      memory = HalfType();
    }
  } else if (cls == H5T_INTEGER) {
    memory = IntegerType(H5Tget_sign(file_type) == H5T_SGN_2, size);
  }
  if (!memory) {
    return absl::UnimplementedError(absl::StrCat(
        where, ": unsupported element type ", TypeDescription(file_type),
        " (expected IEEE float16/32/64 or an 8 to 64 bit integer)"));
  }
  return *std::move(memory);
}

// Reads one file; all HDF5 handles it opens are closed before each method
// returns.
class H5Reader {
 public:
  H5Reader(std::string path, uint64_t file_size)
      : path_(std::move(path)),
        file_size_(file_size),
        gapl_(H5Pcreate(H5P_GROUP_ACCESS), H5Pclose),
        dapl_(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose) {}

  absl::Status Read(KerasH5File* out);

 private:
  absl::Status Init();
  absl::Status ReadHeader(hid_t root, hid_t weights, KerasH5File* out);
  absl::StatusOr<KerasH5Layer> ReadLayer(hid_t weights,
                                         const std::string& name);
  absl::StatusOr<Tensor> ReadDataset(hid_t layer, const std::string& name);
  absl::Status CheckStorage(hid_t dataset, DataType dtype,
                            const TensorShape& shape, const std::string& where);

  absl::StatusOr<bool> HasAttr(hid_t obj, const std::string& name);
  absl::StatusOr<std::vector<std::string>> ReadStrings(hid_t obj,
                                                       const std::string& name);
  absl::StatusOr<std::vector<std::string>> ReadFixedStrings(
      hid_t attr, hid_t type, size_t count, const std::string& where);
  absl::StatusOr<std::optional<std::vector<std::string>>> ReadKerasList(
      hid_t obj, const std::string& name);
  absl::StatusOr<std::optional<std::string>> ReadOneString(
      hid_t obj, const std::string& name);

  const std::string path_;
  const uint64_t file_size_;
  H5Id gapl_;
  H5Id dapl_;
};

absl::Status H5Reader::Init() {
  if (!gapl_.valid() || !dapl_.valid() ||
      H5Pset_elink_cb(gapl_.get(), DenyExternalLink, nullptr) < 0 ||
      H5Pset_elink_cb(dapl_.get(), DenyExternalLink, nullptr) < 0) {
    return absl::InternalError(absl::StrCat(
        path_, ": cannot set up HDF5 access properties", TakeHdf5Error()));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> H5Reader::HasAttr(hid_t obj, const std::string& name) {
  const htri_t exists = H5Aexists(obj, name.c_str());
  if (exists < 0) {
    const std::string detail = TakeHdf5Error();
    return absl::DataLossError(
        absl::StrCat(path_, ": cannot look up attribute '", name, "' of ",
                     ObjectName(obj), detail));
  }
  return exists > 0;
}

absl::StatusOr<std::vector<std::string>> H5Reader::ReadStrings(
    hid_t obj, const std::string& name) {
  const std::string where =
      absl::StrCat(path_, ": attribute '", name, "' of ", ObjectName(obj));
  H5Id attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) {
    return absl::DataLossError(
        absl::StrCat(where, ": cannot open", TakeHdf5Error()));
  }
  H5Id type(H5Aget_type(attr.get()), H5Tclose);
  H5Id space(H5Aget_space(attr.get()), H5Sclose);
  const hssize_t count =
      space.valid() ? H5Sget_simple_extent_npoints(space.get()) : -1;
  if (!type.valid() || count < 0) {
    return absl::DataLossError(
        absl::StrCat(where, ": unreadable", TakeHdf5Error()));
  }
  // Keras writes an empty list through numpy, which makes it an empty float64
  // array.
  if (count == 0) return std::vector<std::string>();
  if (H5Tget_class(type.get()) != H5T_STRING) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": holds ", TypeDescription(type.get()), ", expected strings"));
  }
  if (static_cast<uint64_t>(count) > file_size_) {
    return absl::DataLossError(absl::StrCat(where, ": claims ", count,
                                            " strings in a file of ",
                                            file_size_, " bytes"));
  }
  const htri_t is_vlen = H5Tis_variable_str(type.get());
  if (is_vlen == 0) {
    return ReadFixedStrings(attr.get(), type.get(), static_cast<size_t>(count),
                            where);
  }
  H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
  if (is_vlen < 0 || !mem.valid() || H5Tset_size(mem.get(), H5T_VARIABLE) < 0 ||
      H5Tset_cset(mem.get(), H5Tget_cset(type.get())) < 0) {
    return absl::DataLossError(
        absl::StrCat(where, ": unreadable", TakeHdf5Error()));
  }
  std::vector<char*> pointers(static_cast<size_t>(count), nullptr);
  if (H5Aread(attr.get(), mem.get(), pointers.data()) < 0) {
    return absl::DataLossError(
        absl::StrCat(where, ": cannot read", TakeHdf5Error()));
  }
  std::vector<std::string> strings;
  strings.reserve(pointers.size());
  for (const char* p : pointers) strings.emplace_back(p == nullptr ? "" : p);
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(mem.get(), space.get(), H5P_DEFAULT, pointers.data());
#else
  H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, pointers.data());
#endif
  return strings;
}

absl::StatusOr<std::vector<std::string>> H5Reader::ReadFixedStrings(
    hid_t attr, hid_t type, size_t count, const std::string& where) {
  const size_t size = H5Tget_size(type);
  if (size == 0 || size > file_size_ / count) {
    return absl::DataLossError(
        absl::StrCat(where, ": ", count, " strings of ", size,
                     " bytes do not fit in a file of ", file_size_, " bytes"));
  }
  std::string bytes(count * size, '\0');
  H5Id mem(H5Tcopy(type), H5Tclose);
  if (!mem.valid() || H5Aread(attr, mem.get(), bytes.data()) < 0) {
    return absl::DataLossError(
        absl::StrCat(where, ": cannot read", TakeHdf5Error()));
  }
  const bool space_padded = H5Tget_strpad(type) == H5T_STR_SPACEPAD;
  std::vector<std::string> strings;
  for (size_t i = 0; i < count; ++i) {
    std::string s = bytes.substr(i * size, size);
    s.resize(std::strlen(s.c_str()));
    if (space_padded) s.erase(s.find_last_not_of(' ') + 1);
    strings.push_back(std::move(s));
  }
  return strings;
}

// Keras splits attributes over 64 KB into NAME0, NAME1, ...; nullopt when
// absent.
absl::StatusOr<std::optional<std::vector<std::string>>> H5Reader::ReadKerasList(
    hid_t obj, const std::string& name) {
  ASSIGN_OR_RETURN(bool whole, HasAttr(obj, name));
  if (whole) return ReadStrings(obj, name);
  std::optional<std::vector<std::string>> all;
  for (int chunk = 0;; ++chunk) {
    const std::string chunk_name = absl::StrCat(name, chunk);
    ASSIGN_OR_RETURN(bool present, HasAttr(obj, chunk_name));
    if (!present) break;
    ASSIGN_OR_RETURN(std::vector<std::string> part,
                     ReadStrings(obj, chunk_name));
    if (!all) all.emplace();
    all->insert(all->end(), part.begin(), part.end());
  }
  return all;
}

absl::StatusOr<std::optional<std::string>> H5Reader::ReadOneString(
    hid_t obj, const std::string& name) {
  ASSIGN_OR_RETURN(bool present, HasAttr(obj, name));
  if (!present) return std::nullopt;
  ASSIGN_OR_RETURN(std::vector<std::string> strings, ReadStrings(obj, name));
  if (strings.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": attribute '", name, "' of ", ObjectName(obj),
                     ": expected one string, found ", strings.size()));
  }
  return std::move(strings[0]);
}

// Refuses data from other files, and more data than the file can hold.
absl::Status H5Reader::CheckStorage(hid_t dataset, DataType dtype,
                                    const TensorShape& shape,
                                    const std::string& where) {
  H5Id dcpl(H5Dget_create_plist(dataset), H5Pclose);
  if (!dcpl.valid()) {
    return absl::DataLossError(
        absl::StrCat(where, ": unreadable", TakeHdf5Error()));
  }
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_VIRTUAL || H5Pget_external_count(dcpl.get()) != 0) {
    return absl::UnimplementedError(
        absl::StrCat(where, ": data stored outside the file is not supported"));
  }
  const uint64_t limit = H5Pget_nfilters(dcpl.get()) > 0
                             ? file_size_ * kMaxExpansionRatio
                             : file_size_;
  uint64_t bytes = 0;
  const bool overflow = __builtin_mul_overflow(
      static_cast<uint64_t>(shape.num_elements()), DataTypeSize(dtype), &bytes);
  if (overflow || bytes > limit) {
    return absl::DataLossError(absl::StrCat(
        where, ": ", DataTypeName(dtype), shape.DebugString(), " (",
        overflow ? "over 2^64" : absl::StrCat(bytes),
        " bytes) cannot come from a file of ", file_size_, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> H5Reader::ReadDataset(hid_t layer,
                                             const std::string& name) {
  const std::string where =
      absl::StrCat(path_, ": dataset '", name, "' of ", ObjectName(layer));
  H5Id dataset(H5Dopen2(layer, name.c_str(), dapl_.get()), H5Dclose);
  if (!dataset.valid()) {
    return absl::NotFoundError(absl::StrCat(
        where, ", named in weight_names, is missing or not a dataset",
        TakeHdf5Error()));
  }
  H5Id type(H5Dget_type(dataset.get()), H5Tclose);
  H5Id space(H5Dget_space(dataset.get()), H5Sclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (!type.valid() || rank < 0 ||
      H5Sget_simple_extent_type(space.get()) == H5S_NULL) {
    return absl::DataLossError(
        absl::StrCat(where, ": no readable shape", TakeHdf5Error()));
  }
  ASSIGN_OR_RETURN(MemoryType memory, MemoryTypeFor(type.get(), where));
  std::vector<hsize_t> h5_dims(static_cast<size_t>(rank));
  if (rank > 0 &&
      H5Sget_simple_extent_dims(space.get(), h5_dims.data(), nullptr) < 0) {
    return absl::DataLossError(
        absl::StrCat(where, ": no readable shape", TakeHdf5Error()));
  }
  std::vector<int64_t> dims;
  for (hsize_t d : h5_dims) {
    if (d > static_cast<hsize_t>(std::numeric_limits<int64_t>::max())) {
      return absl::DataLossError(
          absl::StrCat(where, ": dimension ", d, " too large"));
    }
    dims.push_back(static_cast<int64_t>(d));
  }
  auto shape = TensorShape::Make(std::move(dims));
  if (!shape.ok()) {
    return absl::DataLossError(
        absl::StrCat(where, ": ", shape.status().message()));
  }
  RETURN_IF_ERROR(CheckStorage(dataset.get(), memory.dtype, *shape, where));
  const int64_t elements = shape->num_elements();
  auto tensor = Tensor::Allocate(memory.dtype, *std::move(shape));
  if (!tensor.ok()) {
    return absl::DataLossError(
        absl::StrCat(where, ": ", tensor.status().message()));
  }
  if (elements > 0 && H5Dread(dataset.get(), memory.type, H5S_ALL, H5S_ALL,
                              H5P_DEFAULT, tensor->raw_data()) < 0) {
    return absl::DataLossError(
        absl::StrCat(where, ": cannot read", TakeHdf5Error()));
  }
  return *std::move(tensor);
}

absl::StatusOr<KerasH5Layer> H5Reader::ReadLayer(hid_t weights,
                                                 const std::string& name) {
  const std::string weights_name = ObjectName(weights);
  H5Id group(H5Gopen2(weights, name.c_str(), gapl_.get()), H5Gclose);
  if (!group.valid()) {
    return absl::NotFoundError(
        absl::StrCat(path_, ": layer '", name, "' named in layer_names of ",
                     weights_name, " has no group", TakeHdf5Error()));
  }
  ASSIGN_OR_RETURN(auto weight_names,
                   ReadKerasList(group.get(), "weight_names"));
  if (!weight_names) {
    return absl::NotFoundError(
        absl::StrCat(path_, ": layer group ", ObjectName(group.get()),
                     " has no 'weight_names' attribute"));
  }
  KerasH5Layer layer{name, {}};
  for (std::string& weight_name : *weight_names) {
    ASSIGN_OR_RETURN(Tensor value, ReadDataset(group.get(), weight_name));
    layer.weights.push_back({std::move(weight_name), std::move(value)});
  }
  return layer;
}

absl::Status H5Reader::ReadHeader(hid_t root, hid_t weights, KerasH5File* out) {
  for (auto [name, field] : {std::pair{"keras_version", &out->keras_version},
                             std::pair{"backend", &out->backend}}) {
    ASSIGN_OR_RETURN(std::optional<std::string> value,
                     ReadOneString(root, name));
    if (!value && weights != root) {
      ASSIGN_OR_RETURN(value, ReadOneString(weights, name));
    }
    if (value) *field = std::move(*value);
  }
  for (auto [name, field] :
       {std::pair{"model_config", &out->model_config},
        std::pair{"training_config", &out->training_config}}) {
    ASSIGN_OR_RETURN(std::optional<std::string> text,
                     ReadOneString(root, name));
    if (!text) continue;
    ASSIGN_OR_RETURN(
        *field,
        ParseKerasJson(*text, absl::StrCat(path_, ": attribute ", name)));
  }
  return absl::OkStatus();
}

absl::Status H5Reader::Read(KerasH5File* out) {
  RETURN_IF_ERROR(Init());
  H5Id file(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) {
    return absl::DataLossError(
        absl::StrCat(path_, ": cannot open as HDF5", TakeHdf5Error()));
  }
  H5Id root(H5Gopen2(file.get(), "/", gapl_.get()), H5Gclose);
  const htri_t full_model =
      root.valid() ? H5Lexists(root.get(), "model_weights", H5P_DEFAULT) : -1;
  if (full_model < 0) {
    return absl::DataLossError(
        absl::StrCat(path_, ": unreadable root group", TakeHdf5Error()));
  }
  H5Id weights(full_model ? H5Gopen2(root.get(), "model_weights", gapl_.get())
                          : H5Gopen2(file.get(), "/", gapl_.get()),
               H5Gclose);
  if (!weights.valid()) {
    return absl::DataLossError(absl::StrCat(
        path_, ": cannot open the weights group", TakeHdf5Error()));
  }
  RETURN_IF_ERROR(ReadHeader(root.get(), weights.get(), out));
  ASSIGN_OR_RETURN(auto layer_names,
                   ReadKerasList(weights.get(), "layer_names"));
  if (!layer_names) {
    return absl::NotFoundError(absl::StrCat(
        path_, ": not a Keras HDF5 file: ",
        full_model
            ? "/model_weights has no 'layer_names' attribute"
            : "no 'model_weights' group and no 'layer_names' attribute on /"));
  }
  for (const std::string& name : *layer_names) {
    ASSIGN_OR_RETURN(KerasH5Layer layer, ReadLayer(weights.get(), name));
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

bool IsHdf5File(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool found = false;
  char magic[sizeof(kHdf5Signature)];
  // The superblock sits at 0 or after a user block of 512 * 2^k bytes.
  for (off_t offset = 0; !found; offset = offset == 0 ? 512 : offset * 2) {
    if (::pread(fd, magic, sizeof(magic), offset) != sizeof(magic)) break;
    found = std::memcmp(magic, kHdf5Signature, sizeof(magic)) == 0;
  }
  ::close(fd);
  return found;
}

absl::StatusOr<KerasH5File> ReadKerasH5(const std::string& path) {
  ASSIGN_OR_RETURN(uint64_t file_size, RegularFileSize(path));
  if (!IsHdf5File(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not an HDF5 file (no HDF5 signature)"));
  }
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  ScopedHdf5Silence silence;
  KerasH5File file;
  file.path = path;
  H5Reader reader(path, file_size);
  RETURN_IF_ERROR(reader.Read(&file));
  return file;
}

}  // namespace swapserve
