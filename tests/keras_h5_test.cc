// ReadKerasH5 on the real Keras 2.12 fixture, on files written here with the
// HDF5 C API the way older Keras and save_weights() wrote them, and on broken
// files (each a clear error, never a crash, and no HDF5 handle left open).
#include "model/formats/keras_h5.h"

#include <hdf5.h>

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/formats/keras_config.h"
#include "nlohmann/json.hpp"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using ::swapserve::testing::ReadFileOrDie;
using ::swapserve::testing::TempDir;
using ::swapserve::testing::WriteFileOrDie;

// Closes an HDF5 identifier at the end of the scope.
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {
    EXPECT_GE(id, 0) << "HDF5 call failed";
  }
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  operator hid_t() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

enum class Strings { kVariable, kFixed, kVariableScalar, kFixedScalar };

// A string attribute as h5py writes it: numpy bytes give fixed-length strings,
// Python str variable-length ones; one value may be a scalar.
void WriteStrings(hid_t obj, const std::string& name,
                  const std::vector<std::string>& values, Strings style) {
  const bool fixed = style == Strings::kFixed || style == Strings::kFixedScalar;
  const bool scalar =
      style == Strings::kVariableScalar || style == Strings::kFixedScalar;
  size_t width = 1;
  for (const std::string& v : values) width = std::max(width, v.size());
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  ASSERT_GE(H5Tset_size(type, fixed ? width : H5T_VARIABLE), 0);
  const hsize_t count = values.size();
  Id space(
      scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr),
      H5Sclose);
  Id attr(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
  if (fixed) {
    std::string bytes(values.size() * width, '\0');
    for (size_t i = 0; i < values.size(); ++i)
      bytes.replace(i * width, values[i].size(), values[i]);
    ASSERT_GE(H5Awrite(attr, type, bytes.data()), 0);
  } else {
    std::vector<const char*> pointers;
    for (const std::string& v : values) pointers.push_back(v.c_str());
    ASSERT_GE(H5Awrite(attr, type, pointers.data()), 0);
  }
}

// What Keras writes for an empty weight_names: numpy's empty float64 array.
void WriteEmptyList(hid_t obj, const std::string& name) {
  const hsize_t zero = 0;
  Id space(H5Screate_simple(1, &zero, nullptr), H5Sclose);
  Id attr(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT,
                     H5P_DEFAULT),
          H5Aclose);
}

template <typename T>
void WriteDataset(hid_t group, const std::string& path,
                  std::vector<hsize_t> dims, const std::vector<T>& values,
                  hid_t file_type, hid_t memory_type) {
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  ASSERT_GE(H5Pset_create_intermediate_group(lcpl, 1), 0);
  Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                        : H5Screate_simple(static_cast<int>(dims.size()),
                                           dims.data(), nullptr),
           H5Sclose);
  Id dataset(H5Dcreate2(group, path.c_str(), file_type, space, lcpl,
                        H5P_DEFAULT, H5P_DEFAULT),
             H5Dclose);
  ASSERT_GE(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     values.data()),
            0);
}

struct FakeWeight {
  std::string name;
  std::vector<hsize_t> dims;
  std::vector<float> values;
};
struct FakeLayer {
  std::string name;
  std::vector<FakeWeight> weights;
};

// layer_names on `group`, a group per layer with weight_names and its datasets.
void WriteLayers(hid_t group, const std::vector<FakeLayer>& layers,
                 Strings style) {
  std::vector<std::string> names;
  for (const FakeLayer& layer : layers) names.push_back(layer.name);
  WriteStrings(group, "layer_names", names, style);
  for (const FakeLayer& layer : layers) {
    Id g(H5Gcreate2(group, layer.name.c_str(), H5P_DEFAULT, H5P_DEFAULT,
                    H5P_DEFAULT),
         H5Gclose);
    std::vector<std::string> weight_names;
    for (const FakeWeight& w : layer.weights) weight_names.push_back(w.name);
    if (weight_names.empty()) {
      WriteEmptyList(g, "weight_names");
    } else {
      WriteStrings(g, "weight_names", weight_names, style);
    }
    for (const FakeWeight& w : layer.weights) {
      WriteDataset<float>(g, w.name, w.dims, w.values, H5T_IEEE_F32LE,
                          H5T_NATIVE_FLOAT);
    }
  }
}

