// A daemon following a training run keeps its memory bounded: the seed MLP
// (1.6 MB of weights a checkpoint) swapped 60 times grows its resident set by
// far less than one checkpoint per swap. Before the follower returned freed
// weight sets' pages to the kernel (malloc_trim), each swap kept ~1.5 MB
// resident, without bound. Under ASan the daemon runs with no allocator
// quarantine, so freed blocks are reused there too.

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/daemon_harness.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

// The checkpoint that answers a batch-1 Predict ("" on failure).
std::string Serving(Daemon& d) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  tfs::PredictResponse response;
  const grpc::Status s = d.prediction().Predict(
      &context, FloatRequest("mlp", "dense_10_input", {1, 784}, std::vector<float>(784, 0.5f)),
      &response);
  if (!s.ok()) return "";
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    if (key == "swapserve-checkpoint") return std::string(value.data(), value.size());
  }
  return "";
}

TEST(SwapMemoryTest, SixtySwapsKeepTheResidentSetBounded) {
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  SS_REQUIRE_FIXTURE(seed, "keras_seed_mlp/training_2/cp-0000.ckpt.index");
  const std::string seed_prefix = Fixture("keras_seed_mlp/training_2/cp-0000.ckpt");
  TempDir tmp;
  const std::string dir = tmp.Join("ckpt");
  ASSERT_EQ(RunCommand("mkdir -p " + dir).exit_code, 0);
  // ckpt-K is a copy of cp-0000 under a new name (the follower swaps by name);
  // the one before is deleted once K serves, as CheckpointManager deletes.
  auto point_at = [&](int k) {
    const std::string prefix = absl::StrCat(dir, "/ckpt-", k);
    ASSERT_EQ(RunCommand(absl::StrCat("cp ", seed_prefix, ".index ", prefix, ".index && cp ",
                                      seed_prefix, ".data-00000-of-00001 ", prefix,
                                      ".data-00000-of-00001"))
                  .exit_code,
              0);
    WriteFileOrDie(dir + "/checkpoint.tmp", absl::StrCat("model_checkpoint_path: \"ckpt-", k, "\"\n"));
    ASSERT_EQ(std::rename((dir + "/checkpoint.tmp").c_str(), (dir + "/checkpoint").c_str()), 0);
  };
  point_at(0);
  auto d = Daemon::StartForMemory({"--model_name=mlp", "--model_base_path=" + model,
                                   "--checkpoint_dir=" + dir});
  ASSERT_NE(d, nullptr);
  int64_t warm_kib = 0;
  for (int k = 1; k <= 70; ++k) {
    point_at(k);
    ASSERT_TRUE(WaitFor([&] { return Serving(*d) == absl::StrCat("ckpt-", k); }, absl::Seconds(20)))
        << "ckpt-" << k << " never served\n" << d->Log();
    ASSERT_EQ(RunCommand(absl::StrCat("rm -f ", dir, "/ckpt-", k - 1, ".*")).exit_code, 0);
    if (k == 10) warm_kib = d->ResidentKib();
  }
  const int64_t grown_kib = d->ResidentKib() - warm_kib;
  ASSERT_GT(warm_kib, 0);
  // 60 checkpoints are 96 MB; a leak of one per swap is ~90 MB.
  EXPECT_LT(grown_kib, 16 * 1024) << "RSS grew " << grown_kib << " KiB over 60 swaps (from "
                                  << warm_kib << " KiB)";
}

}  // namespace
}  // namespace swapserve::testing
