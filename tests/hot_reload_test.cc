// Hot checkpoint reload on the real daemon: the seed's workflow, no torn
// response while checkpoints stream in, every fault rejected while the old
// weights keep answering, start-up rules, and the admin API (pin, unpin,
// rollback, watch).
//
// Most tests serve half_plus_two (y = a*x + b) following a directory where
// checkpoint "ckpt-K" holds a = b = K for every variable: the answer for x = 1 is
// 2K, so every response says which weights computed it.
#include <atomic>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "model/formats/bundle_writer.h"
#include "model/formats/checkpoint_state.h"
#include "nlohmann/json.hpp"
#include "swapserve/admin/v1/admin.grpc.pb.h"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;
namespace admin = swapserve::admin::v1;

const char* const kKeys[] = {"a", "a2", "b", "c", "c2"};

std::string Name(int k) { return absl::StrCat("ckpt-", k); }

// Writes PREFIX's data and index (TF's order) with every variable = value;
// `skip` leaves one key out, `shape` gives "a" another shape.
void WriteBundleAt(const std::string& prefix, float value, const std::string& skip = "",
                   std::vector<int64_t> a_shape = {}) {
  BundleWriter writer(prefix);
  for (const char* key : kKeys) {
    if (key == skip) continue;
    std::vector<int64_t> dims = std::string(key) == "a" ? a_shape : std::vector<int64_t>{};
    Tensor t = *Tensor::Allocate(tensorflow::DT_FLOAT, *TensorShape::Make(dims));
    for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = value;
    ASSERT_TRUE(writer.Add(key, t).ok());
  }
  ASSERT_TRUE(writer.Finish().ok());
}

// DIR/ckpt-K.
void WriteBundle(const std::string& dir, int k, float value, const std::string& skip = "",
                 std::vector<int64_t> a_shape = {}) {
  WriteBundleAt(dir + "/" + Name(k), value, skip, std::move(a_shape));
}

// Points DIR/checkpoint at `prefix_name` (atomically, by rename).
void Point(const std::string& dir, const std::string& prefix_name) {
  tensorflow::CheckpointState state;
  state.set_model_checkpoint_path(prefix_name);
  state.add_all_model_checkpoint_paths(prefix_name);
  ASSERT_TRUE(WriteCheckpointState(dir, state).ok());
}

void WriteCheckpoint(const std::string& dir, int k) {
  WriteBundle(dir, k, static_cast<float>(k));
  Point(dir, Name(k));
}

std::string DataFile(const std::string& dir, int k) {
  return dir + "/" + Name(k) + ".data-00000-of-00001";
}

struct Answer {
  grpc::Status status;
  float y = NAN;
  std::string checkpoint;  // trailer
  std::string weights_version;
};

Answer Ask(tfs::PredictionService::Stub& stub, const std::string& model = "m") {
  Answer a;
  tfs::PredictResponse response;
  auto context = ContextWithDeadline();
  a.status = stub.Predict(context.get(), FloatRequest(model, "x", {1, 1}, {1}), &response);
  if (a.status.ok()) a.y = Floats(response.outputs().at("y"))[0];
  for (const auto& [key, value] : context->GetServerTrailingMetadata()) {
    if (key == "swapserve-checkpoint") a.checkpoint.assign(value.data(), value.size());
    if (key == "swapserve-weights-version") a.weights_version.assign(value.data(), value.size());
  }
  return a;
}

