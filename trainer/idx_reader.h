// Reading MNIST-format IDX files (Fashion-MNIST, MNIST), gzip-compressed or not:
// images as float32 [N, rows*cols] scaled to [0, 1], labels as int32 [N].
// Stateless, thread-safe.
#ifndef SWAPSERVE_TRAINER_IDX_READER_H_
#define SWAPSERVE_TRAINER_IDX_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace swapserve::trainer {

struct Dataset {
  int64_t size = 0;
  int rows = 0, cols = 0;
  std::vector<float> images;   // size * rows * cols, row-major, in [0, 1]
  std::vector<int32_t> labels; // size
};

// Reads at most `limit` examples (-1: all) from an images file and a labels
// file. Errors name the file: wrong magic number, dimensions that disagree,
// a truncated file, a label outside 0..9.
absl::StatusOr<Dataset> ReadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path, int64_t limit);

// DIR/train-images-idx3-ubyte.gz + train-labels (split "train") or t10k-* ("test").
absl::StatusOr<Dataset> ReadMnistSplit(const std::string& dir, const std::string& split,
                                       int64_t limit);

}  // namespace swapserve::trainer

#endif  // SWAPSERVE_TRAINER_IDX_READER_H_
