// A daemon following a training run keeps its memory bounded: the seed MLP
// (1.6 MB of weights a checkpoint) swapped 60 times grows its resident set by
// far less than one checkpoint per swap. Before the follower returned freed
// weight sets' pages to the kernel (malloc_trim), each swap kept ~1.5 MB
// resident, without bound. Under ASan the daemon runs with no allocator
// quarantine, so freed blocks are reused there too.
//
// For a model of ~104 MB of weights (the trainer's mlp with 32768 units,
// made here), the resident set after any number of swaps holds the serving
// set and the previous one (kept for an instant Rollback), or only the
// serving one with --checkpoint_keep_previous_weights=false, and the peak
// during swaps is that plus the one set being loaded. Before the Servable let
// go of the model's first weights, a third set stayed resident for good.

#include <sys/stat.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/daemon_harness.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

// The checkpoint that answers a batch-1 Predict ("" on failure).
std::string Serving(Daemon& d, const std::string& input = "dense_10_input") {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  tfs::PredictResponse response;
  const grpc::Status s = d.prediction().Predict(
      &context, FloatRequest("mlp", input, {1, 784}, std::vector<float>(784, 0.5f)), &response);
  return s.ok() ? CheckpointOf(context) : "";
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
    CopyCheckpointAndPoint(seed_prefix, dir, absl::StrCat("ckpt-", k));
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

// The trainer's mlp with 32768 hidden units (~104 MB of float weights): its
// SavedModel in dir/model/1 and one checkpoint, dir/gen/cp-0001.ckpt.
std::string MakeLargeModel(const std::string& dir) {
  const CommandResult r = RunCommand(
      BuiltProgram("trainer/swapserve-train") +
      " --mlp_units=32768 --train_examples=64 --test_examples=16 --epochs=1 --quiet"
      " --checkpoint_path=" + dir + "/gen/cp-{epoch:04d}.ckpt --export_dir=" + dir + "/model/1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir + "/gen/cp-0001.ckpt";
}

int64_t FileKib(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size / 1024 : 0;
}

struct SwapFigures {
  int64_t start_kib = 0;   // serving the first checkpoint
  int64_t steady_kib = 0;  // after 2 swaps
  int64_t peak_kib = 0;    // the peak over 4 more swaps
  int64_t end_kib = 0;     // after them
};

// Follows a directory where ckpt-K, a copy of `source`, replaces ckpt-K-1.
SwapFigures MeasureSwaps(const std::string& source, const std::string& base,
                         const std::string& dir, const std::vector<std::string>& flags) {
  SwapFigures f;
  EXPECT_EQ(RunCommand("rm -rf " + dir + " && mkdir -p " + dir).exit_code, 0);
  auto point_at = [&](int k) {
    CopyCheckpointAndPoint(source, dir, absl::StrCat("ckpt-", k));
  };
  point_at(0);
  std::vector<std::string> all = {"--model_name=mlp", "--model_base_path=" + base,
                                  "--checkpoint_dir=" + dir, "--checkpoint_settle_seconds=0"};
  all.insert(all.end(), flags.begin(), flags.end());
  auto d = Daemon::StartForMemory(all);
  if (d == nullptr) return f;
  f.start_kib = d->ResidentKib();
  for (int k = 1; k <= 6; ++k) {
    point_at(k);
    EXPECT_TRUE(WaitFor([&] { return Serving(*d, "dense_input") == absl::StrCat("ckpt-", k); },
                        absl::Seconds(60)))
        << "ckpt-" << k << " never served\n" << d->Log();
    EXPECT_EQ(RunCommand(absl::StrCat("rm -f ", dir, "/ckpt-", k - 1, ".*")).exit_code, 0);
    if (k == 2) {
      f.steady_kib = d->ResidentKib();
      EXPECT_TRUE(d->ResetPeakResident());
    }
  }
  f.peak_kib = d->PeakResidentKib();
  f.end_kib = d->ResidentKib();
  return f;
}

TEST(SwapMemoryTest, LargeModelHoldsTheServingSetsAndOneMoreAtPeak) {
  TempDir tmp;
  const std::string source = MakeLargeModel(tmp.path());
  const int64_t set_kib = FileKib(source + ".data-00000-of-00001");
  ASSERT_GT(set_kib, 100 * 1000) << "the generated model is smaller than 100 MB";
  // Less than a quarter of one set: allocator and (under ASan) shadow pages.
  const int64_t slack = set_kib / 4;

  const SwapFigures kept = MeasureSwaps(source, tmp.Join("model"), tmp.Join("a"), {});
  std::cout << "weights " << set_kib << " KiB; keeping the previous set: start " << kept.start_kib
            << ", steady " << kept.steady_kib << ", peak " << kept.peak_kib << ", end "
            << kept.end_kib << " KiB\n";
  ASSERT_GT(kept.start_kib, 0);
  EXPECT_LT(kept.steady_kib, kept.start_kib + set_kib + slack) << "more than serving + previous";
  EXPECT_LT(kept.peak_kib, kept.steady_kib + set_kib + slack) << "more than one set being loaded";
  EXPECT_LT(kept.end_kib, kept.steady_kib + slack) << "swaps left sets resident";

  const SwapFigures one = MeasureSwaps(source, tmp.Join("model"), tmp.Join("b"),
                                       {"--checkpoint_keep_previous_weights=false"});
  std::cout << "one set: start " << one.start_kib << ", steady " << one.steady_kib << ", peak "
            << one.peak_kib << ", end " << one.end_kib << " KiB\n";
  ASSERT_GT(one.start_kib, 0);
  EXPECT_LT(one.steady_kib, one.start_kib + slack) << "a second set stayed resident";
  EXPECT_LT(one.peak_kib, one.steady_kib + set_kib + slack) << "more than one set being loaded";
  EXPECT_LT(one.end_kib, one.steady_kib + slack);
}

}  // namespace
}  // namespace swapserve::testing
