// swapserve-train's pieces: checkpoints with exactly Keras's keys and object
// graph, gradients equal to finite differences, Keras's Adam step, the
// checkpoint path format, IDX errors; resume: 2 epochs + resume 1 == 3 epochs in
// every tensor, the resume starts from the checkpoint's weights, an unusable one
// is an error; a seed gives one result with 2 threads as with 1.
#include <unistd.h>

#include <cmath>
#include <map>
#include <memory>
#include <sstream>

#include "gtest/gtest.h"
#include "model/formats/bundle_format.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/bundle_writer.h"
#include "model/formats/checkpoint_state.h"
#include "model/formats/object_graph.h"
#include "model/util/file.h"
#include "nlohmann/json.hpp"
#include "tests/test_support.h"
#include "trainer/adam.h"
#include "trainer/checkpoint_manager.h"
#include "trainer/idx_reader.h"
#include "trainer/keras_checkpoint.h"
#include "trainer/network.h"
#include "trainer/trainer.h"

namespace swapserve::trainer {
namespace {

using ::swapserve::testing::TempDir;

std::unique_ptr<BundleReader> Open(const std::string& prefix) {
  auto r = BundleReader::Open(prefix);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : nullptr;
}

// Node by node: children (ids and names), attributes (name, key), whether the
// node has values, slot references. full_name is the layer's Python name
// (dense_4 there, dense here) and not compared.
void ExpectSameStructure(const tensorflow::TrackableObjectGraph& want,
                         const tensorflow::TrackableObjectGraph& got) {
  ASSERT_EQ(got.nodes_size(), want.nodes_size());
  for (int i = 0; i < want.nodes_size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "node " << i);
    const auto &w = want.nodes(i), &g = got.nodes(i);
    ASSERT_EQ(g.children_size(), w.children_size());
    for (int c = 0; c < w.children_size(); ++c) {
      EXPECT_EQ(g.children(c).node_id(), w.children(c).node_id());
      EXPECT_EQ(g.children(c).local_name(), w.children(c).local_name());
    }
    ASSERT_EQ(g.attributes_size(), w.attributes_size());
    for (int a = 0; a < w.attributes_size(); ++a) {
      EXPECT_EQ(g.attributes(a).name(), w.attributes(a).name());
      EXPECT_EQ(g.attributes(a).checkpoint_key(), w.attributes(a).checkpoint_key());
    }
    EXPECT_EQ(g.has_checkpoint_values().value(), w.has_checkpoint_values().value());
    EXPECT_EQ(g.slot_variables_size(), w.slot_variables_size());
  }
}

TEST(TrainerCheckpointTest, SameKeysAndObjectGraphAsKeras) {
  SS_REQUIRE_FIXTURE(keras, "keras_seed_mlp/training_2/cp-0000.ckpt");
  TempDir dir;
  Network net(MlpSpec(), 1);
  ASSERT_TRUE(WriteKerasCheckpoint(dir.Join("cp-0000.ckpt"), net, nullptr).ok());
  auto want = Open(keras);
  auto got = Open(dir.Join("cp-0000.ckpt"));
  ASSERT_TRUE(want && got);
  ASSERT_EQ(got->entries().size(), want->entries().size());
  for (size_t i = 0; i < want->entries().size(); ++i) {
    EXPECT_EQ(got->entries()[i].key, want->entries()[i].key);
    EXPECT_EQ(got->entries()[i].dtype, want->entries()[i].dtype) << want->entries()[i].key;
    EXPECT_EQ(got->entries()[i].shape, want->entries()[i].shape) << want->entries()[i].key;
  }
  auto want_graph = ReadObjectGraph(*want);
  auto got_graph = ReadObjectGraph(*got);
  ASSERT_TRUE(want_graph.ok() && got_graph.ok());
  ExpectSameStructure(*want_graph, *got_graph);
}

TEST(TrainerCheckpointTest, WithOptimizerUsesKerasSlotNamesAndRestores) {
  SS_REQUIRE_FIXTURE(later, "keras_seed_mlp/training_2/cp-0005.ckpt");
  TempDir dir;
  Network net(MlpSpec(), 1);
  Adam adam(AdamConfig{}, net.params());
  std::vector<Floats> grads;
  for (const Param& p : net.params()) grads.emplace_back(p.value.size(), 0.5f);
  adam.Apply(grads, 1.0f, &net.params());
  ASSERT_TRUE(WriteKerasCheckpoint(dir.Join("ckpt"), net, &adam).ok());
  // The key set of Keras's own checkpoint written mid-training (its index only).
  auto keras = Open(later);
  auto ours = Open(dir.Join("ckpt"));
  ASSERT_TRUE(keras && ours);
  ASSERT_EQ(ours->entries().size(), keras->entries().size());
  for (size_t i = 0; i < keras->entries().size(); ++i) {
    EXPECT_EQ(ours->entries()[i].key, keras->entries()[i].key);
    EXPECT_EQ(ours->entries()[i].dtype, keras->entries()[i].dtype);
    EXPECT_EQ(ours->entries()[i].shape, keras->entries()[i].shape);
  }
  Network restored(MlpSpec(), 99);
  Adam restored_adam(AdamConfig{}, restored.params());
  ASSERT_TRUE(RestoreKerasCheckpoint(dir.Join("ckpt"), &restored, &restored_adam).ok());
  EXPECT_EQ(restored_adam.iterations(), 1);
  EXPECT_EQ(restored.params()[0].value, net.params()[0].value);
  EXPECT_EQ(restored_adam.v()[2], adam.v()[2]);
  // A weights-only checkpoint cannot resume an optimizer.
  ASSERT_TRUE(WriteKerasCheckpoint(dir.Join("weights"), net, nullptr).ok());
  absl::Status s = RestoreKerasCheckpoint(dir.Join("weights"), &restored, &restored_adam);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

// A small model with every layer kind, its input 6×6×2.
ModelSpec TinySpec() {
  ModelSpec spec = CnnSpec();
  spec.input_shape = {6, 6, 2};
  spec.layers[0].units = 3;  // conv2d: 3 filters → 4×4×3
  spec.layers.erase(spec.layers.begin() + 2, spec.layers.begin() + 4);  // drop conv2d_1 + pool
  spec.layers[3].units = 5;  // dense: 5 (after pool 2×2×3 → flatten 12)
  return spec;  // conv2d, max_pooling2d, flatten, dense(relu), dense_1(10)
}

TEST(TrainerNetworkTest, GradientsEqualFiniteDifferences) {
  Network net(TinySpec(), 3);
  const int64_t n = 3;
  Floats x(static_cast<size_t>(n * net.input_size()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * i);
  const std::vector<int32_t> labels = {1, 7, 3};
  std::vector<Floats> grads;
  for (const Param& p : net.params()) grads.emplace_back(p.value.size(), 0.0f);
  net.Accumulate(x.data(), labels.data(), n, false, 0, &grads);
  auto loss = [&] {
    std::vector<Floats> unused;
    for (const Param& p : net.params()) unused.emplace_back(p.value.size(), 0.0f);
    return net.Accumulate(x.data(), labels.data(), n, false, 0, &unused).loss_sum;
  };
  for (size_t p = 0; p < net.params().size(); ++p) {
    for (size_t i = 0; i < net.params()[p].value.size(); i += 7) {
      float& w = net.params()[p].value[i];
      const float saved = w, h = 1e-3f;
      w = saved + h;
      const double up = loss();
      w = saved - h;
      const double down = loss();
      w = saved;
      EXPECT_NEAR(grads[p][i], (up - down) / (2 * h), 2e-3) << net.params()[p].key << "[" << i << "]";
    }
  }
}

// The same seed gives bit-identical weights wherever the heap puts the buffers.
// Before the trainer's buffers were aligned (Floats), Eigen's vectorized sums
// started at whatever element malloc's alignment gave, and rounded differently.
TEST(TrainerNetworkTest, BitIdenticalWhateverTheHeapLayout) {
  auto train = [](size_t shift) {
    // Blocks of assorted sizes, alive while training, move where buffers land.
    std::vector<std::unique_ptr<char[]>> clutter;
    for (size_t i = 0; i < 64; ++i) clutter.emplace_back(new char[16 * (i % 7) + shift + 1]);
    Network net(MlpSpec(), 5);
    Adam adam(AdamConfig{}, net.params());
    const int64_t n = 6;
    Floats x(static_cast<size_t>(n * net.input_size()));
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5f + 0.5f * std::sin(0.37f * i);
    const std::vector<int32_t> labels = {1, 7, 3, 0, 9, 4};
    for (uint64_t step = 0; step < 4; ++step) {
      std::vector<Floats> grads;
      for (const Param& p : net.params()) grads.emplace_back(p.value.size(), 0.0f);
      net.Accumulate(x.data(), labels.data(), n, true, step, &grads);
      adam.Apply(grads, 1.0f / n, &net.params());
    }
    return net.params();
  };
  const std::vector<Param> want = train(0);
  for (size_t shift : {8, 16, 24, 40, 56}) {
    const std::vector<Param> got = train(shift);
    for (size_t p = 0; p < want.size(); ++p) {
      ASSERT_EQ(got[p].value.size(), want[p].value.size());
      size_t differ = 0;
      for (size_t i = 0; i < want[p].value.size(); ++i) differ += got[p].value[i] != want[p].value[i];
      EXPECT_EQ(differ, 0u) << want[p].key << " with the heap shifted by " << shift;
    }
  }
}

TEST(TrainerAdamTest, OneStepAsKeras) {
  std::vector<Param> params = {{"k", "k", {1}, {1.0f}}};
  Adam adam(AdamConfig{}, params);
  adam.Apply({{0.5f}}, 1.0f, &params);
  // t=1: m = 0.05, v = 0.00025, lr_t = 1e-3·sqrt(0.001)/0.1; step = lr_t·m/(sqrt(v)+1e-7).
  const double lr_t = 1e-3 * std::sqrt(1 - 0.999) / (1 - 0.9);
  EXPECT_NEAR(params[0].value[0], 1.0 - lr_t * 0.05 / (std::sqrt(0.00025) + 1e-7), 1e-7);
  EXPECT_EQ(adam.iterations(), 1);
}

TEST(TrainerCheckpointPathTest, Formats) {
  EXPECT_EQ(*FormatCheckpointPath("d/cp-{epoch:04d}.ckpt", 5, 1), "d/cp-0005.ckpt");
  EXPECT_EQ(*FormatCheckpointPath("d/cp-{epoch}-{batch:03d}", 2, 7), "d/cp-2-007");
  EXPECT_FALSE(FormatCheckpointPath("d/{loss:.2f}", 1, 1).ok());
  EXPECT_FALSE(FormatCheckpointPath("d/{epoch", 1, 1).ok());
}

TEST(TrainerIdxTest, ErrorsNameTheFile) {
  TempDir dir;
  swapserve::testing::WriteFileOrDie(dir.Join("images"), std::string("\0\0\x08\x01", 4));
  swapserve::testing::WriteFileOrDie(dir.Join("labels"), std::string("\0\0\x08\x01\0\0\0\x02", 8));
  auto r = ReadIdxDataset(dir.Join("images"), dir.Join("labels"), -1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir.Join("images")), std::string::npos) << r.status();
  swapserve::testing::WriteFileOrDie(dir.Join("images"),
                                     std::string("\0\0\x08\x03\0\0\0\x02\0\0\0\x02\0\0\0\x02\x01", 17));
  r = ReadIdxDataset(dir.Join("images"), dir.Join("labels"), -1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status();
}

// Every tensor of the checkpoint the pointer in `dir` names, by key.
std::map<std::string, Floats> LatestTensors(const std::string& dir) {
  std::map<std::string, Floats> out;
  auto prefix = LatestCheckpoint(dir);
  EXPECT_TRUE(prefix.ok()) << prefix.status();
  if (!prefix.ok()) return out;
  auto r = Open(*prefix);
  if (r == nullptr) return out;
  for (const BundleEntry& e : r->entries()) {
    if (e.dtype != tensorflow::DT_FLOAT) continue;  // the object graph, the counter
    auto t = r->Read(e);
    EXPECT_TRUE(t.ok()) << e.key << ": " << t.status();
    if (t.ok()) out[e.key] = Floats(t->data<float>(), t->data<float>() + t->num_elements());
  }
  return out;
}

// Every tensor equal (the runs are deterministic, so exactly equal).
void ExpectSameTensors(const std::map<std::string, Floats>& want,
                       const std::map<std::string, Floats>& got) {
  ASSERT_EQ(got.size(), want.size());
  ASSERT_GT(want.size(), 4u) << "weights and optimizer slots";
  for (const auto& [key, values] : want) {
    ASSERT_EQ(got.count(key), 1u) << key;
    const Floats& g = got.at(key);
    ASSERT_EQ(g.size(), values.size()) << key;
    size_t differ = 0;
    for (size_t i = 0; i < values.size(); ++i) differ += g[i] != values[i];
    EXPECT_EQ(differ, 0u) << key << ": " << differ << " of " << values.size() << " values differ";
  }
}

// The epochs a --log_json file recorded, in order.
std::vector<int> LoggedEpochs(const std::string& path) {
  std::vector<int> epochs;
  std::istringstream in(swapserve::testing::ReadFileOrDie(path));
  for (std::string line; std::getline(in, line);) {
    epochs.push_back(nlohmann::json::parse(line)["epoch"].get<int>());
  }
  return epochs;
}

class TrainerResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!swapserve::PathExists(kData + std::string("/train-images-idx3-ubyte.gz"))) {
      if (swapserve::testing::InCi()) FAIL() << "dataset-fashion-mnist is not installed";
      GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    }
    o_.data_dir = kData;
    o_.train_examples = 300;
    o_.test_examples = 100;
    o_.threads = 1;
    o_.seed = 5;
    o_.quiet = true;
    o_.save_weights_only = false;
  }
  // Trains 3 epochs with checkpoints in `straight`, and 2 in `resumed`.
  void TrainThreeAndTwoEpochs(const TempDir& straight, const TempDir& resumed) {
    o_.epochs = 3;
    o_.checkpoint_path = straight.Join("cp-{epoch:04d}.ckpt");
    ASSERT_TRUE(Train(o_).ok());
    o_.epochs = 2;
    o_.checkpoint_path = resumed.Join("cp-{epoch:04d}.ckpt");
    ASSERT_TRUE(Train(o_).ok());
  }
  static constexpr const char* kData = "/usr/share/datasets/fashion-mnist";
  TrainOptions o_;
};

