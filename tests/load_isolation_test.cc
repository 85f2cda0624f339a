// One slow load never stalls another model (TF Serving #881). The seed MLP
// serves under load from two client threads while a config reload adds a
// ~104 MB model (the trainer's mlp with 32768 units, made here) whose
// saved_model.pb is first a FIFO: its load hangs in open() as on a stuck
// network mount. While it hangs, the MLP keeps answering and takes two new
// checkpoints; then the FIFO gives EOF (that attempt fails), the real file is
// in place, and the retry loads all 104 MB while the MLP keeps answering.
// Every request must succeed; the MLP's latency percentiles in each phase
// are printed (never asserted: wall-clock times vary by machine). And legacy
// .h5 and .keras models are parsed in a child process with a time limit.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/daemon_harness.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

// Latencies of the calls made in each phase, and the failures.
class Recorder {
 public:
  void Add(int phase, double ms, bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    ms_[phase].push_back(ms);
    if (!ok) ++failures_;
  }
  int failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  std::string Summary(int phase, const char* name) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<double>& v = ms_[phase];
    if (v.empty()) return absl::StrCat(name, ": no calls");
    std::sort(v.begin(), v.end());
    auto q = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))]; };
    return absl::StrFormat("%-22s %6d calls  p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms", name,
                           v.size(), q(0.5), q(0.99), v.back());
  }

 private:
  std::mutex mu_;
  std::vector<double> ms_[3];
  int failures_ = 0;
};

tfs::ModelVersionStatus::State StateOf(Daemon& d, const std::string& model) {
  tfs::GetModelStatusRequest request;
  request.mutable_model_spec()->set_name(model);
  tfs::GetModelStatusResponse response;
  if (!d.models().GetModelStatus(ContextWithDeadline().get(), request, &response).ok() ||
      response.model_version_status_size() == 0) {
    return tfs::ModelVersionStatus::UNKNOWN;
  }
  return response.model_version_status(0).state();
}

