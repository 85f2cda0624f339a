// Tests for trainer/saved_model_export: the exported mlp and cnn run on our engine
// and match a forward pass written here with plain loops; the slots are keyed by
// the Keras checkpoint keys (a real Keras ModelCheckpoint swaps in); the CLI runs
// and shows the export; bad weights are clear errors; and saved_model.pb is
// TF-shaped (ops TF has, their required attributes, the V2 saver, the signature).
#include "trainer/saved_model_export.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/formats/saved_model.h"
#include "model/loaded_model.h"
#include "nlohmann/json.hpp"
#include "tensorflow/core/protobuf/saved_model.pb.h"
#include "tests/test_support.h"

namespace swapserve::trainer {
namespace {

using json = nlohmann::json;
using ::swapserve::testing::BuiltProgram;
using ::swapserve::testing::RunCommand;
using ::swapserve::testing::TempDir;
using Dims = std::vector<int64_t>;

// ---- Weights and inputs -------------------------------------------------------

Tensor RandomTensor(const Dims& dims, std::mt19937& rng, float lo, float hi) {
  Tensor t = Tensor::Allocate(tensorflow::DT_FLOAT, *TensorShape::Make(dims)).value();
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// Weight shapes written out by hand (not derived from the exporter's own walk),
// so a wrong shape inference in the exporter cannot agree with itself here.
std::vector<std::pair<std::string, Dims>> HandShapes(const std::string& model) {
  if (model == "mlp") {
    return {{WeightKey(0, "kernel"), {784, 512}},
            {WeightKey(0, "bias"), {512}},
            {WeightKey(1, "kernel"), {512, 10}},
            {WeightKey(1, "bias"), {10}}};
  }
  // 28 -conv3-> 26 -pool2-> 13 -conv3-> 11 -pool2-> 5: 5*5*64 = 1600 features.
  return {{WeightKey(0, "kernel"), {3, 3, 1, 32}},  {WeightKey(0, "bias"), {32}},
          {WeightKey(1, "kernel"), {3, 3, 32, 64}}, {WeightKey(1, "bias"), {64}},
          {WeightKey(2, "kernel"), {1600, 128}},    {WeightKey(2, "bias"), {128}},
          {WeightKey(3, "kernel"), {128, 10}},      {WeightKey(3, "bias"), {10}}};
}

std::map<std::string, Tensor> RandomWeights(const std::string& model, uint32_t seed) {
  std::mt19937 rng(seed);
  std::map<std::string, Tensor> w;
  for (const auto& [key, dims] : HandShapes(model)) w[key] = RandomTensor(dims, rng, -0.2f, 0.2f);
  return w;
}

// ---- Reference forward pass (plain loops, double accumulators) ---------------

struct Act {
  Dims dims;  // with the batch: [B, n] or [B, H, W, C]
  std::vector<double> v;
};

Act DenseRef(const Act& x, const Tensor& k, const Tensor& b, bool relu) {
  const int64_t batch = x.dims[0], in = x.dims[1], out = k.shape().dim(1);
  Act y{{batch, out}, std::vector<double>(batch * out)};
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t o = 0; o < out; ++o) {
      double s = b.data<float>()[o];
      for (int64_t i = 0; i < in; ++i) s += x.v[n * in + i] * k.data<float>()[i * out + o];
      y.v[n * out + o] = relu ? std::max(s, 0.0) : s;
    }
  }
  return y;
}

// VALID, stride 1, kernel HWIO, data NHWC; relu after the bias.
Act ConvRef(const Act& x, const Tensor& k, const Tensor& b) {
  const int64_t B = x.dims[0], H = x.dims[1], W = x.dims[2], C = x.dims[3];
  const int64_t K = k.shape().dim(0), O = k.shape().dim(3), OH = H - K + 1, OW = W - K + 1;
  Act y{{B, OH, OW, O}, std::vector<double>(B * OH * OW * O)};
  for (int64_t n = 0; n < B; ++n)
    for (int64_t r = 0; r < OH; ++r)
      for (int64_t c = 0; c < OW; ++c)
        for (int64_t o = 0; o < O; ++o) {
          double s = b.data<float>()[o];
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < K; ++j)
              for (int64_t ch = 0; ch < C; ++ch) {
                s += x.v[((n * H + r + i) * W + c + j) * C + ch] *
                     k.data<float>()[((i * K + j) * C + ch) * O + o];
              }
          y.v[((n * OH + r) * OW + c) * O + o] = std::max(s, 0.0);
        }
  return y;
}