const std::vector<FakeLayer>& SmallMlp() {
  static const auto* layers = new std::vector<FakeLayer>{
      {"dense",
       {{"dense/kernel:0", {2, 3}, {1, 2, 3, 4, 5, 6}},
        {"dense/bias:0", {3}, {0.5, -0.5, 0}}}},
      {"dropout", {}},
      {"dense_1",
       {{"dense_1/kernel:0", {3, 1}, {7, 8, 9}},
        {"dense_1/bias:0", {1}, {-1}}}},
  };
  return *layers;
}

hid_t CreateFile(const std::string& path) {
  return H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(),
                            t.data<float>() + t.num_elements());
}

// Every test must leave no HDF5 file, group, dataset or attribute open.
class KerasH5Test : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0)
        << "HDF5 handles leaked";
  }
  // The error of reading `path`, which must not succeed.
  static absl::Status ReadError(const std::string& path) {
    auto file = ReadKerasH5(path);
    EXPECT_FALSE(file.ok()) << path << " was read";
    return file.status();
  }
  TempDir dir_;
};

TEST_F(KerasH5Test, ReadsBankChurnFully) {
  SS_REQUIRE_FIXTURE(path, "keras_h5/bank_churn.h5");
  EXPECT_TRUE(IsHdf5File(path));
  auto file = ReadKerasH5(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->path, path);
  EXPECT_EQ(file->keras_version, "2.12.0");
  EXPECT_EQ(file->backend, "tensorflow");
  ASSERT_TRUE(file->model_config.has_value());
  EXPECT_EQ((*file->model_config)["class_name"], "Sequential");
  ASSERT_TRUE(file->training_config.has_value());
  EXPECT_TRUE(file->training_config->contains("loss"));
  ASSERT_EQ(file->layers.size(), 3u);  // optimizer_weights are not layers.
  const std::vector<std::pair<int64_t, int64_t>> dims = {
      {12, 64}, {64, 32}, {32, 1}};
  for (size_t i = 0; i < 3; ++i) {
    const KerasH5Layer& layer = file->layers[i];
    const std::string name = i == 0 ? "dense" : absl::StrCat("dense_", i);
    EXPECT_EQ(layer.name, name);
    ASSERT_EQ(layer.weights.size(), 2u);
    EXPECT_EQ(layer.weights[0].name, name + "/kernel:0");
    EXPECT_EQ(layer.weights[1].name, name + "/bias:0");
    EXPECT_EQ(layer.weights[0].value.dtype(), tensorflow::DT_FLOAT);
    EXPECT_EQ(layer.weights[0].value.shape(),
              TensorShape({dims[i].first, dims[i].second}));
    EXPECT_EQ(layer.weights[1].value.shape(), TensorShape({dims[i].second}));
    for (float v : Values(layer.weights[0].value))
      ASSERT_TRUE(std::isfinite(v));
  }
  EXPECT_EQ(file->FindLayer("dense_1"), &file->layers[1]);
  EXPECT_EQ(file->FindLayer("optimizer_weights"), nullptr);
}

// The weights, run through the model by hand (relu, relu, sigmoid), give the
// outputs numpy computed from the same file.
TEST_F(KerasH5Test, BankChurnWeightsReproduceExpectedOutputs) {
  SS_REQUIRE_FIXTURE(path, "keras_h5/bank_churn.h5");
  SS_REQUIRE_FIXTURE(expected_path, "expected/keras_h5_bank_churn.json");
  auto file = ReadKerasH5(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto expected = nlohmann::json::parse(ReadFileOrDie(expected_path));
  const auto& in = expected["inputs"]["dense_input"];
  const auto& out = expected["outputs"]["dense_2"];
  const int64_t batch = in["shape"][0].get<int64_t>();
  std::vector<double> x = in["values"].get<std::vector<double>>();
  int64_t width = in["shape"][1].get<int64_t>();
  for (size_t l = 0; l < file->layers.size(); ++l) {
    const Tensor& kernel = file->layers[l].weights[0].value;
    const Tensor& bias = file->layers[l].weights[1].value;
    ASSERT_EQ(kernel.shape().dim(0), width);
    const int64_t units = kernel.shape().dim(1);
    std::vector<double> y(batch * units);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t u = 0; u < units; ++u) {
        double sum = bias.data<float>()[u];
        for (int64_t k = 0; k < width; ++k) {
          sum += x[b * width + k] * kernel.data<float>()[k * units + u];
        }
        const bool last = l + 1 == file->layers.size();
        y[b * units + u] = last ? 1 / (1 + std::exp(-sum)) : std::max(sum, 0.0);
      }
    }
    x = std::move(y);
    width = units;
  }
  const auto want = out["values"].get<std::vector<double>>();
  ASSERT_EQ(x.size(), want.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(x[i], want[i], expected["atol"].get<double>())
        << "output " << i;
  }
}