// Calls Predict continuously from `threads` threads; counts failures and
// responses whose value does not match the checkpoint their trailer names.
class Load {
 public:
  Load(Daemon& d, int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, &d] {
        auto stub = tfs::PredictionService::NewStub(d.channel());
        while (!stop_) {
          Answer a = Ask(*stub);
          if (!a.status.ok()) {
            ++failed_;
            continue;
          }
          ++ok_;
          int k = -1;
          if (a.checkpoint.rfind("ckpt-", 0) != 0 || !absl::SimpleAtoi(a.checkpoint.substr(5), &k) ||
              a.y != 2.0f * k) {
            ++torn_;
          }
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  int torn() const { return torn_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0}, torn_{0};
  std::vector<std::thread> threads_;
};

class HotReloadTest : public ::testing::Test {
 protected:
  // Serves half_plus_two as "m" following ckpt_dir_, which starts at ckpt-1.
  std::unique_ptr<Daemon> StartFollowing(std::vector<std::string> extra = {},
                                         bool rest = false) {
    base_ = Fixture("tf_serving/saved_model_half_plus_two_cpu");
    WriteCheckpoint(dir(), 1);
    std::vector<std::string> flags = {"--model_name=m", "--model_base_path=" + base_,
                                      "--checkpoint_dir=" + dir(),
                                      "--checkpoint_poll_seconds=0.5"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return Daemon::Start(flags, rest);
  }
  void ExpectNoTornResponses(Daemon& d);
  std::string dir() const { return tmp_.path() + "/ckpt"; }
  void SetUp() override { ASSERT_EQ(RunCommand("mkdir -p '" + dir() + "'").exit_code, 0); }

  // Waits until responses come from checkpoint K.
  static bool ServesCheckpoint(Daemon& d, int k, absl::Duration timeout = absl::Seconds(20)) {
    return WaitFor([&] { return Ask(d.prediction()).checkpoint == Name(k); }, timeout);
  }

  static admin::ListCheckpointsResponse History(Daemon& d) {
    auto stub = admin::CheckpointAdmin::NewStub(d.channel());
    admin::ListCheckpointsRequest request;
    request.set_model("m");
    admin::ListCheckpointsResponse response;
    EXPECT_TRUE(stub->ListCheckpoints(ContextWithDeadline().get(), request, &response).ok());
    return response;
  }

  // The sequence number of the history's latest event (0: none).
  static uint64_t LastSequence(Daemon& d) {
    const admin::ListCheckpointsResponse h = History(d);
    return h.history().empty() ? 0 : h.history(h.history_size() - 1).sequence();
  }

  // The reason of the first REJECTED event after sequence number `after`, or "":
  // a fault's own rejection, not an earlier one's.
  static std::string RejectionAfter(Daemon& d, uint64_t after) {
    const admin::ListCheckpointsResponse h = History(d);
    for (const admin::CheckpointEvent& e : h.history()) {
      if (e.sequence() > after && e.kind() == admin::CheckpointEvent::REJECTED) return e.reason();
    }
    return "";
  }

  TempDir tmp_;
  std::string base_;
};


TEST(HotReloadSeedTest, SeedWorkflow) {
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  SS_REQUIRE_FIXTURE(training, "keras_seed_mlp/training_2");
  SS_REQUIRE_FIXTURE(expected_path, "expected/keras_seed_mlp.json");
  TempDir tmp;
  const std::string dir = tmp.Join("training_2");
  CopyTree(training, dir);
  Point(dir, "cp-0000.ckpt");
  auto d = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model,
                          "--checkpoint_dir=" + dir, "--checkpoint_poll_seconds=0.5"});
  ASSERT_NE(d, nullptr);

  std::ifstream in(expected_path);
  const nlohmann::json expected = nlohmann::json::parse(in);
  const auto& input = expected["inputs"]["dense_10_input"];
  const tfs::PredictRequest request =
      FloatRequest("mlp", "dense_10_input", input["shape"].get<std::vector<int64_t>>(),
                   input["values"].get<std::vector<float>>());
  auto check = [&] {
    tfs::PredictResponse response;
    auto context = ContextWithDeadline();
    grpc::Status s = d->prediction().Predict(context.get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const std::vector<float> got = Floats(response.outputs().at("dense_11"));
    const auto& want = expected["outputs"]["dense_11"]["values"];
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], want[i].get<double>(), expected["atol"].get<double>()) << i;
    }
    bool named = false;
    for (const auto& [k, v] : context->GetServerTrailingMetadata()) {
      if (k == "swapserve-checkpoint") named = std::string(v.data(), v.size()) == "cp-0000.ckpt";
    }
    EXPECT_TRUE(named) << "the trailer names cp-0000.ckpt";
  };
  check();

  // cp-0005 has its index but not its data: rejected with that reason.
  Point(dir, "cp-0005.ckpt");
  auto stub = admin::CheckpointAdmin::NewStub(d->channel());
  std::string reason;
  EXPECT_TRUE(WaitFor(
      [&] {
        admin::ListCheckpointsRequest r;
        r.set_model("mlp");
        admin::ListCheckpointsResponse response;
        if (!stub->ListCheckpoints(ContextWithDeadline().get(), r, &response).ok()) return false;
        for (const auto& e : response.history()) {
          if (e.kind() == admin::CheckpointEvent::REJECTED) reason = e.reason();
        }
        return !reason.empty();
      },
      absl::Seconds(20)));
  EXPECT_NE(reason.find("cp-0005.ckpt.data-00000-of-00001"), std::string::npos) << reason;
  {
    admin::ListCheckpointsRequest r;
    r.set_model("mlp");
    admin::ListCheckpointsResponse response;
    ASSERT_TRUE(stub->ListCheckpoints(ContextWithDeadline().get(), r, &response).ok());
    ASSERT_GT(response.history_size(), 0);
    EXPECT_EQ(response.history(0).kind(), admin::CheckpointEvent::LOADED);
    EXPECT_EQ(response.history(0).prefix(), dir + "/cp-0000.ckpt");
    EXPECT_EQ(response.history(0).step(), 0);
  }
  EXPECT_NE(reason.find("missing data shard"), std::string::npos) << reason;
  check();  // still cp-0000

  // GetModelStatus tells too, while the version stays AVAILABLE.
  tfs::GetModelStatusRequest status_request;
  status_request.mutable_model_spec()->set_name("mlp");
  tfs::GetModelStatusResponse status;
  ASSERT_TRUE(d->models().GetModelStatus(ContextWithDeadline().get(), status_request, &status).ok());
  ASSERT_EQ(status.model_version_status_size(), 1);
  EXPECT_EQ(status.model_version_status(0).state(), tfs::ModelVersionStatus::AVAILABLE);
  EXPECT_NE(status.model_version_status(0).status().error_message().find("cp-0005"),
            std::string::npos);
}

