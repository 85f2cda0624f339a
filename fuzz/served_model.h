// The model the request-decoding fuzz targets call: TF Serving's TF1
// half_plus_two (predict on a float tensor, classify and regress on serialized
// tf.Examples through ParseExample), loaded once and wrapped as the daemon
// wraps a version, so a fuzzed request goes through the same RunPredict /
// RunClassify / RunRegress both fronts call.
#ifndef SWAPSERVE_FUZZ_SERVED_MODEL_H_
#define SWAPSERVE_FUZZ_SERVED_MODEL_H_

#include "server/model_manager.h"

namespace swapserve::fuzz {

// Loads the fixture on first use; ends the process if it cannot.
const server::ServableHandle& HalfPlusTwo();

}  // namespace swapserve::fuzz

#endif  // SWAPSERVE_FUZZ_SERVED_MODEL_H_
