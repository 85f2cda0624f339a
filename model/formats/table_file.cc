#include "model/formats/table_file.h"

#include <memory>
#include <new>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "leveldb/env.h"
#include "leveldb/iterator.h"
#include "leveldb/options.h"
#include "leveldb/table.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

// LevelDB's table footer: two varint64 block handles padded to 40 bytes, then the
// 8-byte magic number. TF's table writer uses the same layout and magic.
constexpr size_t kFooterSize = 48;
constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
constexpr size_t kBlockTrailerSize = 5;  // compression type + CRC32C

// A leveldb::RandomAccessFile over bytes already in memory.
class MemoryFile : public leveldb::RandomAccessFile {
 public:
  explicit MemoryFile(const std::string& bytes) : bytes_(bytes) {}
  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice* result,
                       char* /*scratch*/) const override {
    if (offset > bytes_.size()) {
      return leveldb::Status::IOError("read past the end of the table");
    }
    const size_t avail = bytes_.size() - offset;
    *result = leveldb::Slice(bytes_.data() + offset, n < avail ? n : avail);
    return leveldb::Status::OK();
  }

 private:
  const std::string& bytes_;
};

// Checks that the footer's magic is right and its two block handles lie inside
// the file, so that leveldb never allocates for a size the file cannot hold.
absl::Status CheckFooter(const std::string& path, const std::string& bytes) {
  if (bytes.size() < kFooterSize) {
    return absl::DataLossError(absl::StrCat(path, ": ", bytes.size(),
                                            " bytes is too short for a table"));
  }
  const auto* footer =
      reinterpret_cast<const uint8_t*>(bytes.data() + bytes.size() - kFooterSize);
  uint64_t magic = 0;
  for (int i = 7; i >= 0; --i) magic = (magic << 8) | footer[40 + i];
  if (magic != kTableMagic) {
    return absl::DataLossError(
        absl::StrCat(path, ": bad table magic number (not a bundle index?)"));
  }
  google::protobuf::io::CodedInputStream in(footer, 40);
  const uint64_t limit = bytes.size() - kFooterSize;
  for (const char* name : {"metaindex", "index"}) {
    uint64_t offset = 0, size = 0;
    if (!in.ReadVarint64(&offset) || !in.ReadVarint64(&size)) {
      return absl::DataLossError(
          absl::StrCat(path, ": corrupt ", name, " block handle in footer"));
    }
    if (offset > limit || size > limit || offset + size + kBlockTrailerSize > limit) {
      return absl::DataLossError(absl::StrCat(
          path, ": ", name, " block [", offset, ", +", size,
          ") lies outside the file (", bytes.size(), " bytes)"));
    }
  }
  return absl::OkStatus();
}

absl::Status FromLevelDb(const std::string& path, const leveldb::Status& s) {
  return absl::DataLossError(absl::StrCat(path, ": ", s.ToString()));
}

}  // namespace

absl::Status ReadTableFile(
    const std::string& path, uint64_t max_bytes,
    const std::function<absl::Status(absl::string_view key, absl::string_view value)>&
        visit) {
  std::string bytes;
  RETURN_IF_ERROR(ReadFileToString(path, max_bytes, &bytes));
  RETURN_IF_ERROR(CheckFooter(path, bytes));
  MemoryFile file(bytes);
  leveldb::Options options;
  options.paranoid_checks = true;  // verify the index block's checksum
  leveldb::Table* raw = nullptr;
  try {
    leveldb::Status s = leveldb::Table::Open(options, &file, bytes.size(), &raw);
    if (!s.ok()) return FromLevelDb(path, s);
    std::unique_ptr<leveldb::Table> table(raw);
    leveldb::ReadOptions read_options;
    read_options.verify_checksums = true;
    read_options.fill_cache = false;
    std::unique_ptr<leveldb::Iterator> it(table->NewIterator(read_options));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const leveldb::Slice k = it->key(), v = it->value();
      RETURN_IF_ERROR(visit(absl::string_view(k.data(), k.size()),
                            absl::string_view(v.data(), v.size())));
    }
    if (!it->status().ok()) return FromLevelDb(path, it->status());
  } catch (const std::bad_alloc&) {
    // Only a block handle forged with a valid checksum gets here.
    return absl::DataLossError(
        absl::StrCat(path, ": a block size in the table is impossibly large"));
  }
  return absl::OkStatus();
}

}  // namespace swapserve