// Eight clients while checkpoints are swapped in as fast as the follower takes
// them: every response's value is the one of the checkpoint its trailer names.
void HotReloadTest::ExpectNoTornResponses(Daemon& d) {
  ASSERT_TRUE(ServesCheckpoint(d, 1));
  Load load(d, 8);
  const int last = 60;
  for (int k = 2; k <= last; ++k) WriteCheckpoint(dir(), k);  // as fast as it can
  EXPECT_TRUE(ServesCheckpoint(d, last)) << d.Log();
  load.Stop();
  EXPECT_GT(load.ok(), 0);
  EXPECT_EQ(load.failed(), 0);
  EXPECT_EQ(load.torn(), 0);
  const Answer a = Ask(d.prediction());
  int swaps = 0;
  EXPECT_TRUE(absl::SimpleAtoi(a.weights_version, &swaps));
  EXPECT_GT(swaps, 2) << "several checkpoints were swapped in";
}

TEST_F(HotReloadTest, NoTornResponses) {
  auto d = StartFollowing();
  ASSERT_NE(d, nullptr);
  ExpectNoTornResponses(*d);
}

// The same with --enable_batching: one batch, one weights snapshot. The
// metrics show that calls were merged (more calls than batches) and padded.
TEST_F(HotReloadTest, NoTornResponsesWithBatching) {
  WriteFileOrDie(tmp_.Join("batching.config"),
                 "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 2000 }\n"
                 "num_batch_threads { value: 2 }\nallowed_batch_sizes: 4\nallowed_batch_sizes: 8\n");
  WriteFileOrDie(tmp_.Join("monitoring.config"), "prometheus_config { enable: true }\n");
  auto d = StartFollowing({"--enable_batching",
                           "--batching_parameters_file=" + tmp_.Join("batching.config"),
                           "--monitoring_config_file=" + tmp_.Join("monitoring.config")},
                          /*rest=*/true);
  ASSERT_NE(d, nullptr);
  ExpectNoTornResponses(*d);
  const Reply scrape = Curl(d->Url("/monitoring/prometheus/metrics"));
  ASSERT_EQ(scrape.code, 200) << scrape.head;
  double batches = 0, calls = 0, padding = 0;
  for (absl::string_view line : absl::StrSplit(scrape.body, '\n')) {
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    const absl::string_view name = line.substr(0, space), value = line.substr(space + 1);
    double* into = name == "swapserve_batches_total"              ? &batches
                   : name == "swapserve_batched_calls_total"        ? &calls
                   : name == "swapserve_batch_padding_rows_total" ? &padding
                                                                    : nullptr;
    if (into != nullptr) {
      EXPECT_TRUE(absl::SimpleAtod(value, into)) << line;
    }
  }
  EXPECT_GT(batches, 0);
  EXPECT_GT(calls, batches) << "no two calls were ever merged";
  EXPECT_GT(padding, 0) << "no batch was padded to an allowed size";
}