Act MaxPoolRef(const Act& x, int64_t p) {
  const int64_t B = x.dims[0], H = x.dims[1], W = x.dims[2], C = x.dims[3];
  const int64_t OH = (H - p) / p + 1, OW = (W - p) / p + 1;
  Act y{{B, OH, OW, C}, std::vector<double>(B * OH * OW * C)};
  for (int64_t n = 0; n < B; ++n)
    for (int64_t r = 0; r < OH; ++r)
      for (int64_t c = 0; c < OW; ++c)
        for (int64_t ch = 0; ch < C; ++ch) {
          double m = -INFINITY;
          for (int64_t i = 0; i < p; ++i)
            for (int64_t j = 0; j < p; ++j)
              m = std::max(m, x.v[((n * H + r * p + i) * W + c * p + j) * C + ch]);
          y.v[((n * OH + r) * OW + c) * C + ch] = m;
        }
  return y;
}

Act Reference(const std::string& model, const std::map<std::string, Tensor>& w,
              const Tensor& input) {
  Act x{input.shape().dims(), {}};
  for (int64_t i = 0; i < input.num_elements(); ++i) x.v.push_back(input.data<float>()[i]);
  auto k = [&](int n) { return w.at(WeightKey(n, "kernel")); };
  auto b = [&](int n) { return w.at(WeightKey(n, "bias")); };
  if (model == "mlp") return DenseRef(DenseRef(x, k(0), b(0), true), k(1), b(1), false);
  x = MaxPoolRef(ConvRef(x, k(0), b(0)), 2);
  x = MaxPoolRef(ConvRef(x, k(1), b(1)), 2);
  x.dims = {x.dims[0], x.dims[1] * x.dims[2] * x.dims[3]};  // NHWC row-major flatten
  return DenseRef(DenseRef(x, k(2), b(2), true), k(3), b(3), false);
}

ModelSpec SpecOf(const std::string& model) { return model == "mlp" ? MlpSpec() : CnnSpec(); }

Tensor RandomInput(const ModelSpec& spec, int64_t batch, uint32_t seed) {
  Dims dims{batch};
  dims.insert(dims.end(), spec.input_shape.begin(), spec.input_shape.end());
  std::mt19937 rng(seed);
  return RandomTensor(dims, rng, 0.0f, 1.0f);
}

// ---- Tests --------------------------------------------------------------------

class ExportTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExportTest, ServesWhatAHandWrittenForwardPassComputes) {
  const std::string model = GetParam();
  const ModelSpec spec = SpecOf(model);
  const auto weights = RandomWeights(model, 1234);
  TempDir tmp;
  const std::string dir = tmp.Join("export/1");
  ASSERT_TRUE(ExportSavedModel(spec, weights, dir).ok());
  absl::StatusOr<std::unique_ptr<LoadedModel>> loaded = LoadModel(dir, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<const Plan*> plan = (*loaded)->FindPlan("serving_default");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ((*plan)->inputs().size(), 1u);
  EXPECT_EQ((*plan)->inputs()[0].alias, spec.input_name());
  ASSERT_EQ((*plan)->outputs().size(), 1u);
  EXPECT_EQ((*plan)->outputs()[0].alias, spec.output_name());

  const Tensor input = RandomInput(spec, 3, 99);
  absl::StatusOr<std::vector<Tensor>> out = (*plan)->Run(*(*loaded)->weights, {input});
  ASSERT_TRUE(out.ok()) << out.status();
  const Act want = Reference(model, weights, input);
  ASSERT_EQ((*out)[0].shape().dims(), (Dims{3, 10}));
  double max_abs = 0;
  for (int64_t i = 0; i < 30; ++i) {
    EXPECT_NEAR((*out)[0].data<float>()[i], want.v[i], 1e-4) << model << " output " << i;
    max_abs = std::max(max_abs, std::abs(want.v[i]));
  }
  EXPECT_GT(max_abs, 0.1) << "logits too small to tell weights apart";
}

TEST_P(ExportTest, SlotsAreTheKerasCheckpointKeys) {
  const std::string model = GetParam();
  TempDir tmp;
  ASSERT_TRUE(ExportSavedModel(SpecOf(model), RandomWeights(model, 1), tmp.path()).ok());
  auto loaded = LoadModel(tmp.path(), {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::set<std::string> keys;
  for (const SlotSpec& s : (*loaded)->slots) {
    keys.insert(s.checkpoint_key);
    EXPECT_TRUE(s.shape_known) << s.variable;
  }
  std::set<std::string> want;
  for (const auto& [key, dims] : HandShapes(model)) want.insert(key);
  EXPECT_EQ(keys, want);
  EXPECT_EQ((*loaded)->slots.size(), want.size());
}

TEST_P(ExportTest, CliRunsAndShowsTheExport) {
  const std::string model = GetParam();
  const ModelSpec spec = SpecOf(model);
  const auto weights = RandomWeights(model, 7);
  TempDir tmp;
  const std::string dir = tmp.Join("m");
  ASSERT_TRUE(ExportSavedModel(spec, weights, dir).ok());
  const Tensor input = RandomInput(spec, 2, 5);
  json in = {
      {"inputs", {{spec.input_name(), {{"dtype", "DT_FLOAT"}, {"shape", input.shape().dims()}}}}}};
  json values = json::array();
  for (int64_t i = 0; i < input.num_elements(); ++i) values.push_back(input.data<float>()[i]);
  in["inputs"][spec.input_name()]["values"] = values;
  swapserve::testing::WriteFileOrDie(tmp.Join("in.json"), in.dump());

  const std::string cli = BuiltProgram("client/swapserve-cli");
  auto r = RunCommand(cli + " run '" + dir + "' --input '" + tmp.Join("in.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json got = json::parse(r.out)["outputs"][spec.output_name()];
  EXPECT_EQ(got["shape"], json({2, 10})) << r.out;
  const Act want = Reference(model, weights, input);
  ASSERT_EQ(got["values"].size(), 20u) << r.out;
  for (size_t i = 0; i < 20; ++i) EXPECT_NEAR(got["values"][i].get<double>(), want.v[i], 1e-4);

  auto show = RunCommand(cli + " show '" + dir + "' --json");
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const json d = json::parse(show.out);
  const json& sig = d["signatures"]["serving_default"];
  EXPECT_FALSE(sig.contains("unavailable")) << show.out;
  EXPECT_EQ(sig["inputs"][spec.input_name()]["name"], spec.input_name() + ":0");
  EXPECT_EQ(sig["outputs"][spec.output_name()]["shape"], json({-1, 10}));
  for (const auto& [key, dims] : HandShapes(model)) {
    ASSERT_TRUE(d["variables"].contains(key)) << show.out;
    EXPECT_EQ(d["variables"][key]["shape"], json(dims));
    EXPECT_FALSE(d["variables"][key].contains("error"));
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ExportTest, ::testing::Values("mlp", "cnn"));

// The point of the Keras keys: a checkpoint Keras itself wrote for the seed's mlp
// (ModelCheckpoint, TF2 object-graph keys) swaps into our export, and the outputs
// are the ones Keras computed.
TEST(ExportKerasCheckpointTest, KerasModelCheckpointLoadsIntoTheExport) {
  SS_REQUIRE_FIXTURE(expected_path, "expected/keras_seed_mlp.json");
  std::ifstream f(expected_path);
  const json c = json::parse(f);
  SS_REQUIRE_FIXTURE(checkpoint, c["checkpoint"].get<std::string>());
  TempDir tmp;
  ASSERT_TRUE(ExportSavedModel(MlpSpec(), RandomWeights("mlp", 3), tmp.path()).ok());
  LoadOptions options;
  options.checkpoint = checkpoint;
  auto loaded = LoadModel(tmp.path(), options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const json& in = c["inputs"].begin().value();
  Tensor x =
      Tensor::Allocate(tensorflow::DT_FLOAT, *TensorShape::Make(in["shape"].get<Dims>())).value();
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = in["values"][i].get<float>();
  auto out = (*(*loaded)->FindPlan(""))->Run(*(*loaded)->weights, {x});
  ASSERT_TRUE(out.ok()) << out.status();
  const json& want = c["outputs"].begin().value()["values"];
  ASSERT_EQ(static_cast<size_t>((*out)[0].num_elements()), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR((*out)[0].data<float>()[i], want[i].get<double>(), c["atol"].get<double>());
  }
}

// ---- Errors ---------------------------------------------------------------------

TEST(ExportErrorTest, MissingWeightNamesTheKeyAndShape) {
  auto weights = RandomWeights("mlp", 1);
  weights.erase(WeightKey(0, "kernel"));
  TempDir tmp;
  const absl::Status s = ExportSavedModel(MlpSpec(), weights, tmp.Join("m"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), WeightKey(0, "kernel"))) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "[784,512]")) << s;
  EXPECT_FALSE(std::filesystem::exists(tmp.Join("m"))) << "nothing is written on error";
}

TEST(ExportErrorTest, WrongShapeNamesTheKeyAndShape) {
  auto weights = RandomWeights("cnn", 1);
  std::mt19937 rng(1);
  weights[WeightKey(2, "kernel")] = RandomTensor({1024, 128}, rng, -1, 1);
  TempDir tmp;
  const absl::Status s = ExportSavedModel(CnnSpec(), weights, tmp.Join("m"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), WeightKey(2, "kernel"))) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "[1600,128]")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "[1024,128]")) << s;
}

