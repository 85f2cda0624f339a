// Hot-reload benchmark on the real daemon (not a test): serves the seed MLP
// following a checkpoint directory and measures, in one run,
//   1. swap latency: from the `checkpoint` pointer's rename to the first
//      response computed by the new weights (trailer swapserve-checkpoint), over
//      --swaps checkpoints (data and index written beforehand, as TF does);
//   2. Predict latency (batch 1) with no swaps, then while a checkpoint is swapped
//      in every --swap_every_ms, and the ratio of the two p99s.
// Usage: swapserve_reload_bench [--swaps=100] [--seconds=5] [--swap_every_ms=100]
// (needs the fixtures: keras_seed_mlp/saved_model and training_2/cp-0000).
#include <cstdio>
#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/bundle_writer.h"
#include "model/util/file.h"
#include "tests/daemon_harness.h"

namespace swapserve::bench {
namespace {

using swapserve::testing::Daemon;
namespace tfs = tensorflow::serving;

int Flag(int argc, char** argv, const std::string& name, int fallback) {
  const std::string lead = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    int v;
    if (std::string(argv[i]).rfind(lead, 0) == 0 && absl::SimpleAtoi(argv[i] + lead.size(), &v)) return v;
  }
  return fallback;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()))];
}

// Copies the seed's cp-0000 bundle to DIR/ckpt-K (same values, new files).
void WriteCopy(const BundleReader& source, const std::string& dir, int k) {
  BundleWriter writer(absl::StrCat(dir, "/ckpt-", k));
  for (const BundleEntry& e : source.entries()) {
    absl::StatusOr<Tensor> t = source.Read(e);
    if (!t.ok() || !writer.Add(e.key, *t).ok()) std::abort();
  }
  if (!writer.Finish().ok()) std::abort();
}

// Writes the pointer to a temporary name; Point() then renames it into place.
std::string StagePointer(const std::string& dir, int k) {
  const std::string tmp = dir + "/checkpoint.staged";
  FILE* f = std::fopen(tmp.c_str(), "w");
  std::fprintf(f, "model_checkpoint_path: \"ckpt-%d\"\n", k);
  std::fclose(f);
  return tmp;
}

struct Reply {
  bool ok = false;
  std::string checkpoint;
};

Reply Predict(tfs::PredictionService::Stub& stub, const tfs::PredictRequest& request) {
  grpc::ClientContext context;
  tfs::PredictResponse response;
  Reply r;
  r.ok = stub.Predict(&context, request, &response).ok();
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    if (key == "swapserve-checkpoint") r.checkpoint.assign(value.data(), value.size());
  }
  return r;
}

// Predict latencies (ms) from one client thread for `seconds`; failures counted.
std::vector<double> MeasurePredict(Daemon& d, const tfs::PredictRequest& request, int seconds,
                                   std::atomic<int>* failures) {
  auto stub = tfs::PredictionService::NewStub(d.channel());
  std::vector<double> ms;
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  while (absl::Now() < end) {
    const absl::Time start = absl::Now();
    if (!Predict(*stub, request).ok) ++*failures;
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  return ms;
}

int Main(int argc, char** argv) {
  const int swaps = Flag(argc, argv, "swaps", 100);
  const int seconds = Flag(argc, argv, "seconds", 5);
  const int every_ms = Flag(argc, argv, "swap_every_ms", 100);
  const std::string model = swapserve::testing::Fixture("keras_seed_mlp/saved_model");
  absl::StatusOr<std::unique_ptr<BundleReader>> seed =
      BundleReader::Open(swapserve::testing::Fixture("keras_seed_mlp/training_2/cp-0000.ckpt"));
  if (!seed.ok()) {
    std::fprintf(stderr, "needs the seed fixtures: %s\n", std::string(seed.status().message()).c_str());
    return 1;
  }
  swapserve::testing::TempDir tmp;
  const std::string dir = tmp.Join("ckpt");
  mkdir(dir.c_str(), 0755);
  const int total = swaps + seconds * 1000 / every_ms + 2;
  for (int k = 0; k <= total; ++k) WriteCopy(**seed, dir, k);
  rename(StagePointer(dir, 0).c_str(), (dir + "/checkpoint").c_str());
  auto d = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model, "--checkpoint_dir=" + dir});
  if (d == nullptr) return 1;
  tfs::PredictRequest request =
      swapserve::testing::FloatRequest("mlp", "dense_10_input", {1, 784}, std::vector<float>(784, 0.5f));
  auto stub = tfs::PredictionService::NewStub(d->channel());

  // 1. Rename → first response on the new weights.
  std::vector<double> swap_ms;
  for (int k = 1; k <= swaps; ++k) {
    const std::string staged = StagePointer(dir, k);
    const std::string want = absl::StrCat("ckpt-", k);
    const absl::Time start = absl::Now();
    rename(staged.c_str(), (dir + "/checkpoint").c_str());
    while (Predict(*stub, request).checkpoint != want) {
      if (absl::Now() - start > absl::Seconds(30)) {
        std::fprintf(stderr, "checkpoint %s never served\n%s", want.c_str(), d->Log().c_str());
        return 1;
      }
    }
    swap_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }

  // 2. Predict p99 without, then with, a swap every `every_ms`.
  std::atomic<int> failures{0};
  const std::vector<double> steady = MeasurePredict(*d, request, seconds, &failures);
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    for (int k = swaps + 1; !stop && k <= total; ++k) {
      rename(StagePointer(dir, k).c_str(), (dir + "/checkpoint").c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
    }
  });
  const std::vector<double> swapping = MeasurePredict(*d, request, seconds, &failures);
  stop = true;
  swapper.join();

  std::printf("swap latency (rename -> first response on the new weights), %d swaps of the seed MLP:\n"
              "  p50 %.2f ms   p99 %.2f ms   max %.2f ms   (target p99 <= 20 ms)\n",
              swaps, Percentile(swap_ms, 50), Percentile(swap_ms, 99), Percentile(swap_ms, 100));
  std::printf("Predict latency, batch 1, one client, %d s each:\n"
              "  no swaps:            p50 %.3f ms   p99 %.3f ms   (%zu calls)\n"
              "  swap every %3d ms:   p50 %.3f ms   p99 %.3f ms   (%zu calls)\n"
              "  p99 ratio swapping/steady: %.2f   (target <= 1.1)   failed calls: %d\n",
              seconds, Percentile(steady, 50), Percentile(steady, 99), steady.size(), every_ms,
              Percentile(swapping, 50), Percentile(swapping, 99), swapping.size(),
              Percentile(swapping, 99) / Percentile(steady, 99), failures.load());
  return 0;
}

}  // namespace
}  // namespace swapserve::bench

int main(int argc, char** argv) { return swapserve::bench::Main(argc, argv); }