TEST_F(HotReloadTest, FaultsAreRejectedAndTheOldWeightsKeepServing) {
  auto d = StartFollowing();
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(ServesCheckpoint(*d, 1));
  Load load(*d, 2);
  int serving = 1;
  // After a fault: its own rejection (an event after `before`) names the
  // problem, `serving` still answers, and the next good checkpoint loads.
  uint64_t before = LastSequence(*d);
  auto expect_rejected_then_recover = [&](const std::string& fault, const std::string& reason,
                                          int next) {
    SCOPED_TRACE(fault);
    EXPECT_TRUE(WaitFor([&] { return RejectionAfter(*d, before).find(reason) != std::string::npos; },
                        absl::Seconds(20)))
        << "rejection: '" << RejectionAfter(*d, before) << "'\n" << d->Log();
    const Answer a = Ask(d->prediction());
    EXPECT_EQ(a.checkpoint, Name(serving));
    EXPECT_EQ(a.y, 2.0f * serving);
    WriteCheckpoint(dir(), next);
    EXPECT_TRUE(ServesCheckpoint(*d, next)) << d->Log();
    serving = next;
    before = LastSequence(*d);
  };

  WriteBundle(dir(), 2, 2);
  ASSERT_EQ(truncate(DataFile(dir(), 2).c_str(), 10), 0);
  Point(dir(), Name(2));
  expect_rejected_then_recover("truncated data", Name(2) + ".data-00000-of-00001", 3);

  WriteBundle(dir(), 4, 4);
  {
    std::fstream f(DataFile(dir(), 4), std::ios::in | std::ios::out | std::ios::binary);
    char c;
    f.read(&c, 1);
    c ^= 0x01;
    f.seekp(0);
    f.write(&c, 1);
  }
  Point(dir(), Name(4));
  expect_rejected_then_recover("flipped byte", "CRC", 5);

  WriteBundle(dir(), 6, 6, "", {2});
  Point(dir(), Name(6));
  expect_rejected_then_recover("wrong shape", "is DT_FLOAT[2] but variable a is DT_FLOAT[]", 7);

  WriteBundle(dir(), 8, 8, "c2");
  Point(dir(), Name(8));
  expect_rejected_then_recover("missing key", "'c2'", 9);

  WriteBundle(dir(), 10, NAN);
  Point(dir(), Name(10));
  expect_rejected_then_recover("NaN", "holds a NaN or infinity", 11);

  WriteBundle(dir(), 30, INFINITY);
  Point(dir(), Name(30));
  expect_rejected_then_recover("Inf", "holds a NaN or infinity", 31);

  Point(dir(), "ckpt-99");
  expect_rejected_then_recover("pointer to nothing", "ckpt-99.index does not exist", 12);

  WriteFileOrDie(dir() + "/checkpoint.tmp", "this is { not a CheckpointState");
  ASSERT_EQ(rename((dir() + "/checkpoint.tmp").c_str(), (dir() + "/checkpoint").c_str()), 0);
  expect_rejected_then_recover("garbage pointer file", "/checkpoint: not a CheckpointState text proto",
                               13);

  ASSERT_EQ(RunCommand("rm -rf '" + dir() + "'").exit_code, 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string r = RejectionAfter(*d, before);
        return r.find("does not exist") != std::string::npos ||
               r.find("No such file") != std::string::npos;
      },
      absl::Seconds(20)))
      << "rejection: '" << RejectionAfter(*d, before) << "'";
  EXPECT_EQ(Ask(d->prediction()).checkpoint, Name(13));
  ASSERT_EQ(RunCommand("mkdir '" + dir() + "'").exit_code, 0);
  WriteCheckpoint(dir(), 14);
  EXPECT_TRUE(ServesCheckpoint(*d, 14)) << "after the directory was recreated\n" << d->Log();
  serving = 14;

  // The pointer before the data: rejected until the data arrives, then loaded
  // with no new pointer write.
  TempDir staging;
  WriteBundle(staging.path(), 15, 15);
  CopyTree(staging.path() + "/" + Name(15) + ".index", dir() + "/" + Name(15) + ".index");
  before = LastSequence(*d);
  Point(dir(), Name(15));
  EXPECT_TRUE(WaitFor([&] { return RejectionAfter(*d, before).find(Name(15)) != std::string::npos; },
                      absl::Seconds(20)));
  EXPECT_EQ(Ask(d->prediction()).checkpoint, Name(14));
  CopyTree(DataFile(staging.path(), 15), dir() + "/partial.tmp");
  ASSERT_EQ(rename((dir() + "/partial.tmp").c_str(), DataFile(dir(), 15).c_str()), 0);
  EXPECT_TRUE(ServesCheckpoint(*d, 15)) << d->Log();

  load.Stop();
  EXPECT_GT(load.ok(), 0);
  EXPECT_EQ(load.failed(), 0);
  EXPECT_EQ(load.torn(), 0);
}

