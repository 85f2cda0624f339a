// Reading HDF5 files where a crash costs nothing: in a child process with a
// time limit. libhdf5 1.10 can crash or hang on a corrupt file
// (issue 3 found 59 byte flips that did), and a follower opens whatever a
// trainer leaves in its directory, so the daemon never parses those files
// itself: it runs its own executable as `swapserve __read-keras-weights PATH`,
// which reads the file's layer variables (ReadKerasLayerWeights) and writes
// them to a pipe, and takes the tensors back. A crash, a hang past the limit
// or a malformed stream is an error naming the file; the daemon carries on.
// Legacy Keras `.h5` models (a version directory may hold one) go the same way
// with `swapserve __read-keras-h5 PATH`: the whole file (ReadKerasH5).
//
// The stream (child → parent), little-endian: "SSKW" u32 version=1; per
// tensor: u32 key length, key, i32 dtype, u32 rank, i64 dims[rank], u64 byte
// count, bytes; then u32 0xFFFFFFFF, i32 status code, u32 message length,
// message. The parent checks every length against fixed bounds and the file's
// size before allocating. A legacy `.h5` travels as tensors too: "keras_h5"
// (uint8, JSON: keras_version, backend, model_config, training_config, and per
// layer its name and weight names) and "w/<layer>/<weight>" by index.
//
// Thread safety: ReadKerasWeightsIsolated may run on many threads at once.
#ifndef SWAPSERVE_SERVER_ISOLATED_READER_H_
#define SWAPSERVE_SERVER_ISOLATED_READER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "model/formats/keras_h5.h"
#include "model/tensor.h"

namespace swapserve::server {

// argv[1] that makes the daemon's executable the reader.
inline constexpr absl::string_view kReadKerasWeightsCommand = "__read-keras-weights";

// Runs `program kReadKerasWeightsCommand path` and returns the tensors it
// sends. DEADLINE_EXCEEDED after `timeout` (the child is killed); DATA_LOSS
// when it crashes or its stream is malformed; the child's own error otherwise.
absl::StatusOr<std::map<std::string, Tensor>> ReadKerasWeightsIsolated(
    const std::string& program, const std::string& path, absl::Duration timeout);

// The child's side: `argv` = {program, kReadKerasWeightsCommand, PATH}; writes
// the stream to stdout and returns the exit code.
int RunKerasWeightsReader(int argc, char** argv);

// argv[1] that makes the daemon's executable the legacy `.h5` reader.
inline constexpr absl::string_view kReadKerasH5Command = "__read-keras-h5";

// ReadKerasH5(path) in `program kReadKerasH5Command path`, with the errors of
// ReadKerasWeightsIsolated; a stream that does not describe a file is DATA_LOSS.
absl::StatusOr<KerasH5File> ReadKerasH5Isolated(const std::string& program,
                                                const std::string& path, absl::Duration timeout);

// The child's side of it.
int RunKerasH5Reader(int argc, char** argv);

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_ISOLATED_READER_H_