TEST(LoadIsolationTest, AHangingThenLargeLoadStallsNeitherServingNorSwaps) {
  SS_REQUIRE_FIXTURE(mlp, "keras_seed_mlp/saved_model");
  SS_REQUIRE_FIXTURE(seed, "keras_seed_mlp/training_2/cp-0000.ckpt.index");
  const std::string seed_prefix = Fixture("keras_seed_mlp/training_2/cp-0000.ckpt");
  TempDir tmp;
  // The large model, then its copy whose saved_model.pb is a FIFO.
  CommandResult r = RunCommand(
      BuiltProgram("trainer/swapserve-train") +
      " --mlp_units=32768 --train_examples=64 --test_examples=16 --epochs=1 --quiet"
      " --export_dir=" + tmp.Join("big/1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  CopyTree(tmp.Join("big"), tmp.Join("slow"));
  const std::string pb = tmp.Join("slow/1/saved_model.pb");
  ASSERT_EQ(std::rename(pb.c_str(), tmp.Join("saved_model.pb").c_str()), 0);
  ASSERT_EQ(mkfifo(pb.c_str(), 0644), 0);

  const std::string ckpt = tmp.Join("ckpt");
  ASSERT_EQ(RunCommand("mkdir -p " + ckpt).exit_code, 0);
  MakeSeedCheckpointDir(seed_prefix, ckpt);
  auto point_at = [&](int k) {
    CopyCheckpointAndPoint(seed_prefix, ckpt, absl::StrCat("ckpt-", k));
  };

  auto d = Daemon::Start({"--model_name=mlp",
                          "--model_base_path=" + mlp, "--checkpoint_dir=" + ckpt,
                          "--checkpoint_settle_seconds=0", "--max_num_load_retries=3",
                          "--load_retry_interval_micros=200000"});
  ASSERT_NE(d, nullptr);

  Recorder recorder;
  std::atomic<int> phase{0};
  std::atomic<bool> stop{false};
  std::mutex seen_mu;
  std::string last_seen;  // the checkpoint the latest answer came from
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      const tfs::PredictRequest request =
          FloatRequest("mlp", "dense_10_input", {1, 784}, std::vector<float>(784, 0.5f));
      while (!stop.load()) {
        auto context = ContextWithDeadline(absl::Seconds(10));
        tfs::PredictResponse response;
        const absl::Time start = absl::Now();
        const grpc::Status s = d->prediction().Predict(context.get(), request, &response);
        recorder.Add(phase.load(), absl::ToDoubleMilliseconds(absl::Now() - start), s.ok());
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(seen_mu);
          last_seen = CheckpointOf(*context);
        }
      }
    });
  }
  auto serving = [&](const std::string& name) {
    std::lock_guard<std::mutex> lock(seen_mu);
    return last_seen == name;
  };
  absl::SleepFor(absl::Seconds(1));  // phase 0: the MLP alone

  // Phase 1: the reload adds the large model; its load hangs on the FIFO.
  phase = 1;
  std::thread reload;
  // However the test ends: the daemon gone (so no call waits), the threads joined.
  absl::Cleanup join_all = [&] {
    stop = true;
    d->Stop(SIGKILL, absl::Seconds(10));
    if (reload.joinable()) reload.join();
    for (std::thread& t : clients) {
      if (t.joinable()) t.join();
    }
  };
  reload = std::thread([&] {
    tfs::ReloadConfigRequest request;
    for (const auto& [name, base] :
         std::vector<std::pair<std::string, std::string>>{{"mlp", mlp}, {"big", tmp.Join("slow")}}) {
      tfs::ModelConfig* m = request.mutable_config()->mutable_model_config_list()->add_config();
      m->set_name(name);
      m->set_base_path(base);
      m->set_model_platform("tensorflow");
      if (name == "mlp") m->set_checkpoint_dir(ckpt);
    }
    tfs::ReloadConfigResponse response;
    const grpc::Status s = d->models().HandleReloadConfigRequest(
        ContextWithDeadline(absl::Seconds(120)).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  });
  ASSERT_TRUE(WaitFor([&] { return StateOf(*d, "big") == tfs::ModelVersionStatus::LOADING; },
                      absl::Seconds(30)))
      << d->Log();
  for (int k = 1; k <= 2; ++k) {
    point_at(k);
    EXPECT_TRUE(WaitFor([&] { return serving(absl::StrCat("ckpt-", k)); }, absl::Seconds(20)))
        << "ckpt-" << k << " did not serve while another model's load hung\n" << d->Log();
  }
  EXPECT_EQ(StateOf(*d, "big"), tfs::ModelVersionStatus::LOADING) << "the hang ended early";

  // Phase 2: the real file in place, the FIFO ends its attempt; the retry
  // reads the whole model.
  phase = 2;
  ASSERT_EQ(std::rename(tmp.Join("saved_model.pb").c_str(), tmp.Join("slow/1/next.pb").c_str()), 0);
  const int fifo = open(pb.c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(fifo, 0) << "nothing is reading the FIFO";
  ASSERT_EQ(std::rename(tmp.Join("slow/1/next.pb").c_str(), pb.c_str()), 0);
  close(fifo);
  EXPECT_TRUE(WaitFor([&] { return StateOf(*d, "big") == tfs::ModelVersionStatus::AVAILABLE; },
                      absl::Seconds(60)))
      << d->Log();
  stop = true;
  for (std::thread& t : clients) t.join();
  std::cout << recorder.Summary(0, "mlp alone") << "\n"
            << recorder.Summary(1, "big's load hanging") << "\n"
            << recorder.Summary(2, "big loading (104 MB)") << "\n";
  EXPECT_EQ(recorder.failures(), 0);
  tfs::PredictResponse response;
  grpc::Status s = d->prediction().Predict(
      ContextWithDeadline().get(),
      FloatRequest("big", "dense_input", {1, 784}, std::vector<float>(784, 0.5f)), &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// A legacy .h5 (or .keras) model the daemon is given is parsed in a child
// with the reader's time limit: with a limit too short for any parse, the
// child is killed and the load fails saying so (a parse in the daemon would
// know no limit), and the daemon goes on. (server_predict_test serves the same
// files through the child with the default limit.)
TEST(LoadIsolationTest, AnH5ModelIsParsedInAChildWithATimeLimit) {
  SS_REQUIRE_FIXTURE(h5, "keras_h5/bank_churn.h5");
  SS_REQUIRE_FIXTURE(archive, "keras3/heart_sequential_k3.10.keras");
  TempDir tmp;
  const std::string config = tmp.Join("models.config");
  std::string text = "model_config_list {\n";
  for (const auto& [name, path] : std::vector<std::pair<std::string, std::string>>{
           {"churn", h5}, {"heart", archive}}) {
    absl::StrAppend(&text, "  config { name: '", name, "' base_path: '", path,
                    "' model_platform: 'tensorflow' }\n");
  }
  WriteFileOrDie(config, text + "}\n");
  auto d = Daemon::Start({"--model_config_file=" + config,
                          "--checkpoint_read_timeout_seconds=0.001", "--max_num_load_retries=0"});
  ASSERT_NE(d, nullptr);
  for (const auto& [model, reason] : std::vector<std::pair<std::string, std::string>>{
           {"churn", "reading took longer than"},
           {"heart", "reading took longer than"}}) {
    tfs::GetModelStatusRequest request;
    request.mutable_model_spec()->set_name(model);
    tfs::GetModelStatusResponse status;
    ASSERT_TRUE(d->models().GetModelStatus(ContextWithDeadline().get(), request, &status).ok());
    ASSERT_EQ(status.model_version_status_size(), 1) << model;
    EXPECT_NE(status.model_version_status(0).state(), tfs::ModelVersionStatus::AVAILABLE) << model;
    EXPECT_TRUE(absl::StrContains(status.model_version_status(0).status().error_message(), reason))
        << model << ": " << status.DebugString();
  }
}

}  // namespace
}  // namespace swapserve::testing
