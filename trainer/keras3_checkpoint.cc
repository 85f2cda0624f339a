// Keras 3 `.weights.h5` checkpoints of the trainer's models; see keras3_checkpoint.h.
#include "trainer/keras3_checkpoint.h"

#include <unistd.h>

#include <cstring>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/formats/keras_archive.h"
#include "model/formats/keras_weights_h5.h"
#include "model/graph/keras_weight_source.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"
#include "trainer/keras_checkpoint.h"

namespace swapserve::trainer {
namespace {

template <typename T>
absl::StatusOr<Tensor> Scalar(DataType dtype, T value) {
  ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(dtype, TensorShape{}));
  t.data<T>()[0] = value;
  return t;
}

}  // namespace

const char* Keras3ClassName(LayerSpec::Kind kind) {
  switch (kind) {
    case LayerSpec::Kind::kDense: return "Dense";
    case LayerSpec::Kind::kConv2D: return "Conv2D";
    case LayerSpec::Kind::kMaxPool2D: return "MaxPooling2D";
    case LayerSpec::Kind::kFlatten: return "Flatten";
    case LayerSpec::Kind::kDropout: return "Dropout";
  }
  return "?";
}

absl::StatusOr<Keras3Weights> Keras3WeightsOf(const Network& network, const Adam* optimizer) {
  Keras3Weights out;
  out.groups.push_back("vars");  // the model's own (it has none)
  out.groups.push_back("layers");
  std::map<std::string, int> used;
  size_t param = 0;
  for (const LayerSpec& layer : network.spec().layers) {
    const std::string snake = KerasSnakeCase(Keras3ClassName(layer.kind));
    const int n = used[snake]++;
    const std::string path = n == 0 ? absl::StrCat("layers/", snake)
                                    : absl::StrCat("layers/", snake, "_", n);
    out.groups.push_back(path + "/vars");
    if (!layer.has_weights()) continue;
    for (int i = 0; i < 2; ++i, ++param) {  // kernel, bias
      const Param& p = network.params()[param];
      ASSIGN_OR_RETURN(Tensor t, FloatTensor(p.shape, p.value));
      out.datasets.emplace_back(absl::StrCat(path, "/vars/", i), std::move(t));
    }
  }
  if (optimizer != nullptr) {
    out.groups.push_back("optimizer/vars");
    ASSIGN_OR_RETURN(Tensor iterations, Scalar<int64_t>(tensorflow::DT_INT64, optimizer->iterations()));
    ASSIGN_OR_RETURN(Tensor rate,
                     Scalar<float>(tensorflow::DT_FLOAT, optimizer->config().learning_rate));
    out.datasets.emplace_back("optimizer/vars/0", std::move(iterations));
    out.datasets.emplace_back("optimizer/vars/1", std::move(rate));
    int next = 2;
    for (size_t i = 0; i < network.params().size(); ++i) {
      const Param& p = network.params()[i];
      for (const Floats* slot : {&optimizer->m()[i], &optimizer->v()[i]}) {
        ASSIGN_OR_RETURN(Tensor t, FloatTensor(p.shape, *slot));
        out.datasets.emplace_back(absl::StrCat("optimizer/vars/", next++), std::move(t));
      }
    }
  }
  return out;
}

absl::Status WriteKeras3Checkpoint(const std::string& path, const Network& network,
                                   const Adam* optimizer) {
  ASSIGN_OR_RETURN(Keras3Weights weights, Keras3WeightsOf(network, optimizer));
  return WriteKerasWeightsH5(path, weights.groups, weights.datasets);
}

namespace {

// The release whose saving layout these files follow (the engine reads
// version-dependent semantics, e.g. hard_sigmoid, from it).
constexpr char kKerasVersion[] = "3.10.0";

nlohmann::json Float32Policy() {
  return {{"module", "keras"},
          {"class_name", "DTypePolicy"},
          {"config", {{"name", "float32"}}},
          {"registered_name", nullptr}};
}

nlohmann::json BatchShape(const std::vector<int64_t>& shape) {
  nlohmann::json out = nlohmann::json::array({nullptr});
  for (int64_t d : shape) out.push_back(d);
  return out;
}

}  // namespace

nlohmann::json Keras3ModelConfig(const ModelSpec& spec) {
  using json = nlohmann::json;
  json layers = json::array();
  layers.push_back({{"module", "keras.layers"},
                    {"class_name", "InputLayer"},
                    {"config",
                     {{"batch_shape", BatchShape(spec.input_shape)},
                      {"dtype", "float32"},
                      {"sparse", false},
                      {"name", "input_layer"}}},
                    {"registered_name", nullptr}});
  for (const LayerSpec& l : spec.layers) {
    json c = {{"name", l.name}, {"trainable", true}, {"dtype", Float32Policy()}};
    switch (l.kind) {
      case LayerSpec::Kind::kDense:
        c.update({{"units", l.units}, {"activation", l.relu ? "relu" : "linear"}, {"use_bias", true}});
        break;
      case LayerSpec::Kind::kConv2D:
        c.update({{"filters", l.units},
                  {"kernel_size", {l.kernel, l.kernel}},
                  {"strides", {1, 1}},
                  {"padding", "valid"},
                  {"data_format", "channels_last"},
                  {"dilation_rate", {1, 1}},
                  {"groups", 1},
                  {"activation", l.relu ? "relu" : "linear"},
                  {"use_bias", true}});
        break;
      case LayerSpec::Kind::kMaxPool2D:
        c.update({{"pool_size", {l.pool, l.pool}},
                  {"padding", "valid"},
                  {"strides", {l.pool, l.pool}},
                  {"data_format", "channels_last"}});
        break;
      case LayerSpec::Kind::kFlatten:
        c.update({{"data_format", "channels_last"}});
        break;
      case LayerSpec::Kind::kDropout:
        c.update({{"rate", l.rate}, {"seed", nullptr}, {"noise_shape", nullptr}});
        break;
    }
    layers.push_back({{"module", "keras.layers"},
                      {"class_name", Keras3ClassName(l.kind)},
                      {"config", std::move(c)},
                      {"registered_name", nullptr}});
  }
  return {{"module", "keras"},
          {"class_name", "Sequential"},
          {"config",
           {{"name", "sequential"},
            {"trainable", true},
            {"dtype", Float32Policy()},
            {"layers", std::move(layers)}}},
          {"registered_name", nullptr},
          {"build_config", {{"input_shape", BatchShape(spec.input_shape)}}}};
}

absl::Status ExportKerasModel(const std::string& path, const Network& network,
                              const Adam* optimizer) {
  if (!absl::EndsWith(path, ".keras")) {
    return absl::InvalidArgumentError(absl::StrCat("a Keras model file must end in .keras: ", path));
  }
  RETURN_IF_ERROR(CreateDirectories(DirName(path)));
  const std::string weights = absl::StrCat(DirName(path), "/.", BaseName(path), ".weights.h5");
  absl::Status s = WriteKeras3Checkpoint(weights, network, optimizer);
  if (s.ok()) s = WriteKerasArchive(path, kKerasVersion, Keras3ModelConfig(network.spec()), weights);
  ::unlink(weights.c_str());
  return s;
}

}  // namespace swapserve::trainer