// Each Dense layer of the config has a kernel [input_dim, units] and a bias
// [units]; exactly the config's layers that have weights carry weights in the
// file.
TEST_F(KerasH5Test, BankChurnWeightsAgreeWithModelConfig) {
  SS_REQUIRE_FIXTURE(path, "keras_h5/bank_churn.h5");
  auto file = ReadKerasH5(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = ParseKerasModelConfig(*file->model_config);
  ASSERT_TRUE(config.ok()) << config.status();
  std::vector<std::string> config_with_weights, file_with_weights;
  KerasShape shape;
  for (const KerasLayerConfig& layer : config->layers) {
    std::vector<KerasShape> inputs;
    if (!layer.inbound_nodes.empty()) inputs.push_back(shape);
    auto out = InferKerasOutputShape(layer.class_name, layer.config, inputs);
    ASSERT_TRUE(out.ok() && out->has_value()) << layer.name;
    if (layer.class_name == "Dense") {
      config_with_weights.push_back(layer.name);
      const int64_t units = layer.config["units"].get<int64_t>();
      const KerasH5Layer* weights = file->FindLayer(layer.name);
      ASSERT_NE(weights, nullptr) << layer.name;
      ASSERT_EQ(weights->weights.size(), 2u);
      EXPECT_EQ(weights->weights[0].value.shape(),
                TensorShape({shape->back(), units}));
      EXPECT_EQ(weights->weights[1].value.shape(), TensorShape({units}));
    }
    shape = *out;
  }
  for (const KerasH5Layer& layer : file->layers) {
    if (!layer.weights.empty()) file_with_weights.push_back(layer.name);
  }
  EXPECT_EQ(file_with_weights, config_with_weights);
}

// save_weights() layout with Keras-2.1-era numpy bytes (fixed-length)
// attributes.
TEST_F(KerasH5Test, ReadsWeightsOnlyFile) {
  const std::string path = dir_.Join("weights.h5");
  {
    Id file(CreateFile(path), H5Fclose);
    WriteLayers(file, SmallMlp(), Strings::kFixed);
    WriteStrings(file, "backend", {"tensorflow"}, Strings::kFixedScalar);
    WriteStrings(file, "keras_version", {"2.1.6"}, Strings::kFixedScalar);
  }
  auto file = ReadKerasH5(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_FALSE(file->model_config.has_value());
  EXPECT_FALSE(file->training_config.has_value());
  EXPECT_EQ(file->keras_version, "2.1.6");
  EXPECT_EQ(file->backend, "tensorflow");
  ASSERT_EQ(file->layers.size(), 3u);
  EXPECT_EQ(file->layers[0].weights[0].name, "dense/kernel:0");
  EXPECT_EQ(file->layers[0].weights[0].value.shape(), TensorShape({2, 3}));
  EXPECT_EQ(Values(file->layers[0].weights[0].value),
            (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Values(file->layers[0].weights[1].value),
            (std::vector<float>{0.5, -0.5, 0}));
  EXPECT_EQ(file->layers[1].name, "dropout");
  EXPECT_TRUE(file->layers[1].weights.empty());
  EXPECT_EQ(Values(file->layers[2].weights[0].value),
            (std::vector<float>{7, 8, 9}));
}

// A full model as Keras 2.1 saved it: list-style Sequential config in a bytes
// attribute, attributes split into chunks (layer_names0, layer_names1).
TEST_F(KerasH5Test, ReadsListStyleModelWithChunkedAttributes) {
  const std::string path = dir_.Join("model.h5");
  const std::string config = R"({"class_name": "Sequential", "config": [
      {"class_name": "Dense", "config": {"name": "dense", "units": 3, "dtype": "float32",
       "batch_input_shape": [null, 2], "activation": "relu"}},
      {"class_name": "Dropout", "config": {"name": "dropout", "rate": 0.5}},
      {"class_name": "Dense", "config": {"name": "dense_1", "units": 1, "max": Infinity}}]})";
  {
    Id file(CreateFile(path), H5Fclose);
    WriteStrings(file, "model_config", {config}, Strings::kFixedScalar);
    WriteStrings(file, "keras_version", {"2.1.6"}, Strings::kVariableScalar);
    Id weights(H5Gcreate2(file, "model_weights", H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT),
               H5Gclose);
    WriteLayers(weights, SmallMlp(), Strings::kVariable);
    ASSERT_GE(H5Adelete(weights, "layer_names"), 0);
    WriteStrings(weights, "layer_names0", {"dense", "dropout"},
                 Strings::kFixed);
    WriteStrings(weights, "layer_names1", {"dense_1"}, Strings::kVariable);
  }
  auto file = ReadKerasH5(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->layers.size(), 3u);
  EXPECT_EQ(file->layers[2].name, "dense_1");
  ASSERT_TRUE(file->model_config.has_value());
  auto parsed = ParseKerasModelConfig(*file->model_config);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto signature = SynthesizeServingSignature(*parsed);
  ASSERT_TRUE(signature.ok()) << signature.status();
  ASSERT_EQ(signature->inputs.size(), 1u);
  EXPECT_EQ(signature->inputs[0].name, "dense_input");
  EXPECT_EQ(signature->inputs[0].shape, KerasShape({-1, 2}));
  EXPECT_EQ(signature->outputs[0].name, "dense_1");
  EXPECT_EQ(signature->outputs[0].shape, KerasShape({-1, 1}));
}

