// BatchingParameters -> BatchingOptions (see batching_options.h).
#include "server/batching/batching_options.h"

#include "absl/strings/str_cat.h"

namespace swapserve::server::batching {

absl::StatusOr<BatchingOptions> ToBatchingOptions(
    const tensorflow::serving::BatchingParameters& params, int cores) {
  BatchingOptions options;
  if (params.has_max_batch_size()) options.max_batch_size = params.max_batch_size().value();
  if (options.max_batch_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_size must be positive; was ", options.max_batch_size));
  }
  if (params.has_batch_timeout_micros()) {
    const int64_t micros = params.batch_timeout_micros().value();
    if (micros < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch_timeout_micros must be non-negative; was ", micros));
    }
    options.batch_timeout = absl::Microseconds(micros);
  }
  if (params.has_max_enqueued_batches()) {
    options.max_enqueued_batches = params.max_enqueued_batches().value();
  }
  if (options.max_enqueued_batches <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_enqueued_batches must be positive; was ", options.max_enqueued_batches));
  }
  int64_t threads = cores > 0 ? cores : 1;
  if (params.has_num_batch_threads()) threads = params.num_batch_threads().value();
  if (threads <= 0 || threads > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_batch_threads must be positive (at most 4096); was ", threads));
  }
  options.num_batch_threads = static_cast<int>(threads);

  options.enable_large_batch_splitting =
      params.has_enable_large_batch_splitting() && params.enable_large_batch_splitting().value();
  options.max_execution_batch_size = options.max_batch_size;
  if (options.enable_large_batch_splitting && params.has_max_execution_batch_size()) {
    options.max_execution_batch_size = params.max_execution_batch_size().value();
    if (options.max_execution_batch_size <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "max_execution_batch_size must be positive; was ", options.max_execution_batch_size));
    }
    if (options.max_execution_batch_size > options.max_batch_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "When enable_large_batch_splitting is true, max_batch_size (",
          options.max_batch_size, ") must be greater than or equal to max_execution_batch_size (",
          options.max_execution_batch_size, ")."));
    }
  }

  int64_t previous = 0;
  for (int64_t size : params.allowed_batch_sizes()) {
    if (size <= previous) {
      return absl::InvalidArgumentError(
          "allowed_batch_sizes entries must be positive and monotonically increasing");
    }
    previous = size;
    options.allowed_batch_sizes.push_back(size);
  }
  if (!options.allowed_batch_sizes.empty() && previous != options.max_execution_batch_size) {
    return absl::InvalidArgumentError(
        options.enable_large_batch_splitting
            ? absl::StrCat("Last entry in allowed_batch_sizes must be equal to "
                           "max_execution_batch_size; last entry was ",
                           previous, "; expected ", options.max_execution_batch_size)
            : absl::StrCat("Last entry in allowed_batch_sizes must match max_batch_size; last "
                           "entry was ",
                           previous, "; expected ", options.max_batch_size));
  }
  options.pad_variable_length_inputs = params.pad_variable_length_inputs();
  return options;
}

}  // namespace swapserve::server::batching