// 2 epochs, then --resume to 3, equals 3 epochs straight — in every tensor, the
// optimizer's slots included — and the resumed run trained only epoch 3.
TEST_F(TrainerResumeTest, TwoEpochsPlusResumeOneEqualsThree) {
  TempDir a, b;
  TrainThreeAndTwoEpochs(a, b);
  if (HasFatalFailure()) return;
  o_.epochs = 3;
  o_.resume = true;
  o_.log_json = b.Join("resumed.jsonl");
  absl::Status s = Train(o_);
  ASSERT_TRUE(s.ok()) << s;
  ExpectSameTensors(LatestTensors(a.path()), LatestTensors(b.path()));
  EXPECT_EQ(*LatestCheckpoint(b.path()), b.Join("cp-0003.ckpt"));
  EXPECT_EQ(LoggedEpochs(b.Join("resumed.jsonl")), std::vector<int>{3});
}

// The resume starts from the checkpoint's weights: change them, and epoch 3
// ends elsewhere than the straight run.
TEST_F(TrainerResumeTest, ResumeUsesTheCheckpointsWeights) {
  TempDir a, b;
  TrainThreeAndTwoEpochs(a, b);
  if (HasFatalFailure()) return;

  // Rewrite cp-0002 with its first kernel's values halved, everything else kept.
  const std::string prefix = b.Join("cp-0002.ckpt");
  std::vector<std::pair<std::string, Tensor>> tensors;
  {
    auto r = Open(prefix);
    ASSERT_NE(r, nullptr);
    for (const BundleEntry& e : r->entries()) {
      auto t = r->Read(e);
      ASSERT_TRUE(t.ok()) << t.status();
      if (e.key == WeightKey(0, "kernel")) {
        for (int64_t i = 0; i < t->num_elements(); ++i) t->data<float>()[i] *= 0.5f;
      }
      tensors.emplace_back(e.key, *std::move(t));
    }
  }
  BundleWriter writer(prefix);
  for (const auto& [key, t] : tensors) ASSERT_TRUE(writer.Add(key, t).ok()) << key;
  ASSERT_TRUE(writer.Finish().ok());

  o_.epochs = 3;
  o_.resume = true;
  ASSERT_TRUE(Train(o_).ok());
  const Floats straight = LatestTensors(a.path())[WeightKey(0, "kernel")];
  const Floats resumed = LatestTensors(b.path())[WeightKey(0, "kernel")];
  ASSERT_EQ(straight.size(), resumed.size());
  ASSERT_FALSE(straight.empty());
  double diff = 0;
  for (size_t i = 0; i < straight.size(); ++i) diff += std::abs(straight[i] - resumed[i]);
  EXPECT_GT(diff / straight.size(), 1e-3) << "the resumed run ignored the changed weights";
}

