#include "model/formats/bundle_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "model/formats/bundle_format.h"
#include "model/formats/crc32c.h"
#include "model/formats/table_file.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

// Checks an entry's metadata and returns why it cannot be read, or OK.
absl::Status CheckEntry(const tensorflow::BundleEntryProto& proto,
                        BundleEntry* entry) {
  if (proto.slices_size() > 0) {
    return absl::UnimplementedError(
        "sliced (partitioned) variables are not supported");
  }
  if (!IsSupportedDataType(entry->dtype)) {
    return absl::UnimplementedError(
        absl::StrCat("unsupported dtype ", DataTypeName(entry->dtype)));
  }
  absl::StatusOr<TensorShape> shape = TensorShape::FromProto(proto.shape());
  if (!shape.ok()) return shape.status();
  entry->shape = *std::move(shape);
  if (entry->offset < 0 || entry->size < 0) {
    return absl::DataLossError(absl::StrCat("negative offset ", entry->offset,
                                            " or size ", entry->size));
  }
  if (entry->dtype == tensorflow::DT_STRING) {
    // Each element needs at least a one-byte length, plus the 4-byte length CRC.
    if (entry->shape.num_elements() > entry->size) {
      return absl::DataLossError(absl::StrCat(
          "string tensor of ", entry->shape.num_elements(), " elements in ",
          entry->size, " bytes"));
    }
    return absl::OkStatus();
  }
  const uint64_t elem = DataTypeSize(entry->dtype);
  const uint64_t n = entry->shape.num_elements();
  if (n > static_cast<uint64_t>(INT64_MAX) / elem ||
      n * elem != static_cast<uint64_t>(entry->size)) {
    return absl::DataLossError(absl::StrCat(
        "size ", entry->size, " bytes does not match ", DataTypeName(entry->dtype),
        entry->shape.DebugString()));
  }
  return absl::OkStatus();
}

// Decodes TF's string-tensor layout (see bundle_format.h) into `out` and returns
// the entry's unmasked CRC32C as TF computes it.
absl::StatusOr<uint32_t> DecodeStrings(absl::string_view bytes, Tensor* out) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  std::vector<uint64_t> lengths(out->num_elements());
  uint64_t total = 0;
  uint32_t crc = 0;
  for (uint64_t& len : lengths) {
    if (!in.ReadVarint64(&len)) return absl::DataLossError("truncated string lengths");
    if (len > bytes.size() || total + len > bytes.size()) {
      return absl::DataLossError("string lengths exceed the tensor's bytes");
    }
    total += len;
    crc = ExtendCrcWithStringLength(crc, len);
  }
  size_t pos = in.CurrentPosition();
  uint32_t stored = 0;
  if (!in.ReadLittleEndian32(&stored)) {
    return absl::DataLossError("truncated string length checksum");
  }
  if (crc32c::Mask(crc) != stored) {
    return absl::DataLossError("string length checksum mismatch");
  }
  crc = crc32c::Extend(crc, bytes.data() + pos, 4);
  pos += 4;
  if (pos + total != bytes.size()) {
    return absl::DataLossError(absl::StrCat("string bytes total ", total,
                                            " does not fill the entry's ",
                                            bytes.size() - pos, " bytes"));
  }
  for (size_t i = 0; i < lengths.size(); ++i) {
    out->strings()[i].assign(bytes.data() + pos, lengths[i]);
    crc = crc32c::Extend(crc, bytes.data() + pos, lengths[i]);
    pos += lengths[i];
  }
  return crc;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BundleReader>> BundleReader::Open(std::string prefix) {
  std::unique_ptr<BundleReader> reader(new BundleReader(std::move(prefix)));
  RETURN_IF_ERROR(reader->ReadIndex());
  reader->OpenShards();
  return reader;
}

BundleReader::~BundleReader() {
  for (Shard& shard : shards_) {
    if (shard.fd >= 0) ::close(shard.fd);
  }
}

