// The legacy .h5 and Keras 3 weight layouts; see keras_weight_source.h.
#include "model/graph/keras_weight_source.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "model/util/status_macros.h"

namespace swapserve {
namespace {

absl::Status LayerError(const KerasLayerConfig& layer, absl::string_view what) {
  return absl::NotFoundError(
      absl::StrCat(layer.class_name, " layer '", layer.name, "': ", what));
}

class LegacyH5Source : public KerasWeightSource {
 public:
  LegacyH5Source(const KerasModelConfig& model, const KerasH5File& file) : file_(file) {
    // Keras numbers layer_with_weights-N over model.layers in order, counting
    // the layers that own weights.
    for (const KerasLayerConfig& layer : model.layers) {
      const KerasH5Layer* h5 = file_.FindLayer(layer.name);
      if (h5 != nullptr && !h5->weights.empty()) {
        const int n = static_cast<int>(numbers_.size());
        numbers_[layer.name] = n;
      }
    }
  }

  absl::StatusOr<KerasWeight> Find(const KerasModelConfig& model, size_t index,
                                   absl::string_view attr, const std::string&) const override {
    const KerasLayerConfig& layer = model.layers[index];
    const KerasH5Layer* h5 = file_.FindLayer(layer.name);
    if (h5 == nullptr) return LayerError(layer, "the file has no weights for this layer");
    for (const KerasH5Weight& w : h5->weights) {
      std::string base = w.name.substr(w.name.rfind('/') + 1);
      if (const size_t colon = base.find(':'); colon != std::string::npos) base.resize(colon);
      if (base != attr) continue;
      return KerasWeight{absl::StrCat("layer_with_weights-", numbers_.at(layer.name), "/", attr,
                                      "/.ATTRIBUTES/VARIABLE_VALUE"),
                         w.value};
    }
    return LayerError(layer, absl::StrCat("the file has no '", attr, "' weight for this layer"));
  }
  absl::StatusOr<std::string> NestedScope(const KerasModelConfig& model, size_t layer,
                                          const std::string&) const override {
    return absl::UnimplementedError(absl::StrCat(
        model.layers[layer].class_name, " layer '", model.layers[layer].name,
        "': nested models in legacy .h5 files are not supported (save as .keras)"));
  }
  const std::string& path() const override { return file_.path; }
  const std::string& keras_version() const override { return file_.keras_version; }

 private:
  const KerasH5File& file_;
  std::map<std::string, int> numbers_;  // layer name -> N of layer_with_weights-N
};

class Keras3Source : public KerasWeightSource {
 public:
  Keras3Source(const KerasWeightsFile& file, std::string keras_version, std::string path)
      : file_(file), keras_version_(std::move(keras_version)), path_(std::move(path)) {
    // tf.keras 2.13 wrote the layers under another name.
    legacy_layers_ = !HasPrefix("layers/") && HasPrefix("_layer_checkpoint_dependencies/");
  }

  absl::StatusOr<KerasWeight> Find(const KerasModelConfig& model, size_t index,
                                   absl::string_view attr, const std::string& scope) const override {
    const KerasLayerConfig& layer = model.layers[index];
    ASSIGN_OR_RETURN(std::vector<std::string> order, Keras3VariableOrder(layer));
    const std::string path = scope + LayersPath(model, index);
    const std::string vars = absl::StrCat(path, "/vars/");
    const size_t held = CountPrefix(vars);
    if (held != order.size()) {
      return LayerError(layer, absl::StrCat(
          file_.path, " holds ", held, " variables under ", vars, "; this layer has ",
          order.size(), " (", absl::StrJoin(order, ", "),
          ") — the file does not have Keras 3's layout for this model"));
    }
    for (size_t i = 0; i < order.size(); ++i) {
      if (order[i] != attr) continue;
      const std::string key = absl::StrCat(vars, i);
      auto value = file_.values.find(key);
      if (value == file_.values.end()) {
        return LayerError(layer, absl::StrCat(file_.path, " has no dataset ", key, " (", attr, ")"));
      }
      return KerasWeight{key, value->second};
    }
    return LayerError(layer, absl::StrCat("has no '", attr, "' variable in Keras 3"));
  }
  absl::StatusOr<std::string> NestedScope(const KerasModelConfig& model, size_t layer,
                                          const std::string& scope) const override {
    return absl::StrCat(scope, LayersPath(model, layer), "/");
  }
  const std::string& path() const override { return path_; }
  const std::string& keras_version() const override { return keras_version_; }

