// Recognising HDF5 files by their bytes, not their names (a legacy Keras .h5
// file may be named .keras). No HDF5 headers needed: this is what code outside
// the readers calls. Stateless, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_HDF5_SIGNATURE_H_
#define SWAPSERVE_MODEL_FORMATS_HDF5_SIGNATURE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace swapserve {

// True when the file starts with the HDF5 signature (at offset 0 or after a
// user block of 512, 1024, 2048, ... bytes). False for unreadable files.
bool IsHdf5File(const std::string& path);

// The same for bytes in memory.
bool IsHdf5Image(absl::string_view bytes);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_HDF5_SIGNATURE_H_
