// `.keras` model archives, as Keras 3 (and tf.keras 2.13–2.15) `model.save()`
// writes them: a zip holding `metadata.json` (the Keras version),
// `config.json` (the model, as `keras.saving.serialize_keras_object` gives
// it: {"module", "class_name", "config", "registered_name", "build_config",
// "compile_config"}) and `model.weights.h5` (keras_weights_h5.h's layout;
// Keras's other weights format, `model.weights.npz`, is refused by name), plus
// `assets/` for layers that own files.
//
// Read with libzip, as hostile input: the central directory is checked
// against the local headers (ZIP_CHECKCONS), entry names must be relative
// without `..` or backslashes (nothing is extracted, but an archive that
// tries to escape is not a model), duplicate names, encryption and methods
// other than stored and deflate are refused, and an entry's declared size is
// checked against what its compressed bytes can hold (stored: equal; deflate:
// at most 1032:1) and against fixed bounds (config 64 MiB, metadata 1 MiB,
// weights 32 GiB) before anything is allocated; reading stops at the declared
// size and libzip checks each entry's CRC-32. A legacy HDF5 file named
// `.keras` is not a zip; model_path.h recognises it by its bytes.
//
// Stateless functions, thread-safe (each call opens its own archive).
#ifndef SWAPSERVE_MODEL_FORMATS_KERAS_ARCHIVE_H_
#define SWAPSERVE_MODEL_FORMATS_KERAS_ARCHIVE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace swapserve {

// Deflate cannot expand data by more than about 1032:1: what an entry's
// compressed size can hold.
inline constexpr uint64_t kMaxDeflateRatio = 1032;

struct KerasArchive {
  std::string path;
  std::string keras_version;  // metadata.json's; "" when it does not say.
  nlohmann::json config;      // config.json
  std::string weights_image;  // model.weights.h5's bytes; empty unless asked for.
  std::string weights_name;   // "<path>/model.weights.h5", for errors.
};

// Reads the metadata and config, and the weights file's bytes when
// `with_weights`.
absl::StatusOr<KerasArchive> ReadKerasArchive(const std::string& path, bool with_weights);

// Writes a `.keras` archive as Keras 3's model.save() lays it out (entries
// metadata.json, config.json, model.weights.h5, stored uncompressed as Keras
// stores them) from the weights file at `weights_path`; to a hidden temporary
// name beside `path`, fsync'd and renamed into place.
absl::Status WriteKerasArchive(const std::string& path, const std::string& keras_version,
                               const nlohmann::json& config, const std::string& weights_path);

// True when the file starts like a zip archive ("PK\3\4", or "PK\5\6" for an
// empty one). False for unreadable files.
bool IsZipFile(const std::string& path);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_KERAS_ARCHIVE_H_
