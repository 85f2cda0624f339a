// Reading a LevelDB-format table file (TensorFlow's tensor-bundle .index) safely.
//
// leveldb::Table trusts the footer's block handles and would allocate whatever size
// they claim; this reader loads the file into memory (bounded), checks the footer's
// magic and that its handles lie inside the file, then iterates with every block's
// checksum verified. Stateless, thread-safe.
#ifndef SWAPSERVE_MODEL_FORMATS_TABLE_FILE_H_
#define SWAPSERVE_MODEL_FORMATS_TABLE_FILE_H_

#include <cstdint>
#include <functional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace swapserve {

// Calls `visit(key, value)` for every entry of the table at `path`, in key order,
// stopping at the first non-OK status it returns. Fails on a file larger than
// `max_bytes`, a bad footer, a corrupt block or an unreadable file.
absl::Status ReadTableFile(
    const std::string& path, uint64_t max_bytes,
    const std::function<absl::Status(absl::string_view key, absl::string_view value)>&
        visit);

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_FORMATS_TABLE_FILE_H_
