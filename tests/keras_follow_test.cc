// The daemon following a Keras 3 training run: `*.weights.h5` files appear in
// the checkpoint directory with no pointer, written in place in pieces as h5py
// writes them. With clients calling all along: only complete files swap in,
// the newest by step; truncated, corrupted, wrong-shape and NaN files are
// rejected with the old weights serving; no request fails, every answer
// matches the checkpoint its trailer names, and the daemon never dies
// (corrupt files are parsed in a child process).
#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "model/formats/keras_archive.h"
#include "model/loaded_model.h"
#include "nlohmann/json.hpp"
#include "swapserve/admin/v1/admin.grpc.pb.h"
#include "tests/daemon_harness.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;
namespace admin = swapserve::admin::v1;
using json = nlohmann::json;

constexpr char kModel[] = "keras3/heart_sequential_k3.10.keras";
constexpr char kLastKernel[] = "layers/dense_2/vars/0";  // [32, 1]

json Case() {
  std::ifstream in(Fixture("expected/keras3_heart_sequential_k3.10.json"));
  return json::parse(in);
}

// The model's own weights file, and variants of it: the last Dense kernel
// scaled (a different, valid checkpoint) or with one value replaced.
class WeightsFiles {
 public:
  WeightsFiles() {
    auto archive = ReadKerasArchive(Fixture(kModel), true);
    EXPECT_TRUE(archive.ok()) << archive.status();
    if (archive.ok()) original_ = archive->weights_image;
    auto model = LoadModel(Fixture(kModel), LoadOptions{});
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return;
    for (size_t i = 0; i < (*model)->slots.size(); ++i) {
      if ((*model)->slots[i].checkpoint_key != kLastKernel) continue;
      const Tensor& t = (*model)->weights->slot(static_cast<int>(i));
      kernel_.assign(t.data<float>(), t.data<float>() + t.num_elements());
    }
    const std::string bytes(reinterpret_cast<const char*>(kernel_.data()), kernel_.size() * 4);
    at_ = original_.find(bytes);
    EXPECT_NE(at_, std::string::npos);
    EXPECT_EQ(original_.find(bytes, at_ + 1), std::string::npos) << "the kernel's bytes are unique";
  }

  std::string Scaled(float factor) const {
    std::vector<float> k = kernel_;
    for (float& v : k) v *= factor;
    return WithKernel(k);
  }
  std::string WithNaN() const {
    std::vector<float> k = kernel_;
    k[3] = NAN;
    return WithKernel(k);
  }
  const std::string& original() const { return original_; }

 private:
  std::string WithKernel(const std::vector<float>& k) const {
    std::string out = original_;
    out.replace(at_, k.size() * 4, reinterpret_cast<const char*>(k.data()), k.size() * 4);
    return out;
  }
  std::string original_;
  std::vector<float> kernel_;
  size_t at_ = std::string::npos;
};

// What the library answers for the case's input with `checkpoint`'s weights.
std::vector<float> ExpectedFor(const std::string& checkpoint, const json& c) {
  LoadOptions options;
  options.checkpoint = checkpoint;
  auto model = LoadModel(Fixture(kModel), options);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  const json& in = c["inputs"]["input_layer_6"];
  auto shape = TensorShape::Make(in["shape"].get<std::vector<int64_t>>());
  auto input = Tensor::Allocate(tensorflow::DT_FLOAT, *shape);
  const std::vector<float> values = in["values"].get<std::vector<float>>();
  std::copy(values.begin(), values.end(), input->data<float>());
  auto out = (*model)->FindPlan("").value()->Run(*(*model)->weights, {*input});
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  return std::vector<float>((*out)[0].data<float>(),
                            (*out)[0].data<float>() + (*out)[0].num_elements());
}

// Writes `bytes` to `path` in place, in `pieces` writes with `pause` between
// them (the file is visible, growing, all along).
void WriteInPlace(const std::string& path, const std::string& bytes, int pieces,
                  absl::Duration pause) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const size_t piece = (bytes.size() + pieces - 1) / pieces;
  for (size_t at = 0; at < bytes.size(); at += piece) {
    const size_t n = std::min(piece, bytes.size() - at);
    ASSERT_EQ(std::fwrite(bytes.data() + at, 1, n, f), n);
    std::fflush(f);
    if (at + n < bytes.size()) absl::SleepFor(pause);
  }
  std::fclose(f);
}