// --resume with a pointer it cannot use is an error, not a fresh start; with no
// pointer at all (a first run) it starts at step 0.
TEST_F(TrainerResumeTest, UnusableCheckpointIsAnError) {
  TempDir dir;
  o_.epochs = 1;
  o_.resume = true;
  o_.checkpoint_path = dir.Join("cp-{epoch:04d}.ckpt");
  o_.log_json = dir.Join("first.jsonl");
  ASSERT_TRUE(Train(o_).ok()) << "no pointer yet: a first run";
  EXPECT_EQ(LoggedEpochs(dir.Join("first.jsonl")), std::vector<int>{1});

  o_.epochs = 2;
  o_.log_json.clear();
  // The pointer names a checkpoint whose data is gone.
  ASSERT_EQ(unlink((dir.Join("cp-0001.ckpt") + ".data-00000-of-00001").c_str()), 0);
  absl::Status s = Train(o_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("cannot resume from " + dir.Join("cp-0001.ckpt")), std::string::npos)
      << s;
  // A weights-only checkpoint has no optimizer state to resume.
  TempDir weights_only;
  o_.save_weights_only = true;
  o_.resume = false;
  o_.epochs = 1;
  o_.checkpoint_path = weights_only.Join("cp-{epoch:04d}.ckpt");
  ASSERT_TRUE(Train(o_).ok());
  o_.resume = true;
  o_.epochs = 2;
  s = Train(o_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("cannot resume from"), std::string::npos) << s;
  // A pointer naming a checkpoint that does not exist.
  swapserve::testing::WriteFileOrDie(weights_only.Join("checkpoint"), "model_checkpoint_path: \"cp-0099.ckpt\"\n");
  s = Train(o_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("has a checkpoint pointer but"), std::string::npos) << s;
}

// A run is deterministic for a seed and a thread count, with 2 threads (each a
// fixed slice of every batch) as with 1; another seed gives other weights.
TEST_F(TrainerResumeTest, SameSeedSameWeightsWithTwoThreads) {
  TempDir a, b, c;
  o_.epochs = 1;
  o_.threads = 2;
  o_.checkpoint_path = a.Join("cp-{epoch:04d}.ckpt");
  ASSERT_TRUE(Train(o_).ok());
  o_.checkpoint_path = b.Join("cp-{epoch:04d}.ckpt");
  ASSERT_TRUE(Train(o_).ok());
  ExpectSameTensors(LatestTensors(a.path()), LatestTensors(b.path()));
  o_.seed = 6;
  o_.checkpoint_path = c.Join("cp-{epoch:04d}.ckpt");
  ASSERT_TRUE(Train(o_).ok());
  EXPECT_NE(LatestTensors(a.path())[WeightKey(0, "kernel")],
            LatestTensors(c.path())[WeightKey(0, "kernel")]);
}

}  // namespace
}  // namespace swapserve::trainer