 private:
  // "layers/dense_1" (tf.keras 2.13: "_layer_checkpoint_dependencies/dense_1").
  std::string LayersPath(const KerasModelConfig& model, size_t index) const {
    const std::string path = Keras3LayerPath(model, index);
    return legacy_layers_ ? absl::StrCat("_layer_checkpoint_dependencies", path.substr(6)) : path;
  }
  bool HasPrefix(const std::string& prefix) const { return CountPrefix(prefix) > 0; }
  size_t CountPrefix(const std::string& prefix) const {
    size_t n = 0;
    for (auto it = file_.variables.lower_bound(prefix);
         it != file_.variables.end() && absl::StartsWith(it->first, prefix); ++it) {
      ++n;
    }
    return n;
  }

  const KerasWeightsFile& file_;
  const std::string keras_version_;
  const std::string path_;
  bool legacy_layers_ = false;
};

}  // namespace

std::unique_ptr<KerasWeightSource> LegacyH5WeightSource(const KerasModelConfig& model,
                                                        const KerasH5File& file) {
  return std::make_unique<LegacyH5Source>(model, file);
}

std::unique_ptr<KerasWeightSource> Keras3WeightSource(const KerasWeightsFile& file,
                                                      std::string keras_version,
                                                      std::string path) {
  return std::make_unique<Keras3Source>(file, std::move(keras_version), std::move(path));
}

std::string KerasSnakeCase(absl::string_view name) {
  static const std::regex non_word("[^A-Za-z0-9_]+"), word_start("(.)([A-Z][a-z]+)"),
      lower_upper("([a-z])([A-Z])");
  std::string s = std::regex_replace(std::string(name), non_word, "");
  s = std::regex_replace(s, word_start, "$1_$2");
  s = std::regex_replace(s, lower_upper, "$1_$2");
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Keras3LayerPath(const KerasModelConfig& model, size_t layer) {
  const std::string name = KerasSnakeCase(model.layers[layer].class_name);
  int earlier = 0;
  for (size_t i = 0; i < layer; ++i) {
    if (KerasSnakeCase(model.layers[i].class_name) == name) ++earlier;
  }
  return earlier == 0 ? absl::StrCat("layers/", name) : absl::StrCat("layers/", name, "_", earlier);
}

absl::StatusOr<std::vector<std::string>> Keras3VariableOrder(const KerasLayerConfig& layer) {
  const nlohmann::json& c = layer.config;
  auto flag = [&](const char* key) {
    auto it = c.find(key);
    return it == c.end() || !it->is_boolean() || it->get<bool>();
  };
  const std::string& cls = layer.class_name;
  if (cls == "Dense" || cls == "Conv2D" || cls == "Convolution2D") {
    if (flag("use_bias")) return std::vector<std::string>{"kernel", "bias"};
    return std::vector<std::string>{"kernel"};
  }
  if (cls == "BatchNormalization") {
    std::vector<std::string> order;
    if (flag("scale")) order.push_back("gamma");
    if (flag("center")) order.push_back("beta");
    order.push_back("moving_mean");
    order.push_back("moving_variance");
    return order;
  }
  if (cls == "Embedding") return std::vector<std::string>{"embeddings"};
  return absl::UnimplementedError(absl::StrCat(cls, " layer '", layer.name,
                                               "': no Keras 3 variable order known for this class"));
}

}  // namespace swapserve