TEST_F(HotReloadTest, StartupPrefersTheCheckpointAndFallsBackToOwnWeights) {
  auto d = StartFollowing();
  ASSERT_NE(d, nullptr);
  Answer a = Ask(d->prediction());
  EXPECT_EQ(a.checkpoint, Name(1));  // the checkpoint overrides the SavedModel's own
  EXPECT_EQ(a.y, 2.0f);
  EXPECT_EQ(a.weights_version, "1");
  d.reset();

  // No usable checkpoint at all (the pointer names a missing one, and no other
  // is on disk; with one, checkpoint_fallback_test): the model's own weights
  // serve until one arrives.
  ASSERT_EQ(RunCommand("rm -f " + dir() + "/ckpt-*").exit_code, 0);
  Point(dir(), "ckpt-77");
  d = Daemon::Start({"--model_name=m", "--model_base_path=" + base_, "--checkpoint_dir=" + dir(),
                     "--checkpoint_poll_seconds=0.5"});
  ASSERT_NE(d, nullptr);
  a = Ask(d->prediction());
  EXPECT_EQ(a.checkpoint, "saved_model");
  EXPECT_EQ(a.y, 2.5f);  // 0.5 * 1 + 2
  WriteCheckpoint(dir(), 5);
  EXPECT_TRUE(ServesCheckpoint(*d, 5));
}

TEST_F(HotReloadTest, PollingAloneFollowsWithoutEvents) {
  // Network and overlay volumes often deliver no inotify events.
  auto d = StartFollowing({"--checkpoint_inotify=false"});
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(ServesCheckpoint(*d, 1));
  Load load(*d, 2);
  for (int k = 2; k <= 4; ++k) {
    WriteCheckpoint(dir(), k);
    EXPECT_TRUE(ServesCheckpoint(*d, k)) << d->Log();
  }
  load.Stop();
  EXPECT_EQ(load.failed(), 0);
  EXPECT_EQ(load.torn(), 0);
}

TEST_F(HotReloadTest, ConfigFileCheckpointDir) {
  const std::string base = Fixture("tf_serving/saved_model_half_plus_two_cpu");
  WriteCheckpoint(dir(), 3);
  WriteFileOrDie(tmp_.Join("models.config"),
                 "model_config_list { config { name: 'm' base_path: '" + base +
                     "' model_platform: 'tensorflow' checkpoint_dir: '" + dir() + "' } }");
  auto d = Daemon::Start({"--model_config_file=" + tmp_.Join("models.config")});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(Ask(d->prediction()).checkpoint, Name(3));
  WriteCheckpoint(dir(), 4);
  EXPECT_TRUE(ServesCheckpoint(*d, 4));
}