// Predict from several threads until stopped; every answer is recorded
// under the checkpoint its trailer names.
class Clients {
 public:
  Clients(Daemon& d, const json& c, int threads) {
    const json& in = c["inputs"]["input_layer_6"];
    request_ = FloatRequest("heart", "input_layer_6", in["shape"].get<std::vector<int64_t>>(),
                            in["values"].get<std::vector<float>>());
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, &d] {
        auto stub = tfs::PredictionService::NewStub(d.channel());
        while (!stop_) {
          tfs::PredictResponse response;
          auto context = ContextWithDeadline();
          grpc::Status s = stub->Predict(context.get(), request_, &response);
          if (!s.ok()) {
            ++failed_;
            absl::MutexLock lock(&mu_);
            last_error_ = s.error_message();
            continue;
          }
          std::string checkpoint;
          for (const auto& [k, v] : context->GetServerTrailingMetadata()) {
            if (k == "swapserve-checkpoint") checkpoint.assign(v.data(), v.size());
          }
          absl::MutexLock lock(&mu_);
          answers_[checkpoint].insert(Floats(response.outputs().at("output_0")));
          ++calls_;
        }
      });
    }
  }
  ~Clients() { Stop(); }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  int failed() const { return failed_; }
  std::string last_error() {
    absl::MutexLock lock(&mu_);
    return last_error_;
  }
  int64_t calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // Distinct answers seen per trailer ("" when absent).
  std::map<std::string, std::set<std::vector<float>>> answers() {
    absl::MutexLock lock(&mu_);
    return answers_;
  }
 private:
  tfs::PredictRequest request_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_{0};
  absl::Mutex mu_;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::set<std::vector<float>>> answers_ ABSL_GUARDED_BY(mu_);
};

class KerasFollowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SS_REQUIRE_FIXTURE(model, kModel);
    SS_REQUIRE_FIXTURE(other, "keras3/heart_functional_k3.10.keras");
    files_.emplace();
    dir_ = tmp_.Join("run");
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
    daemon_ = Daemon::Start({"--model_name=heart", "--model_base_path=" + Fixture(kModel),
                             "--checkpoint_dir=" + dir_, "--checkpoint_poll_seconds=0.2",
                             "--checkpoint_settle_seconds=0.3"});
    ASSERT_NE(daemon_, nullptr);
    admin_ = admin::CheckpointAdmin::NewStub(daemon_->channel());
  }

  admin::ListCheckpointsResponse List() {
    admin::ListCheckpointsRequest r;
    r.set_model("heart");
    admin::ListCheckpointsResponse response;
    grpc::Status s = admin_->ListCheckpoints(ContextWithDeadline().get(), r, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }
  std::string Serving() { return List().state().serving_prefix(); }
  bool WaitServing(const std::string& path) {
    return WaitFor([&] { return Serving() == path; }, absl::Seconds(30));
  }
  // The reason the file at `path` was rejected, waiting for it; "" if never.
  std::string WaitRejected(const std::string& path) {
    std::string reason;
    WaitFor(
        [&] {
          const admin::ListCheckpointsResponse list = List();
          for (const admin::CheckpointEvent& e : list.history()) {
            if (e.kind() == admin::CheckpointEvent::REJECTED && e.prefix() == path) {
              reason = e.reason();
            }
          }
          return !reason.empty();
        },
        absl::Seconds(30));
    return reason;
  }
  // Writes a finished file under a hidden name and renames it into place.
  void Publish(const std::string& name, const std::string& bytes) {
    const std::string tmp = dir_ + "/." + name + ".tmp";
    WriteFileOrDie(tmp, bytes);
    ASSERT_EQ(std::rename(tmp.c_str(), (dir_ + "/" + name).c_str()), 0);
  }

  TempDir tmp_;
  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<admin::CheckpointAdmin::Stub> admin_;
  std::optional<WeightsFiles> files_;
};

