// swapserve-train on a failing disk (disk_fault_shim, LD_PRELOADed): ENOSPC on
// a checkpoint's first byte, EIO part-way through its data, and ENOSPC on the
// `checkpoint` pointer's own write. Each time the trainer exits non-zero
// naming the error, the pointer still names the previous checkpoint, which
// reads back with valid CRCs, and no half-written file is left under a
// checkpoint's name; a daemon following the directory keeps serving the
// previous checkpoint; and the trainer resumes from it once the disk is well.
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/checkpoint_state.h"
#include "model/util/file.h"
#include "tests/daemon_harness.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

constexpr char kData[] = "/usr/share/datasets/fashion-mnist";

// The checkpoint answering a Predict ("" on failure).
std::string Serving(Daemon& d) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  tfs::PredictResponse response;
  const grpc::Status s = d.prediction().Predict(
      &context, FloatRequest("mlp", "dense_input", {1, 784}, std::vector<float>(784, 0.5f)),
      &response);
  return s.ok() ? CheckpointOf(context) : "";
}

class TrainerDiskFaultTest : public ::testing::Test {
 protected:
  // swapserve-train resuming in dir_ up to `epochs`, with `fault` (shell
  // variable assignments for the shim; empty: a healthy disk).
  CommandResult Train(int epochs, const std::string& fault, const std::string& extra = "") {
    std::string env;
    if (!fault.empty()) {
      // The sanitized build's runtime wants to be first; the shim goes first.
      const char* asan = std::getenv("ASAN_OPTIONS");
      env = absl::StrCat("env LD_PRELOAD=", BuiltProgram("tests/libswapserve_disk_fault_shim.so"),
                         " ASAN_OPTIONS='", asan != nullptr ? asan : "",
                         ":verify_asan_link_order=0' ", fault, " ");
    }
    return RunCommand(absl::StrCat(
        env, BuiltProgram("trainer/swapserve-train"),
        " --model=mlp --train_examples=256 --test_examples=32 --save_weights_only=false --quiet"
        " --resume --epochs=", epochs, " --checkpoint_path=", dir_.path(), "/cp-{epoch:04d}.ckpt ",
        extra));
  }
  // The pointer's checkpoint, read back whole.
  std::string LatestReadsBack() {
    absl::StatusOr<std::string> latest = LatestCheckpoint(dir_.path());
    if (!latest.ok()) {
      ADD_FAILURE() << latest.status();
      return "";
    }
    auto reader = BundleReader::Open(*latest);
    if (!reader.ok()) {
      ADD_FAILURE() << reader.status();
      return "";
    }
    for (const BundleEntry& e : (*reader)->entries()) {
      EXPECT_TRUE((*reader)->Read(e).ok()) << *latest << ": " << e.key;
    }
    return BaseName(*latest);
  }

  TempDir dir_, model_;
};

TEST_F(TrainerDiskFaultTest, AFailedWriteLeavesThePreviousCheckpointServingAndResumable) {
  if (!PathExists(absl::StrCat(kData, "/train-images-idx3-ubyte.gz"))) {
    if (InCi()) FAIL() << "dataset-fashion-mnist is not installed";
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  CommandResult r = Train(1, "", "--export_dir=" + model_.Join("1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(LatestReadsBack(), "cp-0001.ckpt");
  auto d = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model_.path(),
                          "--checkpoint_dir=" + dir_.path(), "--checkpoint_poll_seconds=0.2"});
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Serving(*d) == "cp-0001.ckpt"; }, absl::Seconds(20)))
      << d->Log();

  struct Fault {
    std::string shim, error;
  };
  for (const Fault& f : {
           Fault{"SWAPSERVE_FAULT_PATH=cp-0002 SWAPSERVE_FAULT_ERRNO=ENOSPC",
                 "No space left on device"},
           Fault{"SWAPSERVE_FAULT_PATH=cp-0002.ckpt.data SWAPSERVE_FAULT_ERRNO=EIO "
                 "SWAPSERVE_FAULT_AFTER_BYTES=100000",
                 "Input/output error"},
           Fault{"SWAPSERVE_FAULT_PATH=checkpoint.tmp SWAPSERVE_FAULT_ERRNO=ENOSPC",
                 "No space left on device"},
       }) {
    SCOPED_TRACE(f.shim);
    r = Train(2, f.shim);
    EXPECT_NE(r.exit_code, 0) << "the trainer did not report the failed write";
    EXPECT_TRUE(absl::StrContains(r.err, "disk_fault_shim: failing a write"))
        << "the fault was never met:\n" << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, f.error)) << r.err;
    EXPECT_EQ(LatestReadsBack(), "cp-0001.ckpt");
    // Half-written files keep their temporary names; a complete cp-0002 may
    // stay unnamed by the pointer (its write failed last), never a partial one.
    if (PathExists(dir_.Join("cp-0002.ckpt.index"))) {
      auto reader = BundleReader::Open(dir_.Join("cp-0002.ckpt"));
      EXPECT_TRUE(reader.ok()) << reader.status();
    }
    EXPECT_EQ(Serving(*d), "cp-0001.ckpt");
  }
  absl::SleepFor(absl::Seconds(1));  // a few polls of the directory
  EXPECT_EQ(Serving(*d), "cp-0001.ckpt");

  r = Train(2, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(LatestReadsBack(), "cp-0002.ckpt");
  EXPECT_TRUE(WaitFor([&] { return Serving(*d) == "cp-0002.ckpt"; }, absl::Seconds(20)))
      << d->Log();
}

}  // namespace
}  // namespace swapserve::testing
