// The soak (label `slow`; bench/soak.sh runs it and keeps its figures):
// $SWAPSERVE_SOAK_SECONDS (600 by default) of mixed load on a daemon with
// batching on — Predict over gRPC and REST on a followed half_plus_two, and
// Predict on a second model whose versions come and go — while a checkpoint
// is written every 200 ms, every other one corrupt (NaN, a missing variable,
// a truncated data file, in turn), the config is reloaded every 5 s, and a
// version is added to and removed from the second model's base path.
//
// Every answer must be whole: half_plus_two's variables are all v in
// checkpoint ckpt-<v>, so y(x=2) = 3v for the v its checkpoint header names.
// Expected: 0 failed calls, 0 torn answers, no corrupt checkpoint served;
// after warm-up the resident set grows < 2 % and the open descriptors and
// threads stay within a few of their warm-up counts. Warm-up ends once the
// checkpoint event log (EventLog::kCapacity entries, ~1 KB each) is full, or
// at half the run: until then it grows by design. RSS is printed each minute.
#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "model/formats/bundle_writer.h"
#include "model/tensor.h"
#include "model/util/file.h"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

constexpr char kHalf[] = "tf_serving/saved_model_half_plus_two_cpu";
// server/event_log.h's EventLog::kCapacity (the test does not link the server).
constexpr size_t kEventLogCapacity = 1000;

// Counters the load threads share.
struct Tally {
  std::atomic<int64_t> grpc{0}, rest{0}, versions{0};
  std::atomic<int64_t> failed{0}, torn{0}, corrupt_served{0};
  std::mutex mu;
  std::string first_problem;
  void Problem(std::atomic<int64_t>* counter, const std::string& what) {
    ++*counter;
    std::lock_guard<std::mutex> lock(mu);
    if (first_problem.empty()) first_problem = what;
  }
};

// A checkpoint of half_plus_two with every variable `value` (ckpt-<value>),
// or corrupt in way `corruption` (bad-<n>): 1 NaN, 2 a missing variable, 3 a
// truncated data file.
void WriteCheckpoint(const std::string& prefix, float value, int corruption) {
  BundleWriter writer(prefix);
  for (const char* key : {"a", "a2", "b", "c", "c2"}) {
    if (corruption == 2 && std::string(key) == "b") continue;  // a missing variable
    Tensor t = *Tensor::Allocate(tensorflow::DT_FLOAT, *TensorShape::Make({}));
    t.data<float>()[0] = corruption == 1 ? NAN : value;
    ASSERT_TRUE(writer.Add(key, t).ok());
  }
  ASSERT_TRUE(writer.Finish().ok());
  if (corruption == 3) {  // a truncated data file
    ASSERT_EQ(truncate((prefix + ".data-00000-of-00001").c_str(), 4), 0);
  }
}

void Point(const std::string& dir, const std::string& name) {
  WriteFileOrDie(dir + "/checkpoint.tmp", absl::StrCat("model_checkpoint_path: \"", name, "\"\n"));
  ASSERT_EQ(std::rename((dir + "/checkpoint.tmp").c_str(), (dir + "/checkpoint").c_str()), 0);
}

// Checks one answer: y for x = 2 from checkpoint `name`.
void CheckAnswer(Tally& tally, const std::string& name, float y, const std::string& front) {
  if (absl::StartsWith(name, "bad-")) {
    tally.Problem(&tally.corrupt_served, front + " answered from corrupt " + name);
    return;
  }
  int v = 0;
  if (!absl::StartsWith(name, "ckpt-") || !absl::SimpleAtoi(name.substr(5), &v)) {
    if (name != "saved_model") tally.Problem(&tally.torn, front + ": checkpoint header " + name);
    return;
  }
  if (y != 3.0f * static_cast<float>(v)) {
    tally.Problem(&tally.torn, absl::StrCat(front, ": y = ", y, " from ", name));
  }
}

int64_t CountEntries(const std::string& dir) {
  int64_t n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n - 2;
}

int64_t StatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) {
      int64_t v = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      (void)absl::SimpleAtoi(digits, &v);
      return v;
    }
  }
  return 0;
}

struct Sample {
  int64_t rss_kib, fds, threads;
};

Sample Measure(pid_t pid) {
  return {StatusField(pid, "VmRSS"), CountEntries("/proc/" + std::to_string(pid) + "/fd"),
          StatusField(pid, "Threads")};
}

