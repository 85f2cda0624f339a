// Hot-reload benchmark on the real daemon (not a test): serves the seed MLP
// following a checkpoint directory and measures, in one run,
//   1. swap latency: from the `checkpoint` pointer's rename to the first
//      response computed by the new weights (trailer swapserve-checkpoint),
//      over --swaps checkpoints (data and index written beforehand, as TF
//      does);
//   2. Predict latency (batch 1) from --clients concurrent clients (one
//      connection each) with no swaps and while a checkpoint is swapped in
//      every --swap_every_ms — --seconds of each, in --rounds alternations —
//      and the ratio of the two p99s; --batching=1
//      serves them with --enable_batching (max_batch_size 32, no timeout).
// The checkpoints alternate between two sets of values — cp-0000's (ckpt-K, K
// even) and the same with every float halved (K odd) — and every response is
// checked against what the checkpoint its trailer names gives when this process
// loads it with the same engine. Exits 1 when no swap was seen in phase 2, a
// call failed, or a response's values are not its checkpoint's ("torn").
// --samples=FILE writes phase 2 as CSV for bench/run.sh's plots: one row per
// call (phase,t_ms,latency_ms,checkpoint), per swap issued (swap,t_ms,,K) and
// per 50 ms of the daemon's resident memory (rss,t_ms,,KiB).
// Usage:
//   swapserve_reload_bench [--swaps=100] [--seconds=5] [--swap_every_ms=100]
//                          [--clients=1] [--batching=0] [--rounds=4] [--samples=FILE]
// (needs the fixtures: keras_seed_mlp/saved_model and training_2/cp-0000).
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/bundle_writer.h"
#include "model/loaded_model.h"
#include "model/tensor_proto.h"
#include "model/util/file.h"
#include "model/util/status_macros.h"
#include "tests/daemon_harness.h"

namespace swapserve::bench {
namespace {

using swapserve::testing::Daemon;
namespace tfs = tensorflow::serving;

// ckpt-K holds cp-0000's floats times kScale[K % 2]. Halving every weight and
// bias changes the MLP's logits (relu is positively homogeneous, the biases add
// in at another scale), so the two outputs differ by far more than kTolerance.
constexpr float kScale[2] = {1.0f, 0.5f};
int VariantOf(int k) { return k % 2; }
// The daemon and this process run the same kernels on the same input: a
// response of the right checkpoint matches its reference to rounding, if not
// exactly.
constexpr double kTolerance = 1e-6;
// The two variants' references must differ by this much, or a torn response
// could pass for a good one.
constexpr double kMinVariantGap = 1e-3;

int Flag(int argc, char** argv, const std::string& name, int fallback) {
  const std::string lead = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    int v;
    if (std::string(argv[i]).rfind(lead, 0) == 0 &&
        absl::SimpleAtoi(argv[i] + lead.size(), &v))
      return v;
  }
  return fallback;
}

std::string StringFlag(int argc, char** argv, const std::string& name) {
  const std::string lead = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(lead, 0) == 0) return argv[i] + lead.size();
  }
  return "";
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()))];
}