TEST(ExportErrorTest, WrongDtypeAndUnknownKeyAreRejected) {
  auto weights = RandomWeights("mlp", 1);
  weights[WeightKey(1, "bias")] =
      Tensor::Allocate(tensorflow::DT_DOUBLE, TensorShape({10})).value();
  TempDir tmp;
  absl::Status s = ExportSavedModel(MlpSpec(), weights, tmp.Join("m"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "DT_DOUBLE")) << s;

  weights = RandomWeights("mlp", 1);
  std::mt19937 rng(1);
  weights[WeightKey(2, "kernel")] = RandomTensor({10, 10}, rng, -1, 1);
  s = ExportSavedModel(MlpSpec(), weights, tmp.Join("m"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), WeightKey(2, "kernel"))) << s;
}

// The export appears whole under its name (written in a hidden sibling, then
// renamed), never over an existing export.
TEST(ExportDirTest, WritesIntoAnEmptyDirAndRefusesAnExistingExport) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.Join("1"));
  ASSERT_TRUE(ExportSavedModel(MlpSpec(), RandomWeights("mlp", 1), tmp.Join("1/")).ok());
  EXPECT_TRUE(IsSavedModelDir(tmp.Join("1")));
  std::vector<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
    entries.push_back(e.path().filename().string());
  }
  EXPECT_EQ(entries, std::vector<std::string>{"1"}) << "no temporary directory is left";
  const absl::Status s = ExportSavedModel(MlpSpec(), RandomWeights("mlp", 2), tmp.Join("1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  auto loaded = LoadModel(tmp.Join("1"), {});
  EXPECT_TRUE(loaded.ok()) << "the first export is untouched: " << loaded.status();
}

// ---- The proto, as TensorFlow would read it ---------------------------------------

// The ops the exporter may use; every one is a stock TF op (TF 1.14+ and 2.x).
const std::set<std::string> kTfOps = {"AssignVariableOp",
                                      "BiasAdd",
                                      "Const",
                                      "Conv2D",
                                      "Fill",
                                      "Identity",
                                      "MatMul",
                                      "MaxPool",
                                      "NoOp",
                                      "Placeholder",
                                      "PlaceholderWithDefault",
                                      "ReadVariableOp",
                                      "Relu",
                                      "Reshape",
                                      "RestoreV2",
                                      "SaveV2",
                                      "VarHandleOp"};

// The attributes TF requires on each (no default in TF's OpDef), plus the ones
// TF always writes and our engine reads (data_format, dilations, ...).
const std::map<std::string, std::vector<std::string>> kRequiredAttrs = {
    {"AssignVariableOp", {"dtype"}},
    {"BiasAdd", {"T", "data_format"}},
    {"Const", {"dtype", "value"}},
    {"Conv2D",
     {"T", "strides", "padding", "data_format", "dilations", "use_cudnn_on_gpu",
      "explicit_paddings"}},
    {"Fill", {"T", "index_type"}},
    {"Identity", {"T"}},
    {"MatMul", {"T", "transpose_a", "transpose_b"}},
    {"MaxPool", {"T", "ksize", "strides", "padding", "data_format"}},
    {"NoOp", {}},
    {"Placeholder", {"dtype", "shape"}},
    {"PlaceholderWithDefault", {"dtype", "shape"}},
    {"ReadVariableOp", {"dtype"}},
    {"Relu", {"T"}},
    {"Reshape", {"T", "Tshape"}},
    {"RestoreV2", {"dtypes"}},
    {"SaveV2", {"dtypes"}},
    {"VarHandleOp", {"container", "shared_name", "dtype", "shape"}}};

tensorflow::SavedModel ExportAndParse(const std::string& model, const std::string& dir) {
  EXPECT_TRUE(ExportSavedModel(SpecOf(model), RandomWeights(model, 2), dir).ok());
  tensorflow::SavedModel sm;
  EXPECT_TRUE(sm.ParseFromString(swapserve::testing::ReadFileOrDie(dir + "/saved_model.pb")));
  return sm;
}

std::string NodeOf(std::string input) {
  if (!input.empty() && input[0] == '^') input.erase(0, 1);
  return input.substr(0, input.find(':'));
}

class ExportProtoTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExportProtoTest, IsAServeMetaGraphWithAV2SaverAndStockOps) {
  const ModelSpec spec = SpecOf(GetParam());
  TempDir tmp;
  const tensorflow::SavedModel sm = ExportAndParse(GetParam(), tmp.path());
  EXPECT_EQ(sm.saved_model_schema_version(), 1);
  ASSERT_EQ(sm.meta_graphs_size(), 1);
  const tensorflow::MetaGraphDef& mg = sm.meta_graphs(0);
  EXPECT_EQ(
      std::vector<std::string>(mg.meta_info_def().tags().begin(), mg.meta_info_def().tags().end()),
      std::vector<std::string>{"serve"});
  EXPECT_FALSE(mg.meta_info_def().tensorflow_version().empty());
  EXPECT_GT(mg.graph_def().versions().producer(), 0);
  EXPECT_EQ(mg.saver_def().version(), tensorflow::SaverDef::V2);

