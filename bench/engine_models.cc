#include "bench/engine_models.h"

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "model/formats/keras_config.h"
#include "model/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace swapserve::bench {
namespace {

using json = nlohmann::json;

json Layer(const std::string& cls, json config) { return {{"class_name", cls}, {"config", config}}; }

json MlpConfig() {
  return {{"class_name", "Sequential"},
          {"config",
           {{"name", "mlp"},
            {"layers",
             {Layer("InputLayer", {{"name", "input"}, {"batch_input_shape", {nullptr, 784}}}),
              Layer("Dense", {{"name", "dense"}, {"units", 512}, {"activation", "relu"}}),
              Layer("Dropout", {{"name", "dropout"}, {"rate", 0.2}}),
              Layer("Dense", {{"name", "dense_1"}, {"units", 10}})}}}}};
}

json CnnConfig() {
  auto conv = [](const std::string& name, int filters) {
    return Layer("Conv2D", {{"name", name}, {"filters", filters}, {"kernel_size", {3, 3}},
                            {"activation", "relu"}, {"padding", "valid"}});
  };
  return {{"class_name", "Sequential"},
          {"config",
           {{"name", "cnn"},
            {"layers",
             {Layer("InputLayer", {{"name", "input"}, {"batch_input_shape", {nullptr, 28, 28, 1}}}),
              conv("conv2d", 32), Layer("MaxPooling2D", {{"name", "pool"}, {"pool_size", {2, 2}}}),
              conv("conv2d_1", 64), Layer("MaxPooling2D", {{"name", "pool_1"}, {"pool_size", {2, 2}}}),
              Layer("Flatten", {{"name", "flatten"}}),
              Layer("Dense", {{"name", "dense"}, {"units", 128}, {"activation", "relu"}}),
              Layer("Dense", {{"name", "dense_1"}, {"units", 10}})}}}}};
}

// Glorot-uniform-like random values; zeros would make the benchmark trivial.
Tensor Random(TensorShape shape, std::mt19937& rng) {
  auto t = Tensor::Allocate(tensorflow::DT_FLOAT, shape);
  const float limit = 0.1f;
  std::uniform_real_distribution<float> dist(-limit, limit);
  for (int64_t i = 0; i < t->num_elements(); ++i) t->data<float>()[i] = dist(rng);
  return *t;
}

}  // namespace

absl::StatusOr<KerasPlan> BuildBenchModel(const std::string& name) {
  const json config_json = name == "mlp" ? MlpConfig() : CnnConfig();
  ASSIGN_OR_RETURN(KerasModelConfig config, ParseKerasModelConfig(config_json));
  std::mt19937 rng(42);
  KerasH5File file;
  file.path = "bench:" + name;
  auto dense = [&](const std::string& layer, int64_t in, int64_t out) {
    file.layers.push_back({layer, {{layer + "/kernel:0", Random({in, out}, rng)},
                                   {layer + "/bias:0", Random({out}, rng)}}});
  };
  auto conv = [&](const std::string& layer, int64_t in, int64_t out) {
    file.layers.push_back({layer, {{layer + "/kernel:0", Random({3, 3, in, out}, rng)},
                                   {layer + "/bias:0", Random({out}, rng)}}});
  };
  if (name == "mlp") {
    dense("dense", 784, 512);
    dense("dense_1", 512, 10);
  } else {
    conv("conv2d", 1, 32);
    conv("conv2d_1", 32, 64);
    dense("dense", 5 * 5 * 64, 128);
    dense("dense_1", 128, 10);
  }
  return BuildKerasPlan(config, file);
}

absl::Status DumpWeights(const KerasPlan& model, const std::string& dir) {
  json manifest = json::array();
  for (int i = 0; i < model.weights->size(); ++i) {
    const Tensor& t = model.weights->slot(i);
    const std::string file = absl::StrCat(dir, "/", i, ".bin");
    std::ofstream out(file, std::ios::binary);
    out.write(t.raw_data(), t.num_bytes());
    if (!out) return absl::UnavailableError("cannot write " + file);
    manifest.push_back({{"file", absl::StrCat(i, ".bin")},
                        {"key", model.slots[i].checkpoint_key},
                        {"shape", t.shape().dims()}});
  }
  std::ofstream m(dir + "/manifest.json");
  m << manifest.dump(2);
  return m ? absl::OkStatus() : absl::UnavailableError("cannot write manifest");
}

}  // namespace swapserve::bench