// Writes DIR/ckpt-K: the seed's cp-0000 with its floats scaled for K's variant
// (into new tensors: a Tensor's copies share its buffer).
void WriteCheckpoint(const BundleReader& source, const std::string& dir,
                     int k) {
  const float scale = kScale[VariantOf(k)];
  BundleWriter writer(absl::StrCat(dir, "/ckpt-", k));
  for (const BundleEntry& e : source.entries()) {
    absl::StatusOr<Tensor> t = source.Read(e);
    if (!t.ok()) std::abort();
    Tensor out = *t;
    if (t->dtype() == tensorflow::DT_FLOAT && scale != 1.0f) {
      absl::StatusOr<Tensor> scaled =
          Tensor::AllocateUninitialized(t->dtype(), t->shape());
      if (!scaled.ok()) std::abort();
      for (int64_t i = 0; i < t->num_elements(); ++i)
        scaled->data<float>()[i] = t->data<float>()[i] * scale;
      out = *scaled;
    }
    if (!writer.Add(e.key, out).ok()) std::abort();
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

// The output `prefix`'s weights give for the benchmark's input, computed here,
// without the daemon (so without trusting its trailer).
struct Expected {
  std::string alias;  // the signature's output
  std::vector<float> values;
};

absl::StatusOr<Expected> Reference(const std::string& model,
                                   const std::string& prefix,
                                   const std::vector<float>& input) {
  LoadOptions options;
  options.checkpoint = prefix;
  ASSIGN_OR_RETURN(std::unique_ptr<LoadedModel> loaded,
                   LoadModel(model, options));
  ASSIGN_OR_RETURN(const Plan* plan, loaded->FindPlan(""));
  ASSIGN_OR_RETURN(Tensor x,
                   Tensor::Allocate(tensorflow::DT_FLOAT, TensorShape{1, 784}));
  std::copy(input.begin(), input.end(), x.data<float>());
  ASSIGN_OR_RETURN(std::vector<Tensor> y, plan->Run(*loaded->weights, {x}));
  if (y.size() != 1 || y[0].dtype() != tensorflow::DT_FLOAT) {
    return absl::InternalError(
        absl::StrCat(prefix, ": expected one float output"));
  }
  return Expected{
      plan->outputs()[0].alias,
      {y[0].data<float>(), y[0].data<float>() + y[0].num_elements()}};
}

// max |a - b|; infinite when the sizes differ or a value is NaN.
double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  const double inf = std::numeric_limits<double>::infinity();
  if (a.size() != b.size()) return inf;
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(static_cast<double>(a[i]) - b[i]);
    if (std::isnan(diff)) return inf;
    d = std::max(d, diff);
  }
  return d;
}

struct Reply {
  bool ok = false;
  std::string checkpoint;
  // The output `alias`; empty if absent or not float.
  std::vector<float> values;
};

Reply Predict(tfs::PredictionService::Stub& stub,
              const tfs::PredictRequest& request, const std::string& alias) {
  grpc::ClientContext context;
  tfs::PredictResponse response;
  Reply r;
  r.ok = stub.Predict(&context, request, &response).ok();
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    if (key == "swapserve-checkpoint")
      r.checkpoint.assign(value.data(), value.size());
  }
  auto it = response.outputs().find(alias);
  if (it != response.outputs().end()) {
    absl::StatusOr<Tensor> t = TensorFromProto(it->second);
    if (t.ok() && t->dtype() == tensorflow::DT_FLOAT) {
      r.values.assign(t->data<float>(), t->data<float>() + t->num_elements());
    }
  }
  return r;
}

// What one client saw, response by response, in one phase.
struct Tally {
  int64_t per_variant[2] = {0, 0};
  int swaps = 0;         // trailer changes between consecutive responses
  int backwards = 0;     // ... to an older checkpoint (one sequential client)
  int failed = 0;        // calls that failed
  int unattributed = 0;  // OK responses without a ckpt-K trailer
  int torn_other = 0;    // values of the other variant than the trailer's
  int torn_neither = 0;  // values of neither variant
  double max_diff = 0;   // over the responses that matched their checkpoint
  int last = -1;         // K of the last attributed response
};

// Adds `b`'s counts to `a` (the clients of one phase; each client's swaps and
// backward steps are counted along its own sequence of responses).
void Merge(const Tally& b, Tally* a) {
  for (int v = 0; v < 2; ++v) a->per_variant[v] += b.per_variant[v];
  a->swaps += b.swaps;
  a->backwards += b.backwards;
  a->failed += b.failed;
  a->unattributed += b.unattributed;
  a->torn_other += b.torn_other;
  a->torn_neither += b.torn_neither;
  a->max_diff = std::max(a->max_diff, b.max_diff);
  a->last = std::max(a->last, b.last);
}