TEST(HotReloadSeedTest, NeitherCheckpointNorOwnWeightsIsAClearLoadError) {
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  TempDir empty;
  auto d = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model,
                          "--checkpoint_dir=" + empty.path()});
  ASSERT_NE(d, nullptr);
  tfs::GetModelStatusRequest request;
  request.mutable_model_spec()->set_name("mlp");
  tfs::GetModelStatusResponse status;
  ASSERT_TRUE(d->models().GetModelStatus(ContextWithDeadline().get(), request, &status).ok());
  ASSERT_EQ(status.model_version_status_size(), 1);
  const std::string message = status.model_version_status(0).status().error_message();
  EXPECT_NE(message.find("no usable weights"), std::string::npos) << message;
  EXPECT_NE(message.find(empty.path()), std::string::npos) << message;
  EXPECT_NE(message.find("has no variables/ data"), std::string::npos) << message;
}

// With --reject_nonfinite=false, NaN and Inf weights are served like any other
// (the default rejects both: FaultsAreRejectedAndTheOldWeightsKeepServing).
TEST_F(HotReloadTest, NonFiniteWeightsServeWhenAllowed) {
  auto d = StartFollowing({"--reject_nonfinite=false"});
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(ServesCheckpoint(*d, 1));
  WriteBundle(dir(), 2, NAN);
  Point(dir(), Name(2));
  ASSERT_TRUE(ServesCheckpoint(*d, 2)) << d->Log();
  EXPECT_TRUE(std::isnan(Ask(d->prediction()).y));
  WriteBundle(dir(), 3, INFINITY);
  Point(dir(), Name(3));
  ASSERT_TRUE(ServesCheckpoint(*d, 3)) << d->Log();
  EXPECT_EQ(Ask(d->prediction()).y, INFINITY);
  EXPECT_EQ(RejectionAfter(*d, 0), "");
}

// Keras's ModelCheckpoint with a fixed filepath (`cp.ckpt`) rewrites the same
// prefix each time: the pointer's text does not change, the content does.
TEST_F(HotReloadTest, PrefixRewrittenInPlaceReloads) {
  auto d = StartFollowing();
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(ServesCheckpoint(*d, 1));
  auto serves = [&](float y) {
    return WaitFor(
        [&] {
          const Answer a = Ask(d->prediction());
          return a.checkpoint == "cp.ckpt" && a.y == y;
        },
        absl::Seconds(20));
  };
  for (int k = 2; k <= 4; ++k) {
    WriteBundleAt(dir() + "/cp.ckpt", static_cast<float>(k));
    Point(dir(), "cp.ckpt");
    EXPECT_TRUE(serves(2.0f * k)) << "rewrite " << k << "\n" << d->Log();
  }
  const Answer a = Ask(d->prediction());
  EXPECT_EQ(a.weights_version, "4") << "three swaps after the first load";
}

// A trainer with max_to_keep deletes checkpoints a replica may be reading. Here
// each checkpoint is deleted right after the pointer names it, so the follower
// meets it whole, half gone or gone: whichever, it is loaded or rejected, the
// old weights keep answering, and the next whole checkpoint serves.
TEST_F(HotReloadTest, CheckpointDeletedWhileReadKeepsServing) {
  auto d = StartFollowing();
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(ServesCheckpoint(*d, 1));
  Load load(*d, 2);
  for (int k = 2; k <= 40; ++k) {
    WriteCheckpoint(dir(), k);
    ASSERT_EQ(unlink(DataFile(dir(), k).c_str()), 0);
    ASSERT_EQ(unlink((dir() + "/" + Name(k) + ".index").c_str()), 0);
  }
  WriteCheckpoint(dir(), 41);
  EXPECT_TRUE(ServesCheckpoint(*d, 41)) << d->Log();
  load.Stop();
  EXPECT_GT(load.ok(), 0);
  EXPECT_EQ(load.failed(), 0);
  EXPECT_EQ(load.torn(), 0);
  int rejected = 0;
  const admin::ListCheckpointsResponse h = History(*d);
  for (const admin::CheckpointEvent& e : h.history()) {
    rejected += e.kind() == admin::CheckpointEvent::REJECTED;
  }
  std::printf("of 39 checkpoints deleted as they were named: %d rejected, weights version %s\n",
              rejected, Ask(d->prediction()).weights_version.c_str());
}

