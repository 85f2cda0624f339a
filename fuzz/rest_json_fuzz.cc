// Fuzz target: REST request bodies → request protos → a run → the JSON answer,
// as rest_service does it. The first byte picks the route (0 :predict, 1
// :classify, 2 :regress, modulo 3), the rest is the body: RapidJSON's parse
// (depth-bounded, UTF-8 validated), TF Serving's row and columnar formats,
// b64 strings, NaN/Infinity, then half_plus_two runs it and the response is
// written back as JSON. Seeds: fuzz/seeds/rest_json/*, the bodies TF Serving's
// documentation and our tests send.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "fuzz/served_model.h"
#include "server/inference.h"
#include "server/rest/json_tensor.h"

namespace serving = tensorflow::serving;
using swapserve::server::ServableHandle;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)swapserve::fuzz::HalfPlusTwo();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  namespace rest = swapserve::server::rest;
  const ServableHandle& handle = swapserve::fuzz::HalfPlusTwo();
  const auto weights = handle.servable->Weights();
  const absl::string_view body = swapserve::fuzz::Bytes(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      serving::PredictRequest request;
      serving::PredictResponse response;
      rest::JsonFormat format;
      auto dtypes = [&](const std::string& signature) {
        return swapserve::server::SignatureInputs(handle, signature);
      };
      if (!rest::FillPredictRequestFromJson(body, dtypes, &request, &format).ok()) break;
      if (!swapserve::server::RunPredict(handle, *weights, request, &response).ok()) break;
      (void)rest::MakeJsonFromTensors(response.outputs(), format);
      break;
    }
    case 1: {
      serving::ClassificationRequest request;
      serving::ClassificationResponse response;
      if (!rest::FillClassificationRequestFromJson(body, &request).ok()) break;
      if (!swapserve::server::RunClassify(handle, *weights, request, &response).ok()) break;
      (void)rest::MakeJsonFromClassificationResult(response.result());
      break;
    }
    default: {
      serving::RegressionRequest request;
      serving::RegressionResponse response;
      if (!rest::FillRegressionRequestFromJson(body, &request).ok()) break;
      if (!swapserve::server::RunRegress(handle, *weights, request, &response).ok()) break;
      (void)rest::MakeJsonFromRegressionResult(response.result());
      break;
    }
  }
  return 0;
}