void Record(const Reply& r, const Expected (&expected)[2], Tally* t) {
  if (!r.ok) {
    ++t->failed;
    return;
  }
  absl::string_view name = r.checkpoint;
  int k;
  if (!absl::ConsumePrefix(&name, "ckpt-") || !absl::SimpleAtoi(name, &k) ||
      k < 0) {
    ++t->unattributed;
    return;
  }
  if (t->last >= 0 && k != t->last) {
    ++t->swaps;
    if (k < t->last) ++t->backwards;
  }
  t->last = k;
  const int v = VariantOf(k);
  ++t->per_variant[v];
  const double diff = MaxDiff(r.values, expected[v].values);
  if (diff <= kTolerance) {
    t->max_diff = std::max(t->max_diff, diff);
  } else if (MaxDiff(r.values, expected[1 - v].values) <= kTolerance) {
    ++t->torn_other;
  } else {
    ++t->torn_neither;
  }
}

void PrintTally(const char* phase, const Tally& t) {
  std::printf(
      "  %s: %d swaps seen (trailer changes); responses: %lld on cp-0000's "
      "values, %lld on the halved ones\n",
      phase, t.swaps, static_cast<long long>(t.per_variant[0]),
      static_cast<long long>(t.per_variant[1]));
  std::printf(
      "    torn %d (%d with the other checkpoint's values, %d with neither's), "
      "failed %d, without a ckpt-K trailer %d,\n",
      t.torn_other + t.torn_neither, t.torn_other, t.torn_neither, t.failed,
      t.unattributed);
  std::printf(
      "    swaps back to an older checkpoint %d, max |response - its "
      "checkpoint's reference| %.3g\n",
      t.backwards, t.max_diff);
}

// The reasons `t` fails the run (empty: it passes).
std::vector<std::string> Problems(const char* phase, const Tally& t,
                                  bool must_swap) {
  std::vector<std::string> p;
  if (must_swap && t.swaps == 0)
    p.push_back(absl::StrCat(phase, ": no swap observed"));
  if (t.failed > 0)
    p.push_back(absl::StrCat(phase, ": ", t.failed, " failed calls"));
  if (t.unattributed > 0)
    p.push_back(absl::StrCat(phase, ": ", t.unattributed,
                             " responses without a ckpt-K trailer"));
  if (t.torn_other + t.torn_neither > 0) {
    p.push_back(absl::StrCat(phase, ": ", t.torn_other + t.torn_neither,
                             " torn responses (values not those of the "
                             "checkpoint their trailer names)"));
  }
  if (t.backwards > 0)
    p.push_back(absl::StrCat(phase, ": ", t.backwards,
                             " swaps back to an older checkpoint"));
  return p;
}

// One call's sample for --samples: when it started (ms from the phase's
// start), how long it took (ms), and the K of the ckpt-K that answered (-1: none).
struct Sample {
  double t_ms, latency_ms;
  int checkpoint;
};

int CheckpointK(const std::string& trailer) {
  absl::string_view name = trailer;
  int k;
  if (!absl::ConsumePrefix(&name, "ckpt-") || !absl::SimpleAtoi(name, &k)) return -1;
  return k;
}