// float16, float64, big-endian float32 and integer datasets keep their values.
TEST_F(KerasH5Test, ReadsOtherElementTypes) {
  const std::string path = dir_.Join("types.h5");
  {
    Id file(CreateFile(path), H5Fclose);
    WriteStrings(file, "layer_names", {"l"}, Strings::kVariable);
    Id g(H5Gcreate2(file, "l", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
         H5Gclose);
    WriteStrings(g, "weight_names",
                 {"l/half:0", "l/double:0", "l/be:0", "l/int:0", "l/step:0"},
                 Strings::kVariable);
    // h5py's float16: IEEE binary16, little-endian. 1.5 = 0x3E00, -2 = 0xC000.
    Id half(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
    ASSERT_GE(H5Tset_fields(half, 15, 10, 5, 0, 10), 0);
    ASSERT_GE(H5Tset_size(half, 2), 0);
    ASSERT_GE(H5Tset_ebias(half, 15), 0);
    WriteDataset<uint16_t>(g, "l/half:0", {2}, {0x3E00, 0xC000}, half, half);
    WriteDataset<double>(g, "l/double:0", {1}, {0.25}, H5T_IEEE_F64LE,
                         H5T_NATIVE_DOUBLE);
    WriteDataset<float>(g, "l/be:0", {2}, {3.5f, -1}, H5T_IEEE_F32BE,
                        H5T_NATIVE_FLOAT);
    WriteDataset<int32_t>(g, "l/int:0", {2, 1}, {-7, 9}, H5T_STD_I32BE,
                          H5T_NATIVE_INT32);
    WriteDataset<int64_t>(g, "l/step:0", {}, {42}, H5T_STD_I64LE,
                          H5T_NATIVE_INT64);
  }
  auto file = ReadKerasH5(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto& w = file->layers[0].weights;
  ASSERT_EQ(w.size(), 5u);
  EXPECT_EQ(w[0].value.dtype(), tensorflow::DT_HALF);
  EXPECT_EQ(w[0].value.data<uint16_t>()[0], 0x3E00);
  EXPECT_EQ(w[0].value.data<uint16_t>()[1], 0xC000);
  EXPECT_EQ(w[1].value.dtype(), tensorflow::DT_DOUBLE);
  EXPECT_EQ(w[1].value.data<double>()[0], 0.25);
  EXPECT_EQ(Values(w[2].value), (std::vector<float>{3.5f, -1}));
  EXPECT_EQ(w[3].value.dtype(), tensorflow::DT_INT32);
  EXPECT_EQ(w[3].value.shape(), TensorShape({2, 1}));
  EXPECT_EQ(w[3].value.data<int32_t>()[0], -7);
  EXPECT_EQ(w[4].value.dtype(), tensorflow::DT_INT64);
  EXPECT_EQ(w[4].value.shape(), TensorShape({}));
  EXPECT_EQ(w[4].value.data<int64_t>()[0], 42);
}

TEST_F(KerasH5Test, ReadsFileWithUserBlock) {
  const std::string path = dir_.Join("userblock.h5");
  {
    Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    ASSERT_GE(H5Pset_userblock(fcpl, 1024), 0);
    Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT),
            H5Fclose);
    WriteLayers(file, SmallMlp(), Strings::kVariable);
  }
  EXPECT_NE(ReadFileOrDie(path).substr(0, 4), "\x89HDF");
  EXPECT_TRUE(IsHdf5File(path));
  auto file = ReadKerasH5(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->layers.size(), 3u);
}

TEST_F(KerasH5Test, RejectsFilesThatAreNotHdf5) {
  const std::string text = dir_.Join("model.h5");
  WriteFileOrDie(text, "{\"class_name\": \"Sequential\"}");
  EXPECT_FALSE(IsHdf5File(text));
  absl::Status status = ReadError(text);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), text)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "not an HDF5 file"))
      << status;

  const std::string empty = dir_.Join("empty.h5");
  WriteFileOrDie(empty, "");
  EXPECT_FALSE(ReadKerasH5(empty).ok());
  EXPECT_FALSE(IsHdf5File(dir_.Join("missing.h5")));
  EXPECT_EQ(ReadError(dir_.Join("missing.h5")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(ReadKerasH5(dir_.path()).ok());  // A directory.
}

TEST_F(KerasH5Test, RejectsTruncatedCopiesOfBankChurn) {
  SS_REQUIRE_FIXTURE(path, "keras_h5/bank_churn.h5");
  const std::string bytes = ReadFileOrDie(path);
  const size_t n = bytes.size();
  for (size_t length :
       {size_t{4}, size_t{8}, size_t{96}, size_t{800}, size_t{2048}, n / 4,
        n / 2, 3 * n / 4, n - 4096, n - 1}) {
    const std::string cut = dir_.Join(absl::StrCat("cut_", length, ".h5"));
    WriteFileOrDie(cut, bytes.substr(0, length));
    absl::Status status = ReadError(cut);
    EXPECT_TRUE(absl::StrContains(status.message(), cut)) << status;
  }
}

TEST_F(KerasH5Test, ReportsMissingKerasAttributes) {
  const std::string none = dir_.Join("plain.h5");
  { Id file(CreateFile(none), H5Fclose); }
  absl::Status status = ReadError(none);
  EXPECT_TRUE(absl::StrContains(status.message(), "layer_names")) << status;

  const std::string no_layer_names = dir_.Join("no_layer_names.h5");
  {
    Id file(CreateFile(no_layer_names), H5Fclose);
    Id weights(H5Gcreate2(file, "model_weights", H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT),
               H5Gclose);
  }
  status = ReadError(no_layer_names);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(status.message(),
                                "/model_weights has no 'layer_names'"))
      << status;

  const std::string no_weight_names = dir_.Join("no_weight_names.h5");
  {
    Id file(CreateFile(no_weight_names), H5Fclose);
    WriteLayers(file, SmallMlp(), Strings::kVariable);
    Id g(H5Gopen2(file, "dense_1", H5P_DEFAULT), H5Gclose);
    ASSERT_GE(H5Adelete(g, "weight_names"), 0);
  }
  status = ReadError(no_weight_names);
  EXPECT_TRUE(
      absl::StrContains(status.message(), "/dense_1 has no 'weight_names'"))
      << status;
}

