#include "model/formats/bundle_writer.h"

#include <unistd.h>

#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "leveldb/env.h"
#include "leveldb/options.h"
#include "leveldb/table_builder.h"
#include "model/formats/bundle_format.h"
#include "model/formats/crc32c.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

std::string TempName(absl::string_view path) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(path, ".tempstate", ::getpid(), "_", counter.fetch_add(1));
}

// TF's string-tensor layout (see bundle_format.h). Returns the bytes and sets
// `crc` to the entry's unmasked CRC32C.
std::string EncodeStrings(const Tensor& tensor, uint32_t* crc) {
  std::string bytes;
  uint32_t length_crc = 0;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    for (const std::string& s : tensor.strings()) {
      out.WriteVarint64(s.size());
      length_crc = ExtendCrcWithStringLength(length_crc, s.size());
    }
  }
  const uint32_t masked = crc32c::Mask(length_crc);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((masked >> (8 * i)) & 0xff));
  *crc = crc32c::Extend(length_crc, bytes.data() + bytes.size() - 4, 4);
  for (const std::string& s : tensor.strings()) {
    bytes += s;
    *crc = crc32c::Extend(*crc, s.data(), s.size());
  }
  return bytes;
}

}  // namespace

BundleWriter::BundleWriter(std::string prefix) : prefix_(std::move(prefix)) {
  data_tmp_ = TempName(BundleDataFilename(prefix_, 0, 1));
  data_ = std::fopen(data_tmp_.c_str(), "wb");
  if (data_ == nullptr) status_ = ErrnoError("create", data_tmp_);
}

BundleWriter::~BundleWriter() {
  if (data_ != nullptr) std::fclose(data_);
  if (!finished_) ::unlink(data_tmp_.c_str());
}

absl::Status BundleWriter::Append(const char* data, size_t n) {
  if (n > 0 && std::fwrite(data, 1, n, data_) != n) {
    return ErrnoError("write", data_tmp_);
  }
  offset_ += n;
  return absl::OkStatus();
}

absl::Status BundleWriter::Add(absl::string_view key, const Tensor& tensor) {
  RETURN_IF_ERROR(status_);
  if (finished_) return absl::FailedPreconditionError("Add after Finish");
  if (key == kBundleHeaderKey) {
    return absl::InvalidArgumentError("the empty key is reserved for the header");
  }
  if (entries_.count(key) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("key '", key, "' added twice"));
  }
  if (!IsSupportedDataType(tensor.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key '", key, "': cannot write dtype ", DataTypeName(tensor.dtype())));
  }
  tensorflow::BundleEntryProto entry;
  entry.set_dtype(tensor.dtype());
  tensor.shape().ToProto(entry.mutable_shape());
  entry.set_shard_id(0);
  entry.set_offset(offset_);
  std::string string_bytes;
  const char* bytes = tensor.raw_data();
  size_t size = tensor.num_bytes();
  uint32_t crc = 0;
  if (tensor.dtype() == tensorflow::DT_STRING) {
    string_bytes = EncodeStrings(tensor, &crc);
    bytes = string_bytes.data();
    size = string_bytes.size();
  } else {
    crc = crc32c::Value(bytes, size);
  }
  entry.set_size(size);
  entry.set_crc32c(crc32c::Mask(crc));
  status_ = Append(bytes, size);
  RETURN_IF_ERROR(status_);
  entries_.emplace(std::string(key), std::move(entry));
  return absl::OkStatus();
}

absl::Status BundleWriter::WriteIndex(const std::string& path) {
  leveldb::WritableFile* raw = nullptr;
  leveldb::Status s = leveldb::Env::Default()->NewWritableFile(path, &raw);
  if (!s.ok()) return absl::UnavailableError(s.ToString());
  std::unique_ptr<leveldb::WritableFile> file(raw);
  leveldb::Options options;
  options.compression = leveldb::kNoCompression;  // as TF writes bundle indexes
  options.block_size = kBundleIndexBlockSize;
  leveldb::TableBuilder builder(options, file.get());
  tensorflow::BundleHeaderProto header;
  header.set_num_shards(1);
  header.set_endianness(tensorflow::BundleHeaderProto::LITTLE);
  header.mutable_version()->set_producer(kBundleVersion);
  builder.Add(leveldb::Slice(), header.SerializeAsString());
  for (const auto& [key, entry] : entries_) {
    builder.Add(key, entry.SerializeAsString());
  }
  s = builder.Finish();
  if (s.ok()) s = file->Sync();
  if (s.ok()) s = file->Close();
  if (!s.ok()) return absl::UnavailableError(absl::StrCat(path, ": ", s.ToString()));
  return absl::OkStatus();
}

absl::Status BundleWriter::Finish() {
  RETURN_IF_ERROR(status_);
  if (finished_) return absl::FailedPreconditionError("Finish called twice");
  std::FILE* f = data_;
  data_ = nullptr;
  if (std::fclose(f) != 0) return ErrnoError("close", data_tmp_);
  RETURN_IF_ERROR(SyncAndRename(data_tmp_, BundleDataFilename(prefix_, 0, 1)));
  finished_ = true;
  const std::string index = BundleIndexFilename(prefix_);
  const std::string index_tmp = TempName(index);
  absl::Status s = WriteIndex(index_tmp);
  if (s.ok()) s = SyncAndRename(index_tmp, index);
  if (!s.ok()) ::unlink(index_tmp.c_str());
  return s;
}

}  // namespace swapserve
