// Engine micro-benchmarks (Google Benchmark): the seed MLP and a small CNN at batch
// 1, 32 and 256, one thread, through Plan::Run exactly as a request would run;
// and decoding a request's input tensor.
// `--dump_weights=DIR` writes the weights for bench/torch_peer.py instead.
#include <cstring>
#include <fstream>
#include <random>

#include "absl/strings/match.h"
#include "bench/engine_models.h"
#include "benchmark/benchmark.h"
#include "model/ops/gemm.h"
#include "model/tensor_proto.h"

namespace swapserve::bench {

Tensor RandomInput(const std::string& model, int64_t batch) {
  TensorShape shape = model == "mlp" ? TensorShape{batch, 784} : TensorShape{batch, 28, 28, 1};
  auto t = Tensor::Allocate(tensorflow::DT_FLOAT, shape);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(0, 1);
  for (int64_t i = 0; i < t->num_elements(); ++i) t->data<float>()[i] = dist(rng);
  return *t;
}

namespace {

void Run(benchmark::State& state, const std::string& name) {
  auto model = BuildBenchModel(name);
  if (!model.ok()) {
    state.SkipWithError(std::string(model.status().message()).c_str());
    return;
  }
  const Tensor input = RandomInput(name, state.range(0));
  for (auto _ : state) {
    auto out = model->plan->Run(*model->weights, {input});
    if (!out.ok()) {
      state.SkipWithError(std::string(out.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(out->front().raw_data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_Mlp(benchmark::State& state) { Run(state, "mlp"); }
void BM_Cnn(benchmark::State& state) { Run(state, "cnn"); }
BENCHMARK(BM_Mlp)->Arg(1)->Arg(32)->Arg(256)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Cnn)->Arg(1)->Arg(32)->Arg(256)->Unit(benchmark::kMicrosecond);

// A request's input as the daemon decodes it: `rows` MLP rows sent as float_val
// (what TF Serving's Python and Java clients send) into a Tensor.
void BM_TensorFromProto(benchmark::State& state) {
  const Tensor input = RandomInput("mlp", state.range(0));
  tensorflow::TensorProto proto;
  proto.set_dtype(tensorflow::DT_FLOAT);
  input.shape().ToProto(proto.mutable_tensor_shape());
  proto.mutable_float_val()->Add(input.data<float>(), input.data<float>() + input.num_elements());
  for (auto _ : state) {
    auto t = TensorFromProto(proto);
    benchmark::DoNotOptimize(t->raw_data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(input.num_bytes()));
}
BENCHMARK(BM_TensorFromProto)->Arg(1)->Arg(32)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace swapserve::bench

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (absl::StartsWith(argv[i], "--dump_weights=")) {
      const std::string dir = argv[i] + std::strlen("--dump_weights=");
      for (const char* name : {"mlp", "cnn"}) {
        auto model = swapserve::bench::BuildBenchModel(name);
        if (!model.ok()) return 1;
        const std::string sub = dir + "/" + name;
        std::string mk = "mkdir -p '" + sub + "'";
        if (std::system(mk.c_str()) != 0) return 1;
        if (!swapserve::bench::DumpWeights(*model, sub).ok()) return 1;
        // A reference input and our output on it, for the peer to compare.
        const swapserve::Tensor input = swapserve::bench::RandomInput(name, 4);
        auto out = model->plan->Run(*model->weights, {input});
        if (!out.ok()) return 1;
        std::ofstream(sub + "/input.bin", std::ios::binary).write(input.raw_data(), input.num_bytes());
        std::ofstream(sub + "/output.bin", std::ios::binary)
            .write(out->front().raw_data(), out->front().num_bytes());
      }
      return 0;
    }
  }
  benchmark::AddCustomContext("gemm", swapserve::GemmBackendDescription());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
