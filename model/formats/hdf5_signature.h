// Recognising HDF5 files by their bytes, not their names (a legacy Keras .h5
// file may be named .keras), and whole ones from half-written ones. These read
// the superblock's bytes themselves, without libhdf5: no HDF5 headers needed,
// and nothing a corrupt file can crash. Stateless, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_HDF5_SIGNATURE_H_
#define SWAPSERVE_MODEL_FORMATS_HDF5_SIGNATURE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace swapserve {

// True when the file starts with the HDF5 signature (at offset 0 or after a
// user block of 512, 1024, 2048, ... bytes). False for unreadable files.
bool IsHdf5File(const std::string& path);

// The same for bytes in memory.
bool IsHdf5Image(absl::string_view bytes);

// OK when the file is a whole HDF5 file: the end-of-file address its
// superblock records (versions 0 to 3) equals the file's size. A file that
// h5py is still writing in place is longer or shorter than that (HDF5 itself
// only refuses files shorter than it). FAILED_PRECONDITION naming both sizes
// otherwise; INVALID_ARGUMENT for a file that is not HDF5.
absl::Status CheckHdf5Complete(const std::string& path);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_HDF5_SIGNATURE_H_