TEST_F(KerasH5Test, ReportsNamesThatPointNowhere) {
  const std::string missing_dataset = dir_.Join("missing_dataset.h5");
  {
    Id file(CreateFile(missing_dataset), H5Fclose);
    WriteLayers(file, SmallMlp(), Strings::kVariable);
    Id g(H5Gopen2(file, "dense", H5P_DEFAULT), H5Gclose);
    ASSERT_GE(H5Ldelete(g, "dense/bias:0", H5P_DEFAULT), 0);
  }
  absl::Status status = ReadError(missing_dataset);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(status.message(), "'dense/bias:0'")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), missing_dataset)) << status;

  const std::string missing_layer = dir_.Join("missing_layer.h5");
  {
    Id file(CreateFile(missing_layer), H5Fclose);
    WriteLayers(file, SmallMlp(), Strings::kVariable);
    ASSERT_GE(H5Adelete(file, "layer_names"), 0);
    WriteStrings(file, "layer_names", {"dense", "ghost"}, Strings::kVariable);
  }
  status = ReadError(missing_layer);
  EXPECT_TRUE(absl::StrContains(status.message(), "layer 'ghost'")) << status;
}

TEST_F(KerasH5Test, RejectsBadAttributeAndDatasetTypes) {
  const std::string numeric_names = dir_.Join("numeric_names.h5");
  {
    Id file(CreateFile(numeric_names), H5Fclose);
    const hsize_t two = 2;
    Id space(H5Screate_simple(1, &two, nullptr), H5Sclose);
    Id attr(H5Acreate2(file, "layer_names", H5T_STD_I32LE, space, H5P_DEFAULT,
                       H5P_DEFAULT),
            H5Aclose);
  }
  absl::Status status = ReadError(numeric_names);
  EXPECT_TRUE(absl::StrContains(status.message(), "'layer_names'")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "expected strings"))
      << status;

  const std::string bad_config = dir_.Join("bad_config.h5");
  {
    Id file(CreateFile(bad_config), H5Fclose);
    WriteStrings(file, "model_config", {"{\"class_name\": "},
                 Strings::kVariableScalar);
    WriteLayers(file, SmallMlp(), Strings::kVariable);
  }
  status = ReadError(bad_config);
  EXPECT_TRUE(absl::StrContains(status.message(), "model_config")) << status;

  const std::string strings = dir_.Join("string_dataset.h5");
  {
    Id file(CreateFile(strings), H5Fclose);
    WriteStrings(file, "layer_names", {"l"}, Strings::kVariable);
    Id g(H5Gcreate2(file, "l", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
         H5Gclose);
    WriteStrings(g, "weight_names", {"w:0"}, Strings::kVariable);
    Id type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type, 4);
    WriteDataset<char>(g, "w:0", {1}, {'a', 'b', 'c', 'd'}, type, type);
  }
  status = ReadError(strings);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StrContains(status.message(), "'w:0'")) << status;
}