// Predict latencies from `clients` threads, each on its own connection, until
// `end`, timed from `origin`; each response recorded (outside the timed call)
// in its client's tally, and the clients' tallies added to `tally`.
std::vector<Sample> MeasurePredict(Daemon& d, const tfs::PredictRequest& request,
                                   const Expected (&expected)[2], absl::Time end, int clients,
                                   absl::Time origin, Tally* tally) {
  std::vector<std::vector<Sample>> samples(clients);
  std::vector<Tally> tallies(clients);
  for (Tally& t : tallies) t.last = tally->last;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per client
      auto stub = tfs::PredictionService::NewStub(
          grpc::CreateCustomChannel(d.address(), grpc::InsecureChannelCredentials(), args));
      Predict(*stub, request, expected[0].alias);  // connects, untimed
      while (absl::Now() < end) {
        const absl::Time start = absl::Now();
        const Reply r = Predict(*stub, request, expected[0].alias);
        samples[c].push_back({absl::ToDoubleMilliseconds(start - origin),
                              absl::ToDoubleMilliseconds(absl::Now() - start),
                              CheckpointK(r.checkpoint)});
        Record(r, expected, &tallies[c]);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<Sample> all;
  for (int c = 0; c < clients; ++c) {
    Merge(tallies[c], tally);
    all.insert(all.end(), samples[c].begin(), samples[c].end());
  }
  return all;
}

std::vector<double> Latencies(const std::vector<Sample>& samples) {
  std::vector<double> ms;
  for (const Sample& s : samples) ms.push_back(s.latency_ms);
  return ms;
}

// 1. Rename → first response on the new weights, for ckpt-1 .. ckpt-`swaps`;
// empty after printing the log if one is never served.
std::vector<double> MeasureSwaps(Daemon& d, const std::string& dir, int swaps,
                                 const tfs::PredictRequest& request,
                                 const Expected (&expected)[2], Tally* tally) {
  auto stub = tfs::PredictionService::NewStub(d.channel());
  std::vector<double> swap_ms;
  // One call on ckpt-0 first: it connects the channel (which would otherwise be
  // timed in the first swap) and makes the first swap a trailer change too.
  Record(Predict(*stub, request, expected[0].alias), expected, tally);
  for (int k = 1; k <= swaps; ++k) {
    const std::string staged = StagePointer(dir, k);
    const std::string want = absl::StrCat("ckpt-", k);
    const absl::Time start = absl::Now();
    rename(staged.c_str(), (dir + "/checkpoint").c_str());
    for (;;) {
      const Reply r = Predict(*stub, request, expected[0].alias);
      if (r.checkpoint == want) {
        swap_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
        Record(r, expected, tally);
        break;
      }
      Record(r, expected, tally);
      if (absl::Now() - start > absl::Seconds(30)) {
        std::fprintf(stderr, "checkpoint %s never served\n%s", want.c_str(),
                     d.Log().c_str());
        return {};
      }
    }
  }
  return swap_ms;
}

// Writes ckpt-0 .. ckpt-`last` and computes both variants' references; false
// (after saying why) if that fails or the references cannot tell them apart.
bool PrepareCheckpoints(const std::string& model, const std::string& dir,
                        int last, const std::vector<float>& input,
                        Expected (&expected)[2]) {
  absl::StatusOr<std::unique_ptr<BundleReader>> seed = BundleReader::Open(
      swapserve::testing::Fixture("keras_seed_mlp/training_2/cp-0000.ckpt"));
  if (!seed.ok()) {
    std::fprintf(stderr, "needs the seed fixtures: %s\n",
                 std::string(seed.status().message()).c_str());
    return false;
  }
  mkdir(dir.c_str(), 0755);
  for (int k = 0; k <= last; ++k) WriteCheckpoint(**seed, dir, k);
  for (int v = 0; v < 2; ++v) {
    absl::StatusOr<Expected> e =
        Reference(model, absl::StrCat(dir, "/ckpt-", v), input);
    if (!e.ok()) {
      std::fprintf(stderr, "reference for ckpt-%d: %s\n", v,
                   std::string(e.status().message()).c_str());
      return false;
    }
    expected[v] = *std::move(e);
  }
  const double gap = MaxDiff(expected[0].values, expected[1].values);
  std::printf(
      "references (computed here, same input): the two checkpoints' outputs "
      "differ by up to %.3g\n",
      gap);
  if (!(gap >= kMinVariantGap)) {
    std::fprintf(stderr,
                 "FAIL: the two checkpoints' outputs differ by %.3g < %g: a "
                 "torn response would pass\n",
                 gap, kMinVariantGap);
    return false;
  }
  return true;
}

struct Results {
  std::vector<double> swap_ms;  // ms
  std::vector<Sample> steady, swapping;
  Tally phase1, steady_tally, swapping_tally;
  int issued = 0;  // swaps the swapper made in phase 2
};

// Prints the figures and the checks; returns the exit code.
int Report(const Results& r, int swaps, int seconds, int every_ms, int clients, bool batching) {
  const std::vector<double> steady = Latencies(r.steady), swapping = Latencies(r.swapping);
  std::printf(
      "swap latency (rename -> first response on the new weights), %d swaps of "
      "the seed MLP:\n"
      "  p50 %.2f ms   p99 %.2f ms   max %.2f ms   (target p99 <= 20 ms)\n",
      swaps, Percentile(r.swap_ms, 50), Percentile(r.swap_ms, 99),
      Percentile(r.swap_ms, 100));
  std::printf(
      "Predict latency, batch 1, %d client(s), batching %s, %d s each:\n"
      "  no swaps:            p50 %.3f ms   p99 %.3f ms   (%zu calls)\n"
      "  swap every %3d ms:   p50 %.3f ms   p99 %.3f ms   (%zu calls, %d swaps "
      "issued)\n"
      "  p99 ratio swapping/steady: %.2f   (target <= 1.1)   failed calls: "
      "%d\n",
      clients, batching ? "on" : "off", seconds, Percentile(steady, 50), Percentile(steady, 99),
      steady.size(), every_ms, Percentile(swapping, 50), Percentile(swapping, 99),
      swapping.size(), r.issued, Percentile(swapping, 99) / Percentile(steady, 99),
      r.steady_tally.failed + r.swapping_tally.failed);
  std::printf(
      "responses checked against their checkpoint's reference (tolerance "
      "%g):\n",
      kTolerance);
  PrintTally("phase 1 (swap latency)", r.phase1);
  PrintTally("no swaps", r.steady_tally);
  PrintTally("swapping", r.swapping_tally);
  std::vector<std::string> problems = Problems("phase 1", r.phase1, false);
  for (std::string& p : Problems("no swaps", r.steady_tally, false))
    problems.push_back(std::move(p));
  for (std::string& p : Problems("swapping", r.swapping_tally, true))
    problems.push_back(std::move(p));
  for (const std::string& p : problems)
    std::fprintf(stderr, "FAIL: %s\n", p.c_str());
  return problems.empty() ? 0 : 1;
}

// Writes --samples (see the file comment).
bool WriteSamples(const std::string& path, const Results& r,
                  const std::vector<std::pair<double, int>>& swaps_issued,
                  const std::vector<std::pair<double, int64_t>>& rss) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return false;
  }
  std::fprintf(f, "phase,t_ms,latency_ms,value\n");
  for (const Sample& s : r.steady) std::fprintf(f, "steady,%.3f,%.4f,%d\n", s.t_ms, s.latency_ms, s.checkpoint);
  for (const Sample& s : r.swapping) std::fprintf(f, "swapping,%.3f,%.4f,%d\n", s.t_ms, s.latency_ms, s.checkpoint);
  for (const auto& [t, k] : swaps_issued) std::fprintf(f, "swap,%.3f,,%d\n", t, k);
  for (const auto& [t, kib] : rss) std::fprintf(f, "rss,%.3f,,%lld\n", t, static_cast<long long>(kib));
  return std::fclose(f) == 0;
}

