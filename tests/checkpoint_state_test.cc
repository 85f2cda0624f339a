#include "model/formats/checkpoint_state.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

using ::swapserve::testing::Fixture;
using ::swapserve::testing::TempDir;
using ::swapserve::testing::WriteFileOrDie;

TEST(CheckpointStateTest, ResolvesRelativeAndAbsolutePaths) {
  EXPECT_EQ(ResolveCheckpointPath("/ckpt", "cp-0001.ckpt"), "/ckpt/cp-0001.ckpt");
  EXPECT_EQ(ResolveCheckpointPath("/ckpt/", "cp-0001.ckpt"), "/ckpt/cp-0001.ckpt");
  EXPECT_EQ(ResolveCheckpointPath("/ckpt", "/other/cp"), "/other/cp");
  EXPECT_EQ(ResolveCheckpointPath("rel", "sub/cp"), "rel/sub/cp");
}

TEST(CheckpointStateTest, EveryFixturePointerFileResolves) {
  SS_REQUIRE_FIXTURE(root, "keras_seed_mlp");
  struct Case {
    const char* dir;
    const char* latest;
  };
  for (const Case& c : {Case{"keras_seed_mlp/training_2", "cp-0050.ckpt"},
                        Case{"keras_seed_mlp/training_1", "cp.ckpt"},
                        Case{"keras_seed_mlp/checkpoints", "my_checkpoint"}}) {
    SCOPED_TRACE(c.dir);
    const std::string dir = Fixture(c.dir);
    auto state = ReadCheckpointState(dir);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->model_checkpoint_path(), dir + "/" + c.latest);
    ASSERT_EQ(state->all_model_checkpoint_paths_size(), 1);
    EXPECT_EQ(state->all_model_checkpoint_paths(0), dir + "/" + c.latest);
    // Like tf.train.latest_checkpoint: the .index exists, so the prefix is the
    // answer even though its data shard is missing.
    auto latest = LatestCheckpoint(dir);
    ASSERT_TRUE(latest.ok()) << latest.status();
    EXPECT_EQ(*latest, dir + "/" + c.latest);
  }
}

TEST(CheckpointStateTest, WriteThenReadRoundTrips) {
  TempDir dir;
  tensorflow::CheckpointState state;
  state.set_model_checkpoint_path("cp-0002.ckpt");
  state.add_all_model_checkpoint_paths("cp-0001.ckpt");
  state.add_all_model_checkpoint_paths("cp-0002.ckpt");
  state.add_all_model_checkpoint_timestamps(1.5);
  ASSERT_TRUE(WriteCheckpointState(dir.path(), state).ok());
  const std::string text = swapserve::testing::ReadFileOrDie(dir.Join("checkpoint"));
  EXPECT_TRUE(absl::StrContains(text, "model_checkpoint_path: \"cp-0002.ckpt\""));
  auto back = ReadCheckpointState(dir.path());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->model_checkpoint_path(), dir.Join("cp-0002.ckpt"));
  EXPECT_EQ(back->all_model_checkpoint_paths(0), dir.Join("cp-0001.ckpt"));
  // The prefix has no .index yet: not a usable latest checkpoint.
  auto latest = LatestCheckpoint(dir.path());
  EXPECT_EQ(latest.status().code(), absl::StatusCode::kNotFound);
  WriteFileOrDie(dir.Join("cp-0002.ckpt.index"), "");
  latest = LatestCheckpoint(dir.path());
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, dir.Join("cp-0002.ckpt"));
}

TEST(CheckpointStateTest, BadPointerFilesAreClearErrors) {
  TempDir dir;
  EXPECT_EQ(ReadCheckpointState(dir.path()).status().code(),
            absl::StatusCode::kNotFound);
  for (const char* text : {"model_checkpoint_path: ", "garbage {{{",
                           "all_model_checkpoint_paths: \"x\"", "",
                           "unknown_field: 3"}) {
    SCOPED_TRACE(text);
    WriteFileOrDie(dir.Join("checkpoint"), text);
    auto state = ReadCheckpointState(dir.path());
    ASSERT_FALSE(state.ok());
    EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(state.status().message(), dir.Join("checkpoint")));
  }
}

}  // namespace
}  // namespace swapserve