// A dataset declaring 4 TiB in a file of a few KB is refused before allocating.
TEST_F(KerasH5Test, RefusesDatasetsLargerThanTheFile) {
  const std::string path = dir_.Join("huge.h5");
  {
    Id file(CreateFile(path), H5Fclose);
    WriteStrings(file, "layer_names", {"l"}, Strings::kVariable);
    Id g(H5Gcreate2(file, "l", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
         H5Gclose);
    WriteStrings(g, "weight_names", {"huge:0"}, Strings::kVariable);
    const hsize_t dims[2] = {hsize_t{1} << 20, hsize_t{1} << 20};
    const hsize_t chunk[2] = {64, 64};
    Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    ASSERT_GE(H5Pset_chunk(dcpl, 2, chunk), 0);
    Id space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    Id dataset(H5Dcreate2(g, "huge:0", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl,
                          H5P_DEFAULT),
               H5Dclose);
  }
  absl::Status status = ReadError(path);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(status.message(), "'huge:0'")) << status;
}

// A layer group that is an external link to another file is not followed.
TEST_F(KerasH5Test, DoesNotFollowExternalLinks) {
  const std::string other = dir_.Join("other.h5");
  {
    Id file(CreateFile(other), H5Fclose);
    WriteLayers(file, SmallMlp(), Strings::kVariable);
  }
  const std::string path = dir_.Join("linking.h5");
  {
    Id file(CreateFile(path), H5Fclose);
    WriteStrings(file, "layer_names", {"dense"}, Strings::kVariable);
    ASSERT_GE(H5Lcreate_external(other.c_str(), "/dense", file, "dense",
                                 H5P_DEFAULT, H5P_DEFAULT),
              0);
  }
  absl::Status status = ReadError(path);
  EXPECT_TRUE(absl::StrContains(status.message(), "layer 'dense'")) << status;
}

}  // namespace
}  // namespace swapserve
