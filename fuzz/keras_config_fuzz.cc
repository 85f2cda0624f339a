// Fuzz target: a Keras model config (`config.json` of a `.keras` archive, the
// `model_config` attribute of an `.h5`) through Python-flavoured JSON parsing,
// the config model (Sequential, Functional, Keras 2 and 3 inbound nodes),
// signature synthesis and plan building against the weights of each Keras
// fixture; a plan that builds is run once. Seeds: the fixtures' configs.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "model/formats/keras_archive.h"
#include "model/formats/keras_config.h"
#include "model/formats/keras_h5.h"
#include "model/formats/keras_json.h"
#include "model/formats/keras_weights_h5.h"
#include "model/graph/keras_plan.h"

namespace {

struct Keras3Weights {
  std::string version, path;
  swapserve::KerasWeightsFile file;
};
std::vector<Keras3Weights>* keras3;
swapserve::KerasH5File* legacy;

void RunIfBuilt(const absl::StatusOr<swapserve::KerasPlan>& built) {
  if (!built.ok() || built->weights == nullptr) return;
  std::vector<swapserve::Tensor> inputs = swapserve::fuzz::ExampleInputs(*built->plan);
  if (inputs.size() != built->plan->inputs().size()) return;
  (void)built->plan->Run(*built->weights, inputs);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using swapserve::fuzz::Fixture;
  keras3 = new std::vector<Keras3Weights>;
  for (const char* name : {"heart_functional_k3.10.keras", "heart_sequential_k3.10.keras",
                           "cifar10_bn_k3.8.keras", "cifar10_names_k3.13.keras"}) {
    const std::string path = Fixture(std::string("keras3/") + name);
    auto archive = swapserve::ReadKerasArchive(path, /*with_weights=*/true);
    auto weights = archive.ok() ? swapserve::ReadKerasWeightsH5Image(
                                      archive->weights_name, archive->weights_image, nullptr)
                                : archive.status();
    if (!weights.ok()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), weights.status().ToString().c_str());
      std::abort();
    }
    keras3->push_back({archive->keras_version, path, *std::move(weights)});
  }
  auto h5 = swapserve::ReadKerasH5(Fixture("keras_h5/bank_churn.h5"));
  if (!h5.ok()) std::abort();
  legacy = new swapserve::KerasH5File(*std::move(h5));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto json = swapserve::ParseKerasJson(swapserve::fuzz::Bytes(data, size), "fuzz input");
  if (!json.ok()) return 0;
  auto config = swapserve::ParseKerasModelConfig(*json);
  if (!config.ok()) return 0;
  (void)swapserve::SynthesizeServingSignature(*config, swapserve::KerasOutputNames::kLayerNames);
  (void)swapserve::SynthesizeServingSignature(*config, swapserve::KerasOutputNames::kOutputIndex);
  for (const Keras3Weights& w : *keras3) {
    RunIfBuilt(swapserve::BuildKerasPlan(
        *config, *swapserve::Keras3WeightSource(w.file, w.version, w.path),
        swapserve::KerasOutputNames::kOutputIndex));
  }
  RunIfBuilt(swapserve::BuildKerasPlan(*config, *legacy));
  return 0;
}