TEST(SoakTest, MixedLoadWhileCheckpointsSwapValidAndCorrupt) {
  SS_REQUIRE_FIXTURE(half, kHalf);
  const char* env = std::getenv("SWAPSERVE_SOAK_SECONDS");
  const int seconds = env != nullptr ? std::max(20, std::atoi(env)) : 600;
  TempDir tmp;
  const std::string ckpt = tmp.Join("ckpt"), other = tmp.Join("other");
  ASSERT_EQ(RunCommand("mkdir -p " + ckpt).exit_code, 0);
  CopyTree(half, other);  // version 123; 124 comes and goes
  WriteCheckpoint(ckpt + "/ckpt-1", 1, 0);
  Point(ckpt, "ckpt-1");
  const std::string config = tmp.Join("models.config");
  WriteFileOrDie(config, absl::StrCat("model_config_list {\n  config { name: 'half' base_path: '",
                                      half, "' model_platform: 'tensorflow' checkpoint_dir: '",
                                      ckpt, "' }\n  config { name: 'other' base_path: '", other,
                                      "' model_platform: 'tensorflow' }\n}\n"));
  auto d = Daemon::StartForMemory({"--model_config_file=" + config, "--enable_batching",
                                   "--checkpoint_settle_seconds=0", "--checkpoint_poll_seconds=0.5",
                                   "--file_system_poll_wait_seconds=1"},
                                  /*rest=*/true);
  ASSERT_NE(d, nullptr);

  Tally tally;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < 2; ++c) {  // gRPC on the followed model
    threads.emplace_back([&] {
      while (!stop) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        tfs::PredictResponse response;
        const grpc::Status s =
            d->prediction().Predict(&context, FloatRequest("half", "x", {1}, {2.0f}), &response);
        ++tally.grpc;
        if (!s.ok()) {
          tally.Problem(&tally.failed, "gRPC: " + s.error_message());
          continue;
        }
        const std::vector<float> y = Floats(response.outputs().at("y"));
        CheckAnswer(tally, CheckpointOf(context), y.empty() ? NAN : y[0], "gRPC");
      }
    });
  }
  threads.emplace_back([&] {  // REST on the followed model, one connection per call
    const std::string body = "{\"instances\": [2.0]}";
    const std::string request = absl::StrCat(
        "POST /v1/models/half:predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
        "application/json\r\nConnection: close\r\nContent-Length: ",
        body.size(), "\r\n\r\n", body);
    while (!stop) {
      const int fd = Connect(d->rest_port());
      if (fd < 0) {
        tally.Problem(&tally.failed, "REST: connect");
        continue;
      }
      SendAll(fd, request);
      bool closed = false;
      const std::string reply = ReadUntilClosed(fd, absl::Seconds(10), &closed);
      close(fd);
      ++tally.rest;
      if (!absl::StartsWith(reply, "HTTP/1.1 200")) {
        tally.Problem(&tally.failed, "REST: " + reply.substr(0, 200));
        continue;
      }
      Reply parsed;
      parsed.head = reply.substr(0, reply.find("\r\n\r\n"));
      const std::string name = HeaderValue(parsed, "swapserve-checkpoint");
      const size_t at = reply.find('[', reply.find("predictions"));
      const size_t close_at = at == std::string::npos ? at : reply.find(']', at);
      float y = NAN;
      if (close_at != std::string::npos) {
        (void)absl::SimpleAtof(reply.substr(at + 1, close_at - at - 1), &y);
      }
      CheckAnswer(tally, name, y, "REST");
    }
  });
  threads.emplace_back([&] {  // gRPC on the model whose versions come and go
    while (!stop) {
      tfs::PredictResponse response;
      const grpc::Status s = d->prediction().Predict(
          ContextWithDeadline(absl::Seconds(10)).get(), FloatRequest("other", "x", {1}, {2.0f}),
          &response);
      ++tally.versions;
      if (!s.ok()) tally.Problem(&tally.failed, "other: " + s.error_message());
    }
  });

  // The writer: a checkpoint every 200 ms, every other one corrupt; the config
  // and the second model's versions change every 5 s.
  const absl::Time start = absl::Now(), end = start + absl::Seconds(seconds);
  const absl::Time halfway = start + absl::Seconds(seconds) / 2;
  absl::Time next_minute = start + absl::Minutes(1);
  std::string minutes;  // RSS in KiB at each minute
  Sample warm_sample{0, 0, 0}, peak{0, 0, 0};
  double warm_at_s = 0;
  int good = 1, bad = 0, reloads = 0, version_changes = 0;
  for (int tick = 1; absl::Now() < end; ++tick) {
    absl::SleepFor(absl::Milliseconds(200));
    if (tick % 2 == 0) {
      ++good;
      WriteCheckpoint(absl::StrCat(ckpt, "/ckpt-", good), static_cast<float>(good), 0);
      Point(ckpt, absl::StrCat("ckpt-", good));
      RunCommand(absl::StrCat("rm -f ", ckpt, "/ckpt-", good - 2, ".*"));
    } else {
      ++bad;
      WriteCheckpoint(absl::StrCat(ckpt, "/bad-", bad), 1000, 1 + bad % 3);
      Point(ckpt, absl::StrCat("bad-", bad));
      RunCommand(absl::StrCat("rm -f ", ckpt, "/bad-", bad - 1, ".*"));
    }
    if (tick % 25 == 0) {
      tfs::ReloadConfigRequest reload;
      tfs::ModelConfig* m = reload.mutable_config()->mutable_model_config_list()->add_config();
      m->set_name("half");
      m->set_base_path(half);
      m->set_model_platform("tensorflow");
      m->set_checkpoint_dir(ckpt);
      m = reload.mutable_config()->mutable_model_config_list()->add_config();
      m->set_name("other");
      m->set_base_path(other);
      m->set_model_platform("tensorflow");
      if ((tick / 25) % 2 == 1) {
        m = reload.mutable_config()->mutable_model_config_list()->add_config();
        m->set_name("extra");
        m->set_base_path(half);
        m->set_model_platform("tensorflow");
      }
      tfs::ReloadConfigResponse response;
      const grpc::Status s = d->models().HandleReloadConfigRequest(
          ContextWithDeadline().get(), reload, &response);
      if (!s.ok()) tally.Problem(&tally.failed, "reload: " + s.error_message());
      ++reloads;
      // Version 124 appears (copied, then renamed in) or goes.
      const std::string v124 = other + "/124";
      if (PathExists(v124)) {
        RunCommand("rm -rf " + v124);
      } else {
        CopyTree(half + "/00000123", other + "/.124");
        RunCommand(absl::StrCat("mv ", other, "/.124 ", v124));
      }
      ++version_changes;
    }
    if (absl::Now() >= next_minute) {
      absl::StrAppend(&minutes, minutes.empty() ? "" : " ", Measure(d->pid()).rss_kib);
      next_minute += absl::Minutes(1);
    }
    const bool log_full = static_cast<size_t>(good + bad) > kEventLogCapacity + 100;
    if (warm_sample.rss_kib == 0 && (log_full || absl::Now() >= halfway)) {
      warm_sample = Measure(d->pid());
      warm_at_s = absl::ToDoubleSeconds(absl::Now() - start);
    }
    if (warm_sample.rss_kib != 0) {
      const Sample now = Measure(d->pid());
      peak = {std::max(peak.rss_kib, now.rss_kib), std::max(peak.fds, now.fds),
              std::max(peak.threads, now.threads)};
    }
  }
  const Sample final_sample = Measure(d->pid());
  stop = true;
  for (std::thread& t : threads) t.join();

  const double growth =
      100.0 * static_cast<double>(final_sample.rss_kib - warm_sample.rss_kib) / warm_sample.rss_kib;
  std::cout << absl::StrFormat(
      "soak %d s: %d good and %d corrupt checkpoints, %d config reloads, %d version changes\n"
      "calls: %d gRPC, %d REST, %d on the versioned model; %d failed, %d torn, %d from a corrupt "
      "checkpoint\n"
      "after warm-up (%.0f s): RSS %d KiB, %d fds, %d threads; at the end: RSS %d KiB (%+.2f %%), "
      "%d fds, %d threads; peak after warm-up: RSS %d KiB, %d fds, %d threads\n"
      "RSS each minute (KiB): %s\n",
      seconds, good, bad, reloads, version_changes, tally.grpc.load(), tally.rest.load(),
      tally.versions.load(), tally.failed.load(), tally.torn.load(), tally.corrupt_served.load(),
      warm_at_s, warm_sample.rss_kib, warm_sample.fds, warm_sample.threads, final_sample.rss_kib,
      growth, final_sample.fds, final_sample.threads, peak.rss_kib, peak.fds, peak.threads,
      minutes);
  EXPECT_EQ(tally.failed, 0) << tally.first_problem;
  EXPECT_EQ(tally.torn, 0) << tally.first_problem;
  EXPECT_EQ(tally.corrupt_served, 0) << tally.first_problem;
  EXPECT_GT(tally.grpc, 0);
  EXPECT_GT(tally.rest, 0);
  EXPECT_LT(growth, 2.0);
  EXPECT_LE(final_sample.fds, warm_sample.fds + 8);
  EXPECT_LE(final_sample.threads, warm_sample.threads + 8);
  // The latest checkpoint is corrupt or good; either way the last good serves.
  grpc::ClientContext context;
  tfs::PredictResponse response;
  ASSERT_TRUE(d->prediction().Predict(&context, FloatRequest("half", "x", {1}, {2.0f}), &response).ok());
  EXPECT_EQ(CheckpointOf(context), absl::StrCat("ckpt-", good)) << "the last good is not serving";
}

}  // namespace
}  // namespace swapserve::testing