TEST_F(KerasFollowTest, OnlyCompleteFilesWrittenInPlaceSwapIn) {
  const json c = Case();
  Clients clients(*daemon_, c, 3);
  std::map<std::string, std::vector<float>> expected;  // trailer -> answer
  expected["saved_model"] = ExpectedFor("", c);  // the model file's own weights
  for (int k = 1; k <= 3; ++k) {
    const std::string name = absl::StrCat("cp-000", k, ".weights.h5");
    const std::string path = dir_ + "/" + name;
    const std::string bytes = files_->Scaled(0.5f * k);
    // In pieces; the long pause mid-file outlasts the settle time, so the
    // follower sees a quiet, half-written file and must refuse it.
    WriteInPlace(path, bytes.substr(0, bytes.size() / 2), 4, absl::Milliseconds(40));
    absl::SleepFor(absl::Milliseconds(900));
    std::FILE* f = std::fopen(path.c_str(), "ab");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data() + bytes.size() / 2, 1, bytes.size() - bytes.size() / 2, f);
    std::fclose(f);
    ASSERT_TRUE(WaitServing(path)) << Serving() << "\n" << daemon_->Log();
    expected[name] = ExpectedFor(path, c);
  }
  // Give the clients a moment on the last checkpoint, then check every answer.
  absl::SleepFor(absl::Milliseconds(300));
  clients.Stop();
  EXPECT_EQ(clients.failed(), 0) << clients.last_error();
  EXPECT_GT(clients.calls(), 0);
  for (const auto& [checkpoint, answers] : clients.answers()) {
    ASSERT_TRUE(expected.contains(checkpoint)) << "answered by unexpected " << checkpoint;
    for (const std::vector<float>& got : answers) {
      ASSERT_EQ(got.size(), expected[checkpoint].size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_NEAR(got[i], expected[checkpoint][i], 1e-5) << checkpoint << " [" << i << "]";
      }
    }
  }
  // The half-written moments were seen and refused, by HDF5's end of file.
  bool refused_incomplete = false;
  const admin::ListCheckpointsResponse events = List();
  for (const admin::CheckpointEvent& e : events.history()) {
    if (e.kind() == admin::CheckpointEvent::REJECTED &&
        absl::StrContains(e.reason(), "incomplete HDF5 file")) {
      refused_incomplete = true;
    }
  }
  EXPECT_TRUE(refused_incomplete) << daemon_->Log();
  // `checkpoints list` shows the files, their steps and which is latest.
  const admin::ListCheckpointsResponse list = List();
  EXPECT_EQ(list.state().pointer_target(), dir_ + "/cp-0003.weights.h5");
  int files = 0;
  for (const admin::CheckpointOnDisk& f : list.on_disk()) {
    if (f.format() == "weights_h5") ++files;
  }
  EXPECT_EQ(files, 3);
}

TEST_F(KerasFollowTest, BadFilesAreRejectedWhileTheOldWeightsServe) {
  const json c = Case();
  const std::string good = dir_ + "/cp-0001.weights.h5";
  Publish("cp-0001.weights.h5", files_->Scaled(2.0f));
  ASSERT_TRUE(WaitServing(good)) << daemon_->Log();
  Clients clients(*daemon_, c, 2);

  std::string other_model;
  {
    auto archive = ReadKerasArchive(Fixture("keras3/heart_functional_k3.10.keras"), true);
    ASSERT_TRUE(archive.ok()) << archive.status();
    other_model = archive->weights_image;
  }
  std::string corrupt = files_->original();
  const size_t tree = corrupt.find("TREE");
  ASSERT_NE(tree, std::string::npos);
  corrupt[tree + 1] = 'X';  // a B-tree node's signature: HDF5 cannot read the groups
  struct Bad {
    std::string name, bytes, reason;
  };
  const std::vector<Bad> bad = {
      {"cp-0002.weights.h5", files_->original().substr(0, files_->original().size() / 2),
       "incomplete HDF5 file"},
      {"cp-0003.weights.h5", corrupt, "HDF5"},
      {"cp-0004.weights.h5", other_model, "layers/"},
      {"cp-0005.weights.h5", files_->WithNaN(), "NaN"},
      {"cp-0006.weights.h5", "not an HDF5 file at all", "HDF5"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    Publish(b.name, b.bytes);
    const std::string reason = WaitRejected(dir_ + "/" + b.name);
    EXPECT_TRUE(absl::StrContains(reason, b.reason)) << reason << "\n" << daemon_->Log();
    EXPECT_EQ(Serving(), good);
    EXPECT_EQ(::kill(daemon_->pid(), 0), 0) << "the daemon died";
  }
  // The next good file still swaps in.
  Publish("cp-0007.weights.h5", files_->Scaled(3.0f));
  EXPECT_TRUE(WaitServing(dir_ + "/cp-0007.weights.h5")) << daemon_->Log();
  clients.Stop();
  EXPECT_EQ(clients.failed(), 0) << clients.last_error();
  for (const auto& [checkpoint, answers] : clients.answers()) {
    EXPECT_TRUE(checkpoint == "cp-0001.weights.h5" || checkpoint == "cp-0007.weights.h5")
        << "answered by " << checkpoint;
  }
}

}  // namespace
}  // namespace swapserve::testing

