#include "trainer/idx_reader.h"

#include <zlib.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "model/util/file.h"

namespace swapserve::trainer {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension
constexpr uint32_t kMaxItems = 10000000;
constexpr uint32_t kMaxSide = 4096;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

// gzread reads plain files too, so one path serves both.
absl::Status ReadExactly(gzFile f, void* out, size_t n, const std::string& path) {
  char* p = static_cast<char*>(out);
  while (n > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1 << 30));
    const int got = gzread(f, p, chunk);
    if (got <= 0) return absl::DataLossError(absl::StrCat(path, " is truncated or corrupt"));
    p += got;
    n -= static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> ReadBigEndian(gzFile f, const std::string& path) {
  unsigned char b[4];
  if (absl::Status s = ReadExactly(f, b, 4, path); !s.ok()) return s;
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

// Opens `path` and reads its header: the magic number and `dims` sizes.
absl::StatusOr<GzFile> OpenIdx(const std::string& path, uint32_t magic, std::vector<uint32_t>* dims) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (f == nullptr) return ErrnoError("cannot open", path);
  absl::StatusOr<uint32_t> got = ReadBigEndian(f.get(), path);
  if (!got.ok()) return got.status();
  if (*got != magic) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": magic number ", *got, ", expected ",
                                                   magic, " (not an IDX file of this kind)"));
  }
  for (uint32_t& d : *dims) {
    absl::StatusOr<uint32_t> v = ReadBigEndian(f.get(), path);
    if (!v.ok()) return v.status();
    d = *v;
  }
  return f;
}

}  // namespace

absl::StatusOr<Dataset> ReadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path, int64_t limit) {
  std::vector<uint32_t> image_dims(3), label_dims(1);
  absl::StatusOr<GzFile> images = OpenIdx(images_path, kImagesMagic, &image_dims);
  if (!images.ok()) return images.status();
  absl::StatusOr<GzFile> labels = OpenIdx(labels_path, kLabelsMagic, &label_dims);
  if (!labels.ok()) return labels.status();
  if (image_dims[0] != label_dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, " holds ", image_dims[0],
                                                   " images but ", labels_path, " ",
                                                   label_dims[0], " labels"));
  }
  if (image_dims[0] > kMaxItems || image_dims[1] > kMaxSide || image_dims[2] > kMaxSide ||
      image_dims[1] == 0 || image_dims[2] == 0) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, ": implausible dimensions ",
                                                   image_dims[0], "x", image_dims[1], "x",
                                                   image_dims[2]));
  }
  Dataset d;
  d.size = limit < 0 ? image_dims[0] : std::min<int64_t>(limit, image_dims[0]);
  d.rows = static_cast<int>(image_dims[1]);
  d.cols = static_cast<int>(image_dims[2]);
  const size_t pixels = static_cast<size_t>(d.size) * d.rows * d.cols;
  std::vector<unsigned char> raw(pixels);
  if (absl::Status s = ReadExactly(images->get(), raw.data(), pixels, images_path); !s.ok()) return s;
  d.images.resize(pixels);
  for (size_t i = 0; i < pixels; ++i) d.images[i] = raw[i] / 255.0f;
  raw.resize(static_cast<size_t>(d.size));
  if (absl::Status s = ReadExactly(labels->get(), raw.data(), raw.size(), labels_path); !s.ok()) {
    return s;
  }
  d.labels.assign(raw.begin(), raw.end());
  for (int64_t i = 0; i < d.size; ++i) {
    if (d.labels[i] > 9) {
      return absl::InvalidArgumentError(
          absl::StrCat(labels_path, ": label ", d.labels[i], " at ", i, " is not 0..9"));
    }
  }
  return d;
}

absl::StatusOr<Dataset> ReadMnistSplit(const std::string& dir, const std::string& split,
                                       int64_t limit) {
  const std::string stem = split == "train" ? "train" : "t10k";
  return ReadIdxDataset(absl::StrCat(dir, "/", stem, "-images-idx3-ubyte.gz"),
                        absl::StrCat(dir, "/", stem, "-labels-idx1-ubyte.gz"), limit);
}

}  // namespace swapserve::trainer