TEST_F(HotReloadTest, PinUnpinRollbackWatch) {
  auto d = StartFollowing();
  ASSERT_NE(d, nullptr);
  WriteCheckpoint(dir(), 2);
  ASSERT_TRUE(ServesCheckpoint(*d, 2));
  auto stub = admin::CheckpointAdmin::NewStub(d->channel());

  absl::Mutex seen_mu;
  std::vector<admin::CheckpointEvent::Kind> seen;  // guarded by seen_mu
  auto seen_now = [&] {
    absl::MutexLock lock(&seen_mu);
    return seen;
  };
  grpc::ClientContext watch_context;
  admin::WatchRequest watch_request;
  watch_request.set_model("m");
  std::unique_ptr<grpc::ClientReader<admin::CheckpointEvent>> reader =
      stub->Watch(&watch_context, watch_request);
  std::atomic<bool> subscribed{false};
  std::thread watcher([&] {
    // The server sends the stream's headers once it is subscribed: every event
    // from then on reaches this stream.
    reader->WaitForInitialMetadata();
    subscribed = true;
    admin::CheckpointEvent e;
    while (reader->Read(&e)) {
      absl::MutexLock lock(&seen_mu);
      seen.push_back(e.kind());
    }
  });
  if (!WaitFor([&] { return subscribed.load(); }, absl::Seconds(10))) {
    watch_context.TryCancel();
    watcher.join();
    FAIL() << "the Watch stream sent no headers: not subscribed";
  }

  admin::PinRequest pin;
  pin.set_model("m");
  pin.set_prefix(Name(1));
  admin::ServingState state;
  ASSERT_TRUE(stub->Pin(ContextWithDeadline().get(), pin, &state).ok());
  EXPECT_TRUE(state.pinned());
  EXPECT_EQ(state.serving_prefix(), dir() + "/" + Name(1));
  EXPECT_EQ(Ask(d->prediction()).checkpoint, Name(1));  // at once: Pin is synchronous

  WriteCheckpoint(dir(), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(Ask(d->prediction()).checkpoint, Name(1)) << "pinned: the pointer is not followed";

  admin::UnpinRequest unpin;
  unpin.set_model("m");
  ASSERT_TRUE(stub->Unpin(ContextWithDeadline().get(), unpin, &state).ok());
  EXPECT_TRUE(ServesCheckpoint(*d, 3));

  admin::RollbackRequest rollback;
  rollback.set_model("m");
  ASSERT_TRUE(stub->Rollback(ContextWithDeadline().get(), rollback, &state).ok());
  EXPECT_TRUE(state.pinned());
  EXPECT_EQ(Ask(d->prediction()).checkpoint, Name(1)) << "the weights before the last change";

  // Pinning something invalid fails and changes nothing.
  WriteBundle(dir(), 4, NAN);
  pin.set_prefix(Name(4));
  grpc::Status s = stub->Pin(ContextWithDeadline().get(), pin, &state);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("NaN"), std::string::npos) << s.error_message();
  pin.set_prefix("no-such-checkpoint");
  EXPECT_EQ(stub->Pin(ContextWithDeadline().get(), pin, &state).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Ask(d->prediction()).checkpoint, Name(1));

  // The CLI sees the same.
  CommandResult r = RunCommand(BuiltProgram("client/swapserve-cli") +
                               " checkpoints list --model m --server " + d->address());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"pinned\": true"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(Name(3)), std::string::npos) << r.out;

  using E = admin::CheckpointEvent;
  const std::vector<E::Kind> want = {E::PINNED, E::UNPINNED, E::SWAPPED, E::ROLLED_BACK,
                                     E::REJECTED};
  EXPECT_TRUE(WaitFor([&] { return seen_now().size() >= want.size(); }, absl::Seconds(10)));
  watch_context.TryCancel();
  watcher.join();
  EXPECT_EQ(seen_now(), want);
}

}  // namespace
}  // namespace swapserve::testing