namespace swapserve::testing {
namespace {

// Pin, unpin and rollback take Keras files as they take bundle prefixes: by
// name inside the followed directory.
TEST_F(KerasFollowTest, PinUnpinRollbackOnKerasFiles) {
  Publish("cp-0001.weights.h5", files_->Scaled(2.0f));
  ASSERT_TRUE(WaitServing(dir_ + "/cp-0001.weights.h5")) << daemon_->Log();
  Publish("cp-0002.weights.h5", files_->Scaled(3.0f));
  ASSERT_TRUE(WaitServing(dir_ + "/cp-0002.weights.h5")) << daemon_->Log();

  admin::PinRequest pin;
  pin.set_model("heart");
  pin.set_prefix("cp-0001.weights.h5");
  admin::ServingState state;
  grpc::Status s = admin_->Pin(ContextWithDeadline().get(), pin, &state);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(state.pinned());
  EXPECT_EQ(state.serving_prefix(), dir_ + "/cp-0001.weights.h5");
  Publish("cp-0003.weights.h5", files_->Scaled(4.0f));
  absl::SleepFor(absl::Milliseconds(1000));
  EXPECT_EQ(Serving(), dir_ + "/cp-0001.weights.h5") << "pinned: newer files are not taken";

  admin::UnpinRequest unpin;
  unpin.set_model("heart");
  ASSERT_TRUE(admin_->Unpin(ContextWithDeadline().get(), unpin, &state).ok());
  EXPECT_TRUE(WaitServing(dir_ + "/cp-0003.weights.h5")) << daemon_->Log();

  admin::RollbackRequest rollback;
  rollback.set_model("heart");
  ASSERT_TRUE(admin_->Rollback(ContextWithDeadline().get(), rollback, &state).ok());
  EXPECT_EQ(Serving(), dir_ + "/cp-0001.weights.h5") << "the weights before the last change";

  // A bad file cannot be pinned; nothing changes.
  Publish("cp-0004.weights.h5", files_->WithNaN());
  pin.set_prefix("cp-0004.weights.h5");
  s = admin_->Pin(ContextWithDeadline().get(), pin, &state);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(Serving(), dir_ + "/cp-0001.weights.h5");
}

}  // namespace
}  // namespace swapserve::testing

namespace swapserve::testing {
namespace {

// save_best_only rewrites one best.weights.h5 in place: each rewrite is a new
// checkpoint (same path, same inode), taken once complete.
TEST_F(KerasFollowTest, BestWeightsRewrittenInPlaceIsTakenAgain) {
  const json c = Case();
  const std::string best = dir_ + "/best.weights.h5";
  const json& in = c["inputs"]["input_layer_6"];
  const tfs::PredictRequest request =
      FloatRequest("heart", "input_layer_6", in["shape"].get<std::vector<int64_t>>(),
                   in["values"].get<std::vector<float>>());
  auto answer = [&] {
    tfs::PredictResponse response;
    grpc::Status s = daemon_->prediction().Predict(ContextWithDeadline().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? Floats(response.outputs().at("output_0")) : std::vector<float>();
  };
  int64_t version = List().state().weights_version();  // the model's own weights
  for (float scale : {2.0f, 3.0f}) {
    SCOPED_TRACE(scale);
    WriteInPlace(best, files_->Scaled(scale), 4, absl::Milliseconds(20));
    ASSERT_TRUE(WaitFor([&] { return List().state().weights_version() > version; },
                        absl::Seconds(30)))
        << daemon_->Log();
    version = List().state().weights_version();
    EXPECT_EQ(Serving(), best);
    const std::vector<float> want = ExpectedFor(best, c);
    const std::vector<float> got = answer();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
  }
}

}  // namespace
}  // namespace swapserve::testing
