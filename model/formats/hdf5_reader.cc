// Defensive HDF5 reading shared by the Keras formats; see hdf5_reader.h.
#include "model/formats/hdf5_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

herr_t KeepMostSpecific(unsigned n, const H5E_error2_t* error, void* out) {
  if (n == 0 && error->desc != nullptr)
    *static_cast<std::string*>(out) = error->desc;
  return 0;
}

}  // namespace

std::string TakeHdf5Error() {
  std::string desc;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, KeepMostSpecific, &desc);
  H5Eclear2(H5E_DEFAULT);
  return desc.empty() ? "" : absl::StrCat(" (HDF5: ", desc, ")");
}

std::string Hdf5ObjectName(hid_t id) {
  const ssize_t size = H5Iget_name(id, nullptr, 0);
  if (size <= 0) return "?";
  std::string name(static_cast<size_t>(size) + 1, '\0');
  H5Iget_name(id, name.data(), name.size());
  name.resize(static_cast<size_t>(size));
  return name;
}

namespace {

// Uncompressed data must fit in the file; deflate, the only compressing filter
// a Keras file uses, cannot shrink data by more than about 1032:1.
constexpr uint64_t kMaxExpansionRatio = 1032;
constexpr char kHdf5Signature[8] = {'\x89', 'H',  'D',    'F',
                                    '\r',   '\n', '\x1a', '\n'};

// Refuses to follow external links: a model file must not read other files.
herr_t DenyExternalLink(const char*, const char*, const char*, const char*,
                        unsigned*, hid_t, void*) {
  return -1;
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

std::mutex& Hdf5Mutex() {
  static std::mutex* mutex = new std::mutex;
  return *mutex;
}

herr_t AddLink(hid_t group, const char* name, const H5L_info_t* info, void* out) {
  auto* links = static_cast<std::pair<std::vector<Hdf5Link>*, size_t>*>(out);
  if (links->first->size() >= links->second) return 1;  // stop: too many
  Hdf5Link link{name, false, false};
  if (info->type == H5L_TYPE_HARD) {
    H5O_info_t object;
    if (H5Oget_info_by_name2(group, name, &object, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
    link.is_group = object.type == H5O_TYPE_GROUP;
    link.is_dataset = object.type == H5O_TYPE_DATASET;
  }
  links->first->push_back(std::move(link));
  return 0;
}

}  // namespace

Hdf5Session::Hdf5Session() : lock_(Hdf5Mutex()) {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Hdf5Session::~Hdf5Session() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

Hdf5Reader::Hdf5Reader(std::string path, uint64_t size)
    : path_(std::move(path)),
      size_(size),
      gapl_(H5Pcreate(H5P_GROUP_ACCESS), H5Pclose),
      dapl_(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose) {}

absl::StatusOr<std::unique_ptr<Hdf5Reader>> Hdf5Reader::Open(const std::string& path) {
  ASSIGN_OR_RETURN(uint64_t size, RegularFileSize(path));
  if (!IsHdf5File(path)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an HDF5 file (no HDF5 signature)"));
  }
  std::unique_ptr<Hdf5Reader> reader(new Hdf5Reader(path, size));
  RETURN_IF_ERROR(reader->Init());
  reader->file_ = H5Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!reader->file_.valid()) {
    return absl::DataLossError(absl::StrCat(path, ": cannot open as HDF5", TakeHdf5Error()));
  }
  return reader;
}

absl::StatusOr<std::unique_ptr<Hdf5Reader>> Hdf5Reader::OpenImage(const std::string& name,
                                                                  absl::string_view image) {
  if (!IsHdf5Image(image)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not an HDF5 file (no HDF5 signature)"));
  }
  std::unique_ptr<Hdf5Reader> reader(new Hdf5Reader(name, image.size()));
  RETURN_IF_ERROR(reader->Init());
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // The core driver serves the file from memory; no backing store is written.
  if (!fapl.valid() || H5Pset_fapl_core(fapl.get(), 1 << 20, /*backing_store=*/0) < 0 ||
      H5Pset_file_image(fapl.get(), const_cast<char*>(image.data()), image.size()) < 0) {
    return absl::InternalError(absl::StrCat(name, ": cannot set up an in-memory HDF5 file",
                                            TakeHdf5Error()));
  }
  reader->file_ = H5Id(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!reader->file_.valid()) {
    return absl::DataLossError(absl::StrCat(name, ": cannot open as HDF5", TakeHdf5Error()));
  }
  return reader;
}

absl::StatusOr<H5Id> Hdf5Reader::OpenGroup(hid_t parent, const std::string& name) const {
  H5Id group(H5Gopen2(parent, name.c_str(), gapl_.get()), H5Gclose);
  if (!group.valid()) {
    const std::string detail = TakeHdf5Error();
    return absl::NotFoundError(absl::StrCat(path_, ": no group '", name, "' in ",
                                            Hdf5ObjectName(parent), detail));
  }
  return group;
}

absl::StatusOr<std::vector<Hdf5Link>> Hdf5Reader::ListGroup(hid_t group, size_t max_links) const {
  std::vector<Hdf5Link> links;
  std::pair<std::vector<Hdf5Link>*, size_t> out{&links, max_links};
  hsize_t index = 0;
  const herr_t result =
      H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, AddLink, &out);
  if (result < 0) {
    const std::string detail = TakeHdf5Error();
    return absl::DataLossError(absl::StrCat(path_, ": cannot list group ",
                                            Hdf5ObjectName(group), detail));
  }
  if (result > 0) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": group ", Hdf5ObjectName(group),
                                                   " has more than ", max_links, " members"));
  }
  return links;
}

