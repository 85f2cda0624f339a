#include "trainer/model_spec.h"

#include "absl/strings/str_cat.h"

namespace swapserve::trainer {
namespace {

using Kind = LayerSpec::Kind;

LayerSpec Dense(std::string name, int units, bool relu) {
  LayerSpec l;
  l.kind = Kind::kDense;
  l.name = std::move(name);
  l.units = units;
  l.relu = relu;
  return l;
}

}  // namespace

ModelSpec MlpSpec(int units) {
  LayerSpec dropout;
  dropout.kind = Kind::kDropout;
  dropout.name = "dropout";
  dropout.rate = 0.2f;
  return ModelSpec{"mlp", {784}, {Dense("dense", units, true), dropout, Dense("dense_1", 10, false)}};
}

ModelSpec CnnSpec() {
  auto conv = [](std::string name, int filters) {
    LayerSpec l;
    l.kind = Kind::kConv2D;
    l.name = std::move(name);
    l.units = filters;
    l.kernel = 3;
    l.relu = true;
    return l;
  };
  auto pool = [](std::string name) {
    LayerSpec l;
    l.kind = Kind::kMaxPool2D;
    l.name = std::move(name);
    l.pool = 2;
    return l;
  };
  LayerSpec flatten;
  flatten.kind = Kind::kFlatten;
  flatten.name = "flatten";
  return ModelSpec{"cnn",
                   {28, 28, 1},
                   {conv("conv2d", 32), pool("max_pooling2d"), conv("conv2d_1", 64),
                    pool("max_pooling2d_1"), flatten, Dense("dense", 128, true),
                    Dense("dense_1", 10, false)}};
}

absl::StatusOr<ModelSpec> ModelSpecByName(const std::string& name, int mlp_units) {
  if (name == "mlp") {
    if (mlp_units < 1) return absl::InvalidArgumentError("--mlp_units must be at least 1");
    return MlpSpec(mlp_units);
  }
  if (name == "cnn") return CnnSpec();
  return absl::InvalidArgumentError(absl::StrCat("unknown model '", name, "' (mlp or cnn)"));
}

std::string WeightKey(int n, const std::string& what) {
  return absl::StrCat("layer_with_weights-", n, "/", what, "/.ATTRIBUTES/VARIABLE_VALUE");
}

}  // namespace swapserve::trainer