  std::map<std::string, const tensorflow::NodeDef*> nodes;
  for (const auto& n : mg.graph_def().node()) {
    EXPECT_TRUE(nodes.emplace(n.name(), &n).second) << "duplicate node " << n.name();
    EXPECT_TRUE(kTfOps.contains(n.op())) << n.name() << " runs " << n.op();
    for (const std::string& attr : kRequiredAttrs.at(n.op())) {
      EXPECT_TRUE(n.attr().contains(attr)) << n.name() << " (" << n.op() << ") lacks " << attr;
    }
  }
  for (const auto& n : mg.graph_def().node()) {
    for (const std::string& in : n.input()) {
      EXPECT_TRUE(nodes.contains(NodeOf(in))) << n.name() << " reads missing " << in;
    }
  }
  const tensorflow::SaverDef& saver = mg.saver_def();
  EXPECT_TRUE(nodes.contains(NodeOf(saver.filename_tensor_name())));
  EXPECT_TRUE(nodes.contains(NodeOf(saver.save_tensor_name())));
  ASSERT_TRUE(nodes.contains(saver.restore_op_name()));
  EXPECT_EQ(nodes.at(saver.restore_op_name())->op(), "NoOp");

  ASSERT_TRUE(mg.signature_def().contains("serving_default"));
  const tensorflow::SignatureDef& sig = mg.signature_def().at("serving_default");
  EXPECT_EQ(sig.method_name(), "tensorflow/serving/predict");
  const tensorflow::TensorInfo& in = sig.inputs().at(spec.input_name());
  EXPECT_EQ(in.name(), spec.input_name() + ":0");
  EXPECT_EQ(in.dtype(), tensorflow::DT_FLOAT);
  EXPECT_EQ(in.tensor_shape().dim(0).size(), -1);
  EXPECT_EQ(in.tensor_shape().dim_size(), 1 + static_cast<int>(spec.input_shape.size()));
  EXPECT_EQ(nodes.at(NodeOf(in.name()))->op(), "Placeholder");
  const tensorflow::TensorInfo& out = sig.outputs().at(spec.output_name());
  EXPECT_EQ(out.dtype(), tensorflow::DT_FLOAT);
  ASSERT_EQ(out.tensor_shape().dim_size(), 2);
  EXPECT_EQ(out.tensor_shape().dim(1).size(), 10);
  EXPECT_TRUE(nodes.contains(NodeOf(out.name())));
}