absl::Status Hdf5Reader::Init() {
  if (!gapl_.valid() || !dapl_.valid() ||
      H5Pset_elink_cb(gapl_.get(), DenyExternalLink, nullptr) < 0 ||
      H5Pset_elink_cb(dapl_.get(), DenyExternalLink, nullptr) < 0) {
    return absl::InternalError(absl::StrCat(
        path_, ": cannot set up HDF5 access properties", TakeHdf5Error()));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Hdf5Reader::HasAttr(hid_t obj, const std::string& name) const {
  const htri_t exists = H5Aexists(obj, name.c_str());
  if (exists < 0) {
    const std::string detail = TakeHdf5Error();
    return absl::DataLossError(
        absl::StrCat(path_, ": cannot look up attribute '", name, "' of ",
                     Hdf5ObjectName(obj), detail));
  }
  return exists > 0;
}

absl::StatusOr<std::vector<std::string>> Hdf5Reader::ReadStrings(
    hid_t obj, const std::string& name) const {
  const std::string where =
      absl::StrCat(path_, ": attribute '", name, "' of ", Hdf5ObjectName(obj));
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
  if (static_cast<uint64_t>(count) > size_) {
    return absl::DataLossError(absl::StrCat(where, ": claims ", count,
                                            " strings in a file of ",
                                            size_, " bytes"));
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

absl::StatusOr<std::vector<std::string>> Hdf5Reader::ReadFixedStrings(
    hid_t attr, hid_t type, size_t count, const std::string& where) const {
  const size_t size = H5Tget_size(type);
  if (size == 0 || size > size_ / count) {
    return absl::DataLossError(
        absl::StrCat(where, ": ", count, " strings of ", size,
                     " bytes do not fit in a file of ", size_, " bytes"));
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

absl::StatusOr<std::optional<std::string>> Hdf5Reader::ReadOneString(
    hid_t obj, const std::string& name) const {
  ASSIGN_OR_RETURN(bool present, HasAttr(obj, name));
  if (!present) return std::nullopt;
  ASSIGN_OR_RETURN(std::vector<std::string> strings, ReadStrings(obj, name));
  if (strings.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": attribute '", name, "' of ", Hdf5ObjectName(obj),
                     ": expected one string, found ", strings.size()));
  }
  return std::move(strings[0]);
}

// Refuses data from other files, and more data than the file can hold.
absl::Status Hdf5Reader::CheckStorage(hid_t dataset, DataType dtype,
                                    const TensorShape& shape,
                                    const std::string& where) const {
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
                             ? size_ * kMaxExpansionRatio
                             : size_;
  uint64_t bytes = 0;
  const bool overflow = __builtin_mul_overflow(
      static_cast<uint64_t>(shape.num_elements()), DataTypeSize(dtype), &bytes);
  if (overflow || bytes > limit) {
    return absl::DataLossError(absl::StrCat(
        where, ": ", DataTypeName(dtype), shape.DebugString(), " (",
        overflow ? "over 2^64" : absl::StrCat(bytes),
        " bytes) cannot come from a file of ", size_, " bytes"));
  }
  return absl::OkStatus();
}

// An open dataset, its element type in memory and its shape, checked.
struct Hdf5Reader::Dataset {
  H5Id id;
  MemoryType memory;
  TensorShape shape;
  std::string where;
};

absl::StatusOr<Hdf5Reader::Dataset> Hdf5Reader::OpenDataset(hid_t parent,
                                                             const std::string& name) const {
  std::string where = absl::StrCat(path_, ": dataset '", name, "' of ", Hdf5ObjectName(parent));
  H5Id dataset(H5Dopen2(parent, name.c_str(), dapl_.get()), H5Dclose);
  if (!dataset.valid()) {
    return absl::NotFoundError(absl::StrCat(where, " is missing or not a dataset", TakeHdf5Error()));
  }
  H5Id type(H5Dget_type(dataset.get()), H5Tclose);
  H5Id space(H5Dget_space(dataset.get()), H5Sclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (!type.valid() || rank < 0 || H5Sget_simple_extent_type(space.get()) == H5S_NULL) {
    return absl::DataLossError(absl::StrCat(where, ": no readable shape", TakeHdf5Error()));
  }
  ASSIGN_OR_RETURN(MemoryType memory, MemoryTypeFor(type.get(), where));
  std::vector<hsize_t> h5_dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), h5_dims.data(), nullptr) < 0) {
    return absl::DataLossError(absl::StrCat(where, ": no readable shape", TakeHdf5Error()));
  }
  std::vector<int64_t> dims;
  for (hsize_t d : h5_dims) {
    if (d > static_cast<hsize_t>(std::numeric_limits<int64_t>::max())) {
      return absl::DataLossError(absl::StrCat(where, ": dimension ", d, " too large"));
    }
    dims.push_back(static_cast<int64_t>(d));
  }
  auto shape = TensorShape::Make(std::move(dims));
  if (!shape.ok()) return absl::DataLossError(absl::StrCat(where, ": ", shape.status().message()));
  RETURN_IF_ERROR(CheckStorage(dataset.get(), memory.dtype, *shape, where));
  return Dataset{std::move(dataset), std::move(memory), *std::move(shape), std::move(where)};
}

absl::StatusOr<Hdf5DatasetInfo> Hdf5Reader::DescribeDataset(hid_t parent,
                                                             const std::string& name) const {
  ASSIGN_OR_RETURN(Dataset dataset, OpenDataset(parent, name));
  return Hdf5DatasetInfo{dataset.memory.dtype, std::move(dataset.shape)};
}

absl::StatusOr<Tensor> Hdf5Reader::ReadDataset(hid_t parent, const std::string& name) const {
  ASSIGN_OR_RETURN(Dataset dataset, OpenDataset(parent, name));
  const int64_t elements = dataset.shape.num_elements();
  auto tensor = Tensor::Allocate(dataset.memory.dtype, std::move(dataset.shape));
  if (!tensor.ok()) {
    return absl::DataLossError(absl::StrCat(dataset.where, ": ", tensor.status().message()));
  }
  if (elements > 0 && H5Dread(dataset.id.get(), dataset.memory.type, H5S_ALL, H5S_ALL,
                              H5P_DEFAULT, tensor->raw_data()) < 0) {
    return absl::DataLossError(absl::StrCat(dataset.where, ": cannot read", TakeHdf5Error()));
  }
  return *std::move(tensor);
}

bool IsHdf5Image(absl::string_view bytes) {
  // The superblock sits at 0 or after a user block of 512 * 2^k bytes.
  for (size_t offset = 0; offset + sizeof(kHdf5Signature) <= bytes.size();
       offset = offset == 0 ? 512 : offset * 2) {
    if (std::memcmp(bytes.data() + offset, kHdf5Signature, sizeof(kHdf5Signature)) == 0) {
      return true;
    }
  }
  return false;
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

absl::Status CheckHdf5Complete(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return ErrnoError("stat", path);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  // The superblock: at 0 or after a user block of 512 * 2^k bytes.
  unsigned char sb[96];
  std::optional<uint64_t> at;
  for (uint64_t offset = 0; offset + sizeof(kHdf5Signature) <= size;
       offset = offset == 0 ? 512 : offset * 2) {
    if (::pread(fd, sb, sizeof(sb), static_cast<off_t>(offset)) < 24) break;
    if (std::memcmp(sb, kHdf5Signature, sizeof(kHdf5Signature)) == 0) {
      at = offset;
      break;
    }
  }
  const ssize_t got = at ? ::pread(fd, sb, sizeof(sb), static_cast<off_t>(*at)) : -1;
  ::close(fd);
  if (!at) return absl::InvalidArgumentError(absl::StrCat(path, ": not an HDF5 file"));
  const int version = sb[8];
  size_t offsets_size, eof_at, base_at;
  if (version == 0 || version == 1) {
    offsets_size = sb[13];
    base_at = version == 0 ? 24 : 28;
    eof_at = base_at + 2 * offsets_size;
  } else if (version == 2 || version == 3) {
    offsets_size = sb[9];
    base_at = 12;
    eof_at = base_at + 2 * offsets_size;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, ": HDF5 superblock version ", version));
  }
  if ((offsets_size != 4 && offsets_size != 8) || eof_at + offsets_size > static_cast<size_t>(got)) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": incomplete HDF5 superblock"));
  }
  auto read_address = [&](size_t pos) {
    uint64_t v = 0;
    for (size_t i = 0; i < offsets_size; ++i) v |= uint64_t{sb[pos + i]} << (8 * i);
    return v;
  };
  const uint64_t base = read_address(base_at), eof = read_address(eof_at);
  const uint64_t undefined = offsets_size == 8 ? ~uint64_t{0} : 0xFFFFFFFFu;
  if (eof == undefined || base + eof != size) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": incomplete HDF5 file (being written?): its superblock records an end of file at ",
        eof == undefined ? std::string("an undefined address") : absl::StrCat(base + eof),
        " bytes, the file has ", size));
  }
  return absl::OkStatus();
}

}  // namespace swapserve
