// CheckpointFollower's retry rules, on a follower driven directly (no daemon,
// no polling: --checkpoint_poll_seconds is an hour, so every retry is the
// back-off's): the wait doubles per failure up to its cap, the retries are
// quiet, and the event log holds one REJECTED record per (checkpoint, reason).
#include "server/checkpoint_follower.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/formats/bundle_writer.h"
#include "model/formats/checkpoint_state.h"
#include "model/loaded_model.h"
#include "tests/test_support.h"

namespace swapserve::server {
namespace {

using swapserve::admin::v1::ServingState;
using swapserve::testing::TempDir;

TEST(RetryBackoffTest, DoublesFromTheMinimumToTheCap) {
  FollowerOptions o;
  o.min_backoff = absl::Milliseconds(100);
  o.max_backoff = absl::Seconds(10);
  EXPECT_EQ(RetryBackoff(1, o), absl::Milliseconds(100));
  EXPECT_EQ(RetryBackoff(2, o), absl::Milliseconds(200));
  EXPECT_EQ(RetryBackoff(3, o), absl::Milliseconds(400));
  EXPECT_EQ(RetryBackoff(7, o), absl::Milliseconds(6400));
  EXPECT_EQ(RetryBackoff(8, o), absl::Seconds(10));     // 12.8 s, capped
  EXPECT_EQ(RetryBackoff(1000, o), absl::Seconds(10));  // no overflow
  EXPECT_EQ(RetryBackoff(0, o), absl::Milliseconds(100));
}

// half_plus_two's variables, each = `value`; `skip` leaves one out.
void WriteBundle(const std::string& prefix, float value,
                 const std::string& skip = "") {
  BundleWriter writer(prefix);
  for (const char* key : {"a", "a2", "b", "c", "c2"}) {
    if (key == skip) continue;
    Tensor t = *Tensor::Allocate(tensorflow::DT_FLOAT, *TensorShape::Make({}));
    t.data<float>()[0] = value;
    ASSERT_TRUE(writer.Add(key, t).ok());
  }
  ASSERT_TRUE(writer.Finish().ok());
}

void Point(const std::string& dir, const std::string& name) {
  tensorflow::CheckpointState state;
  state.set_model_checkpoint_path(name);
  ASSERT_TRUE(WriteCheckpointState(dir, state).ok());
}

class FollowerRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SS_REQUIRE_FIXTURE(model,
                       "tf_serving/saved_model_half_plus_two_cpu/00000123");
    absl::StatusOr<std::unique_ptr<LoadedModel>> loaded =
        LoadModel(model, LoadOptions{});
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    servable_ = std::make_shared<Servable>(*std::move(loaded));
    options_.poll = absl::Hours(1);
    options_.use_inotify = false;
    options_.min_backoff = absl::Milliseconds(5);
    options_.max_backoff = absl::Milliseconds(40);
  }

  // Polls the state until `attempts` failed loads of the current target are
  // counted; every state seen must show the back-off its failure count gives.
  void WaitForAttempts(const CheckpointFollower& f, int attempts) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    int seen = 0;
    while (seen < attempts && absl::Now() < deadline) {
      const ServingState s = f.State();
      if (s.failed_attempts() > 0) {
        EXPECT_EQ(absl::Milliseconds(s.retry_backoff_ms()),
                  RetryBackoff(s.failed_attempts(), options_))
            << "after " << s.failed_attempts() << " failures";
      }
      seen = s.failed_attempts();
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_GE(seen, attempts) << "the follower stopped retrying";
  }

  // The REJECTED records so far, as "prefix name: reason".
  std::vector<std::string> Rejections() const {
    std::vector<std::string> out;
    for (const CheckpointEvent& e : events_.History("m", 1000)) {
      if (e.kind() != CheckpointEvent::REJECTED) continue;
      out.push_back(absl::StrCat(e.prefix().substr(e.prefix().rfind('/') + 1),
                                 ": ", e.reason()));
    }
    return out;
  }