// RestoreV2 and SaveV2 list exactly the Keras keys, whole tensors, and the restore
// op assigns each output to a variable.
TEST_P(ExportProtoTest, SaveAndRestoreListTheKerasKeys) {
  TempDir tmp;
  const tensorflow::SavedModel sm = ExportAndParse(GetParam(), tmp.path());
  std::vector<std::string> keys;
  for (const auto& [key, dims] : HandShapes(GetParam())) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  std::map<std::string, const tensorflow::NodeDef*> nodes;
  for (const auto& n : sm.meta_graphs(0).graph_def().node()) nodes[n.name()] = &n;
  auto strings = [&](const std::string& node) {
    const auto& t = nodes.at(node)->attr().at("value").tensor();
    return std::vector<std::string>(t.string_val().begin(), t.string_val().end());
  };
  for (const std::string op : {"save/RestoreV2", "save/SaveV2"}) {
    const tensorflow::NodeDef& n = *nodes.at(op);
    EXPECT_EQ(strings(NodeOf(n.input(1))), keys) << op;
    EXPECT_EQ(strings(NodeOf(n.input(2))), std::vector<std::string>(keys.size(), "")) << op;
    EXPECT_EQ(n.attr().at("dtypes").list().type_size(), static_cast<int>(keys.size()));
  }
  EXPECT_EQ(nodes.at("save/SaveV2")->input_size(), 3 + static_cast<int>(keys.size()));
  const auto hand = HandShapes(GetParam());
  const std::map<std::string, Dims> shape_of(hand.begin(), hand.end());
  int assigns = 0;
  for (const std::string& in : nodes.at("save/restore_all")->input()) {
    ASSERT_EQ(in[0], '^');
    const tensorflow::NodeDef& a = *nodes.at(NodeOf(in));
    EXPECT_EQ(a.op(), "AssignVariableOp");
    const tensorflow::NodeDef& var = *nodes.at(NodeOf(a.input(0)));
    EXPECT_EQ(var.op(), "VarHandleOp");
    // The variable restored from RestoreV2:i has the shape of the i-th key.
    const tensorflow::NodeDef& value = *nodes.at(NodeOf(a.input(1)));
    ASSERT_EQ(value.op(), "Identity");
    const std::string out = value.input(0);
    ASSERT_EQ(NodeOf(out), "save/RestoreV2");
    const size_t index =
        out.find(':') == std::string::npos ? 0 : std::stoul(out.substr(out.find(':') + 1));
    ASSERT_LT(index, keys.size());
    Dims dims;
    for (const auto& d : var.attr().at("shape").shape().dim()) dims.push_back(d.size());
    EXPECT_EQ(dims, shape_of.at(keys[index])) << var.name() << " restored from " << keys[index];
    ++assigns;
  }
  EXPECT_EQ(assigns, static_cast<int>(keys.size()));
}

