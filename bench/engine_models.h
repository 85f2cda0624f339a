// The two benchmark models — the seed MLP (784→512 relu→10) and a small CNN
// (Conv 32 3x3 relu, MaxPool 2, Conv 64 3x3 relu, MaxPool 2, Flatten, Dense 128
// relu, Dense 10) — built as Keras configs with seeded random weights, so the
// engine and the PyTorch peer run exactly the same numbers.
#ifndef SWAPSERVE_BENCH_ENGINE_MODELS_H_
#define SWAPSERVE_BENCH_ENGINE_MODELS_H_

#include <string>

#include "absl/status/statusor.h"
#include "model/graph/keras_plan.h"

namespace swapserve::bench {

// "mlp" or "cnn".
absl::StatusOr<KerasPlan> BuildBenchModel(const std::string& name);

// Writes each weight as raw little-endian float32 (DIR/<slot>.bin, slots in
// order) plus DIR/manifest.json naming them with shapes, for the PyTorch peer.
absl::Status DumpWeights(const KerasPlan& model, const std::string& dir);

}  // namespace swapserve::bench

#endif  // SWAPSERVE_BENCH_ENGINE_MODELS_H_
