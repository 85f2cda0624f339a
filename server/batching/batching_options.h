// TF Serving's BatchingParameters (the --batching_parameters_file text proto)
// -> BatchingOptions, with TF Serving's defaults for absent fields and its
// checks, in its words. Stateless, thread-safe.
#ifndef SWAPSERVE_SERVER_BATCHING_BATCHING_OPTIONS_H_
#define SWAPSERVE_SERVER_BATCHING_BATCHING_OPTIONS_H_

#include "absl/status/statusor.h"
#include "server/batching/batcher.h"
#include "tensorflow_serving/servables/tensorflow/session_bundle_config.pb.h"

namespace swapserve::server::batching {

// Defaults: max_batch_size 1000, batch_timeout_micros 0, max_enqueued_batches
// 10, num_batch_threads `cores`, max_execution_batch_size = max_batch_size.
// INVALID_ARGUMENT for a non-positive size or thread count, a negative timeout,
// allowed_batch_sizes not increasing or not ending at the largest batch
// (max_execution_batch_size with splitting, else max_batch_size), and
// max_execution_batch_size above max_batch_size. thread_pool_name is accepted
// and has no effect (one pool).
absl::StatusOr<BatchingOptions> ToBatchingOptions(
    const tensorflow::serving::BatchingParameters& params, int cores);

}  // namespace swapserve::server::batching

#endif  // SWAPSERVE_SERVER_BATCHING_BATCHING_OPTIONS_H_