// Every OpDef real TF wrote into the fixtures' stripped_op_list.
std::map<std::string, tensorflow::OpDef> FixtureOpDefs(const std::string& root) {
  std::map<std::string, tensorflow::OpDef> ops;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.path().filename() != "saved_model.pb") continue;
    tensorflow::SavedModel sm;
    if (!sm.ParseFromString(swapserve::testing::ReadFileOrDie(e.path().string()))) continue;
    for (const auto& mg : sm.meta_graphs()) {
      for (const auto& op : mg.meta_info_def().stripped_op_list().op()) ops[op.name()] = op;
    }
  }
  return ops;
}

int ExpectedInputs(const tensorflow::OpDef& op, const tensorflow::NodeDef& n) {
  int count = 0;
  for (const auto& arg : op.input_arg()) {
    // A missing attribute is reported by the caller; count it as 0 here.
    auto attr = n.attr().find(arg.number_attr().empty() ? arg.type_list_attr() : arg.number_attr());
    if (!arg.number_attr().empty()) {
      if (attr != n.attr().end()) count += static_cast<int>(attr->second.i());
    } else if (!arg.type_list_attr().empty()) {
      if (attr != n.attr().end()) count += attr->second.list().type_size();
    } else {
      ++count;
    }
  }
  return count;
}

// Checked against the OpDefs TF itself wrote (fixtures from TF 1.14 .. 2.14):
// every attribute without a default is set, no attribute TF does not declare is,
// and the number of data inputs is the op's. Covers the ops the fixtures use
// (MatMul, BiasAdd, Relu, Reshape, the variable and saver ops, ...).
TEST_P(ExportProtoTest, AttrsAgreeWithRealTfOpDefs) {
  SS_REQUIRE_FIXTURE(root, "");
  const auto opdefs = FixtureOpDefs(root);
  ASSERT_FALSE(opdefs.empty());
  TempDir tmp;
  const tensorflow::SavedModel sm = ExportAndParse(GetParam(), tmp.path());
  std::set<std::string> checked;
  for (const auto& n : sm.meta_graphs(0).graph_def().node()) {
    auto it = opdefs.find(n.op());
    if (it == opdefs.end()) continue;
    checked.insert(n.op());
    const tensorflow::OpDef& op = it->second;
    std::set<std::string> declared;
    for (const auto& a : op.attr()) {
      declared.insert(a.name());
      if (!a.has_default_value()) {
        EXPECT_TRUE(n.attr().contains(a.name())) << n.name() << " lacks " << a.name();
      }
    }
    for (const auto& [name, value] : n.attr()) {
      EXPECT_TRUE(declared.contains(name)) << n.name() << " sets undeclared " << name;
    }
    int data_inputs = 0;
    for (const std::string& in : n.input()) data_inputs += in[0] != '^';
    EXPECT_EQ(data_inputs, ExpectedInputs(op, n)) << n.name();
  }
  for (const char* op : {"VarHandleOp", "ReadVariableOp", "AssignVariableOp", "RestoreV2", "SaveV2",
                         "Const", "Placeholder", "MatMul", "BiasAdd"}) {
    EXPECT_TRUE(checked.contains(op)) << op << " was not checked against a TF OpDef";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ExportProtoTest, ::testing::Values("mlp", "cnn"));

}  // namespace
}  // namespace swapserve::trainer