int Main(int argc, char** argv) {
  const int swaps = Flag(argc, argv, "swaps", 100);
  const int seconds = Flag(argc, argv, "seconds", 5);
  const int every_ms = Flag(argc, argv, "swap_every_ms", 100);
  const int clients = std::max(1, Flag(argc, argv, "clients", 1));
  const int rounds = std::max(1, Flag(argc, argv, "rounds", 4));
  const bool batching = Flag(argc, argv, "batching", 0) != 0;
  const std::string samples_path = StringFlag(argc, argv, "samples");
  const std::string model =
      swapserve::testing::Fixture("keras_seed_mlp/saved_model");
  swapserve::testing::TempDir tmp;
  const std::string dir = tmp.Join("ckpt");
  const int total = swaps + seconds * 1000 / every_ms + 2;
  const std::vector<float> input(784, 0.5f);
  Expected expected[2];
  if (!PrepareCheckpoints(model, dir, total, input, expected)) return 1;
  rename(StagePointer(dir, 0).c_str(), (dir + "/checkpoint").c_str());
  std::vector<std::string> flags = {"--model_name=mlp", "--model_base_path=" + model,
                                    "--checkpoint_dir=" + dir};
  if (batching) {
    const std::string params = tmp.Join("batching.config");
    if (!WriteFileAtomically(params,
                   "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 0 }\n"
                   "num_batch_threads { value: 2 }\n")
             .ok()) {
      return 1;
    }
    flags.push_back("--enable_batching");
    flags.push_back("--batching_parameters_file=" + params);
  }
  auto d = Daemon::Start(flags);
  if (d == nullptr) return 1;
  const tfs::PredictRequest request = swapserve::testing::FloatRequest(
      "mlp", "dense_10_input", {1, 784}, input);

  Results r;
  r.swap_ms = MeasureSwaps(*d, dir, swaps, request, expected, &r.phase1);
  if (r.swap_ms.empty() && swaps > 0) return 1;

  // 2. Predict p99 without, then with, a swap every `every_ms`, in `rounds`
  // alternations of the two (so a machine whose speed drifts slows both
  // alike); the daemon's memory sampled throughout.
  std::atomic<bool> stop{false};
  const absl::Time phase2 = absl::Now();
  std::vector<std::pair<double, int64_t>> rss;
  std::thread rss_sampler([&] {
    while (!stop) {
      rss.emplace_back(absl::ToDoubleMilliseconds(absl::Now() - phase2), d->ResidentKib());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const absl::Duration slice = absl::Seconds(seconds) / rounds;
  int next_k = swaps + 1;
  std::atomic<int> issued{0};
  std::vector<std::pair<double, int>> swaps_issued;
  r.steady_tally.last = r.phase1.last;
  for (int round = 0; round < rounds; ++round) {
    std::vector<Sample> steady =
        MeasurePredict(*d, request, expected, absl::Now() + slice, clients, phase2, &r.steady_tally);
    r.steady.insert(r.steady.end(), steady.begin(), steady.end());
    std::atomic<bool> stop_swapping{false};
    std::thread swapper([&] {
      for (; !stop_swapping && next_k <= total; ++next_k) {
        rename(StagePointer(dir, next_k).c_str(), (dir + "/checkpoint").c_str());
        swaps_issued.emplace_back(absl::ToDoubleMilliseconds(absl::Now() - phase2), next_k);
        ++issued;
        std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
      }
    });
    r.swapping_tally.last = std::max(r.swapping_tally.last, r.steady_tally.last);
    std::vector<Sample> swapping = MeasurePredict(*d, request, expected, absl::Now() + slice,
                                                  clients, phase2, &r.swapping_tally);
    r.swapping.insert(r.swapping.end(), swapping.begin(), swapping.end());
    stop_swapping = true;
    swapper.join();
    r.steady_tally.last = r.swapping_tally.last;
  }
  stop = true;
  rss_sampler.join();
  r.issued = issued.load();
  if (!samples_path.empty() && !WriteSamples(samples_path, r, swaps_issued, rss)) return 1;
  return Report(r, swaps, seconds, every_ms, clients, batching);
}

}  // namespace
}  // namespace swapserve::bench

int main(int argc, char** argv) { return swapserve::bench::Main(argc, argv); }
