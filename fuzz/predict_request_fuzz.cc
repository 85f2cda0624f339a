// Fuzz target: the gRPC requests' bytes → tensors → a run. The first byte picks
// the request (0 PredictRequest, 1 ClassificationRequest, 2
// RegressionRequest, modulo 3), the rest is its protobuf wire form, decoded as
// gRPC decodes it and served on half_plus_two: TensorProto decoding (dtype,
// shape, typed fields or tensor_content against the shape), input and
// output_filter validation, tf.Example inputs through ParseExample.
// Seeds: fuzz/seeds/predict_request/*.txtpb, encoded by bench/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "fuzz/served_model.h"
#include "server/inference.h"

namespace serving = tensorflow::serving;
using swapserve::server::ServableHandle;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)swapserve::fuzz::HalfPlusTwo();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ServableHandle& handle = swapserve::fuzz::HalfPlusTwo();
  const auto weights = handle.servable->Weights();
  const void* wire = data + 1;
  const int wire_size = static_cast<int>(size - 1);
  switch (data[0] % 3) {
    case 0: {
      serving::PredictRequest request;
      serving::PredictResponse response;
      if (request.ParseFromArray(wire, wire_size)) {
        (void)swapserve::server::RunPredict(handle, *weights, request, &response);
      }
      break;
    }
    case 1: {
      serving::ClassificationRequest request;
      serving::ClassificationResponse response;
      if (request.ParseFromArray(wire, wire_size)) {
        (void)swapserve::server::RunClassify(handle, *weights, request, &response);
      }
      break;
    }
    default: {
      serving::RegressionRequest request;
      serving::RegressionResponse response;
      if (request.ParseFromArray(wire, wire_size)) {
        (void)swapserve::server::RunRegress(handle, *weights, request, &response);
      }
      break;
    }
  }
  return 0;
}
