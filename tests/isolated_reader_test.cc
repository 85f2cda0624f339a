// Keras weights parsed in a child process: the daemon's own executable reads a
// real file to the same tensors as an in-process read; a reader that crashes,
// hangs or sends garbage (scripts standing in for libhdf5 failing on a corrupt
// file) is an error naming the file, and the caller carries on.
#include "server/isolated_reader.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "model/formats/keras_archive.h"
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

}  // namespace
}  // namespace swapserve::server