  // Waits until there are `records` REJECTED records and `attempts` failed
  // loads of the current target; the newest record must be `name`'s and mention
  // `reason`.
  void ExpectRecordsAfterRetries(const CheckpointFollower& f, size_t records,
                                 const std::string& name,
                                 const std::string& reason, int attempts) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (Rejections().size() < records && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    WaitForAttempts(f, attempts);
    const std::vector<std::string> r = Rejections();
    ASSERT_EQ(r.size(), records)
        << "one record per (checkpoint, reason), retries quiet";
    EXPECT_NE(r.back().find(name + ": "), std::string::npos) << r.back();
    EXPECT_NE(r.back().find(reason), std::string::npos) << r.back();
  }

  TempDir dir_;
  std::shared_ptr<Servable> servable_;
  FollowerOptions options_;
  EventLog events_;
};

TEST_F(FollowerRetryTest,
       RetriesWithDoublingBackoffAndRecordsEachCheckpointAndReasonOnce) {
  const std::string ckpt2 = dir_.Join("ckpt-2"), ckpt3 = dir_.Join("ckpt-3");
  WriteBundle(ckpt2, 2, "c2");
  Point(dir_.path(), "ckpt-2");
  CheckpointFollower follower("m", 1, dir_.path(), servable_, options_,
                              &events_);

  // 10 failures of one checkpoint for one reason: past the cap (5, 10, 20, 40,
  // 40, ... ms), and one record.
  ExpectRecordsAfterRetries(follower, 1, "ckpt-2", "'c2'", 10);
  EXPECT_EQ(follower.State().retry_backoff_ms(), 40);
  EXPECT_NE(follower.LastRejection().message().find(
                "still serving the model's own weights"),
            std::string::npos)
      << follower.LastRejection();

  // Another checkpoint, another reason: a new record, and the count starts
  // again.
  WriteBundle(ckpt3, NAN);
  Point(dir_.path(), "ckpt-3");
  ExpectRecordsAfterRetries(follower, 2, "ckpt-3", "NaN or infinity", 5);

  // Back to the first checkpoint and its reason: recorded again, since it is a
  // new failure after another one.
  Point(dir_.path(), "ckpt-2");
  ExpectRecordsAfterRetries(follower, 3, "ckpt-2", "'c2'", 5);

  // A good checkpoint ends the failures: no attempts counted, nothing more
  // recorded.
  WriteBundle(dir_.Join("ckpt-4"), 4);
  Point(dir_.path(), "ckpt-4");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (follower.State().serving_prefix() != dir_.Join("ckpt-4") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  const ServingState s = follower.State();
  EXPECT_EQ(s.serving_prefix(), dir_.Join("ckpt-4"));
  EXPECT_EQ(s.failed_attempts(), 0);
  EXPECT_EQ(s.retry_backoff_ms(), 0);
  EXPECT_EQ(Rejections().size(), 3u);
}

// Without keep_previous_weights only the previous checkpoint's name is kept:
// Rollback reads it again, and refuses once it was deleted.
TEST_F(FollowerRetryTest, RollbackWithoutKeptWeightsReadsThePreviousCheckpointAgain) {
  options_.keep_previous_weights = false;
  const std::string ckpt2 = dir_.Join("ckpt-2"), ckpt3 = dir_.Join("ckpt-3");
  WriteBundle(ckpt2, 2);
  WriteBundle(ckpt3, 3);
  Point(dir_.path(), "ckpt-2");
  CheckpointFollower follower("m", 1, dir_.path(), servable_, options_, &events_);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (follower.State().serving_prefix() != ckpt2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(follower.State().serving_prefix(), ckpt2);

  ASSERT_TRUE(follower.Pin("ckpt-3").ok());
  const std::shared_ptr<const WeightSet> pinned = servable_->Weights()->set;
  ASSERT_TRUE(follower.Rollback().ok());
  EXPECT_EQ(follower.State().serving_prefix(), ckpt2);
  EXPECT_NE(servable_->Weights()->set, pinned);

  ASSERT_TRUE(follower.Pin("ckpt-3").ok());
  ASSERT_EQ(::swapserve::testing::RunCommand("rm " + ckpt2 + ".*").exit_code, 0);
  const absl::Status s = follower.Rollback();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("deleted or rewritten"), std::string::npos) << s;
  EXPECT_EQ(follower.State().serving_prefix(), ckpt3);
}

}  // namespace
}  // namespace swapserve::server
