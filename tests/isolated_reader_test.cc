// Keras weights parsed in a child process: the daemon's own executable reads a
// real file to the same tensors as an in-process read; a reader that crashes,
// hangs or sends garbage (scripts standing in for libhdf5 failing on a corrupt
// file) is an error naming the file, and the caller carries on.
#include "server/isolated_reader.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "model/formats/keras_archive.h"
#include "model/formats/keras_h5.h"
#include "model/loaded_model.h"
#include "tests/test_support.h"

namespace swapserve::server {
namespace {

using ::swapserve::testing::BuiltProgram;
using ::swapserve::testing::TempDir;
using ::swapserve::testing::WriteFileOrDie;

TEST(IsolatedReaderTest, ChildReadsWhatTheLibraryReads) {
  SS_REQUIRE_FIXTURE(weights, "keras3/handsign_cnn.weights.h5");
  SS_REQUIRE_FIXTURE(archive, "keras3/cifar10_names_k3.13.keras");
  for (const std::string& path : {weights, archive}) {
    SCOPED_TRACE(path);
    auto child = ReadKerasWeightsIsolated(BuiltProgram("server/swapserve"), path, absl::Seconds(60));
    ASSERT_TRUE(child.ok()) << child.status();
    auto here = ReadKerasLayerWeights(path);
    ASSERT_TRUE(here.ok()) << here.status();
    ASSERT_EQ(child->size(), here->size());
    for (const auto& [key, t] : *here) {
      ASSERT_TRUE(child->contains(key)) << key;
      const Tensor& c = child->at(key);
      EXPECT_EQ(c.dtype(), t.dtype()) << key;
      EXPECT_EQ(c.shape(), t.shape()) << key;
      EXPECT_EQ(std::memcmp(c.raw_data(), t.raw_data(), t.num_elements() * DataTypeSize(t.dtype())), 0)
          << key;
    }
  }
  // The child's own errors come back as they are.
  TempDir dir;
  const std::string text = dir.Join("x.weights.h5");
  WriteFileOrDie(text, "not HDF5");
  auto bad = ReadKerasWeightsIsolated(BuiltProgram("server/swapserve"), text, absl::Seconds(60));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "not an HDF5 file")) << bad.status();
}

// The legacy .h5 reader: the same file as ReadKerasH5 in this process.
TEST(IsolatedReaderTest, ChildReadsALegacyH5AsTheLibraryDoes) {
  SS_REQUIRE_FIXTURE(h5, "keras_h5/bank_churn.h5");
  auto child = ReadKerasH5Isolated(BuiltProgram("server/swapserve"), h5, absl::Seconds(60));
  ASSERT_TRUE(child.ok()) << child.status();
  auto here = ReadKerasH5(h5);
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_EQ(child->path, here->path);
  EXPECT_EQ(child->keras_version, here->keras_version);
  EXPECT_EQ(child->backend, here->backend);
  EXPECT_EQ(child->model_config, here->model_config);
  EXPECT_EQ(child->training_config, here->training_config);
  ASSERT_TRUE(child->model_config.has_value());
  ASSERT_EQ(child->layers.size(), here->layers.size());
  for (size_t i = 0; i < here->layers.size(); ++i) {
    const KerasH5Layer &c = child->layers[i], &h = here->layers[i];
    EXPECT_EQ(c.name, h.name);
    ASSERT_EQ(c.weights.size(), h.weights.size()) << h.name;
    for (size_t j = 0; j < h.weights.size(); ++j) {
      EXPECT_EQ(c.weights[j].name, h.weights[j].name);
      const Tensor &ct = c.weights[j].value, &ht = h.weights[j].value;
      ASSERT_EQ(ct.shape(), ht.shape()) << h.weights[j].name;
      EXPECT_EQ(std::memcmp(ct.raw_data(), ht.raw_data(),
                            ht.num_elements() * DataTypeSize(ht.dtype())),
                0);
    }
  }
  // And a model built from it runs: loading through the child is loading.
  LoadOptions options;
  options.keras_h5_reader = [](const std::string& path) {
    return ReadKerasH5Isolated(BuiltProgram("server/swapserve"), path, absl::Seconds(60));
  };
  auto model = LoadModel(h5, options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(model->get()->FindPlan("").ok());

  TempDir dir;
  const std::string text = dir.Join("m.h5");
  WriteFileOrDie(text, "not HDF5");
  auto bad = ReadKerasH5Isolated(BuiltProgram("server/swapserve"), text, absl::Seconds(60));
  EXPECT_FALSE(bad.ok());
}

class FailingReaderTest : public ::testing::Test {
 protected:
  // A stand-in reader program running `body` in /bin/sh.
  std::string Program(const std::string& name, const std::string& body) {
    const std::string path = dir_.Join(name);
    WriteFileOrDie(path, "#!/bin/sh\n" + body + "\n");
    EXPECT_EQ(::chmod(path.c_str(), 0755), 0);
    return path;
  }
  std::string File() {
    const std::string path = dir_.Join("cp.weights.h5");
    WriteFileOrDie(path, std::string(1024, 'x'));
    return path;
  }
  TempDir dir_;
};

TEST_F(FailingReaderTest, ACrashIsDataLossNamingTheFile) {
  const std::string file = File();
  auto r = ReadKerasWeightsIsolated(Program("crash", "kill -SEGV $$"), file, absl::Seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "crashed (signal 11")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), file)) << r.status();
}

TEST_F(FailingReaderTest, AHangIsKilledAtTheTimeLimit) {
  const absl::Time start = absl::Now();
  auto r = ReadKerasWeightsIsolated(Program("hang", "exec sleep 30"), File(), absl::Milliseconds(300));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "the reader was not killed";
}

TEST_F(FailingReaderTest, GarbageAndHostileLengthsAreRefused) {
  struct Case {
    std::string body, message;
  };
  for (const Case& c : {
           Case{"printf 'hello world'", "not a weights stream"},
           // the magic and version, then a key length of 0xFFFFFFF0
           Case{"printf 'SSKW\\001\\000\\000\\000\\360\\377\\377\\377'", "key of"},
           // key "k", DT_FLOAT, rank 0, and a claim of 2^40 bytes
           Case{"printf 'SSKW\\001\\000\\000\\000\\001\\000\\000\\000k"
                "\\001\\000\\000\\000\\000\\000\\000\\000"
                "\\000\\000\\000\\000\\000\\001\\000\\000'",
                "bytes for dtype"},
           Case{"exit 0", "ended early"}}) {
    SCOPED_TRACE(c.body);
    auto r = ReadKerasWeightsIsolated(Program("garbage", c.body), File(), absl::Seconds(10));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), c.message)) << r.status();
  }
}

// A stream that is well formed but does not describe an .h5 file.
TEST_F(FailingReaderTest, AnH5StreamWithoutItsHeaderIsDataLoss) {
  // the magic and version, no tensors, then the end with status OK
  auto r = ReadKerasH5Isolated(
      Program("empty", "printf 'SSKW\\001\\000\\000\\000\\377\\377\\377\\377"
                       "\\000\\000\\000\\000\\000\\000\\000\\000'"),
      File(), absl::Seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "has no header")) << r.status();
}

}  // namespace
}  // namespace swapserve::server