absl::Status BundleReader::ReadIndex() {
  const std::string path = BundleIndexFilename(prefix_);
  bool saw_header = false;
  RETURN_IF_ERROR(ReadTableFile(
      path, kMaxIndexBytes,
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        if (key == kBundleHeaderKey) {
          saw_header = true;
          if (!header_.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            return absl::DataLossError("unparsable BundleHeaderProto");
          }
          return absl::OkStatus();
        }
        if (!saw_header) return absl::DataLossError("entry before the header");
        return AddEntry(key, value);
      }));
  if (!saw_header) {
    return absl::DataLossError(absl::StrCat(path, ": no bundle header"));
  }
  if (header_.endianness() != tensorflow::BundleHeaderProto::LITTLE) {
    return absl::UnimplementedError(
        absl::StrCat(path, ": big-endian bundles are not supported"));
  }
  if (header_.version().min_consumer() > kBundleVersion) {
    return absl::UnimplementedError(absl::StrCat(
        path, ": bundle needs format version ", header_.version().min_consumer(),
        ", this reader supports ", kBundleVersion));
  }
  if (header_.num_shards() <= 0 || header_.num_shards() > 100000) {
    return absl::DataLossError(
        absl::StrCat(path, ": implausible num_shards ", header_.num_shards()));
  }
  for (BundleEntry& entry : entries_) {
    if (entry.problem.ok() &&
        (entry.shard_id < 0 || entry.shard_id >= header_.num_shards())) {
      entry.problem = absl::DataLossError(absl::StrCat(
          "shard_id ", entry.shard_id, " outside [0, ", header_.num_shards(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status BundleReader::AddEntry(absl::string_view key, absl::string_view value) {
  tensorflow::BundleEntryProto proto;
  if (!proto.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat("unparsable BundleEntryProto for '",
                                            key, "'"));
  }
  BundleEntry entry;
  entry.key = std::string(key);
  entry.dtype = proto.dtype();
  entry.shard_id = proto.shard_id();
  entry.offset = proto.offset();
  entry.size = proto.size();
  entry.masked_crc32c = proto.crc32c();
  // shard_id is checked by ReadIndex once the header's num_shards is known.
  entry.problem = CheckEntry(proto, &entry);
  entries_.push_back(std::move(entry));
  return absl::OkStatus();
}

void BundleReader::OpenShards() {
  const int n = header_.num_shards();
  shards_.resize(n);
  for (int i = 0; i < n; ++i) {
    Shard& shard = shards_[i];
    shard.path = BundleDataFilename(prefix_, i, n);
    shard.fd = ::open(shard.path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (shard.fd < 0) {
      shard.status = ErrnoError("missing data shard", shard.path);
    } else if (::fstat(shard.fd, &st) != 0) {
      shard.status = ErrnoError("stat data shard", shard.path);
    } else {
      shard.size = st.st_size;
    }
  }
}

const BundleEntry* BundleReader::Find(absl::string_view key) const {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), key,
      [](const BundleEntry& e, absl::string_view k) { return e.key < k; });
  if (it == entries_.end() || it->key != key) return nullptr;
  return &*it;
}

absl::Status BundleReader::ShardStatus(int shard) const {
  if (shard < 0 || shard >= static_cast<int>(shards_.size())) {
    return absl::OutOfRangeError(absl::StrCat("no shard ", shard));
  }
  return shards_[shard].status;
}

absl::StatusOr<Tensor> BundleReader::Read(absl::string_view key) const {
  const BundleEntry* entry = Find(key);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("key '", key, "' not found in bundle ", prefix_));
  }
  return Read(*entry);
}

absl::StatusOr<Tensor> BundleReader::Read(const BundleEntry& entry) const {
  const auto context = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("bundle ", prefix_, ", key '",
                                               entry.key, "': ", s.message()));
  };
  if (!entry.problem.ok()) return context(entry.problem);
  const Shard& shard = shards_[entry.shard_id];
  if (!shard.status.ok()) return context(shard.status);
  const uint64_t end = static_cast<uint64_t>(entry.offset) + entry.size;
  if (end > shard.size) {
    return context(absl::DataLossError(absl::StrCat(
        "bytes [", entry.offset, ", ", end, ") lie outside ", shard.path, " (",
        shard.size, " bytes)")));
  }
  ASSIGN_OR_RETURN(Tensor tensor, Tensor::Allocate(entry.dtype, entry.shape));
  std::string string_bytes;
  char* dst = tensor.raw_data();
  if (entry.dtype == tensorflow::DT_STRING) {
    string_bytes.resize(entry.size);
    dst = string_bytes.data();
  }
  size_t done = 0;
  while (done < static_cast<size_t>(entry.size)) {
    const ssize_t n = ::pread(shard.fd, dst + done, entry.size - done,
                              entry.offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return context(ErrnoError("read", shard.path));
    if (n == 0) {
      return context(absl::DataLossError(
          absl::StrCat(shard.path, " ended early (truncated while reading?)")));
    }
    done += n;
  }
  uint32_t crc = 0;
  if (entry.dtype == tensorflow::DT_STRING) {
    absl::StatusOr<uint32_t> decoded = DecodeStrings(string_bytes, &tensor);
    if (!decoded.ok()) return context(decoded.status());
    crc = *decoded;
  } else {
    crc = crc32c::Value(dst, entry.size);
  }
  if (crc32c::Mask(crc) != entry.masked_crc32c) {
    return context(absl::DataLossError(absl::StrFormat(
        "CRC32C mismatch in %s at offset %d: index says %08x, data gives %08x",
        shard.path, entry.offset, entry.masked_crc32c, crc32c::Mask(crc))));
  }
  return tensor;
}

}  // namespace swapserve
