// This machine's roofline for one core (Google Benchmark), to judge the engine's
// figures against physics rather than against PyTorch alone:
//  - BM_Read/<bytes>: read bandwidth re-reading a buffer of that size (summed with
//    eight independent vector accumulators, so the loads, not the adds, limit it).
//    1605632 bytes is the seed MLP's first weight matrix (784 x 512 float32),
//    which batch 1 must read once per request.
//  - BM_PeakFma<AVX2|AVX512>: fused multiply-add throughput with enough
//    independent accumulators to hide the FMA latency; reported as FLOP/s.
// The AVX-512 variants use function-level target attributes and are skipped at
// run time on CPUs without AVX-512, so the binary still runs on any x86-64-v3.
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "benchmark/benchmark.h"

namespace {

bool HasAvx512() { return __builtin_cpu_supports("avx512f"); }

// Horizontal sum through memory: GCC 12's _mm512_reduce_add_ps trips
// -Wuninitialized inside its own header.
__attribute__((target("avx512f"))) float Lanes(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float s = 0;
  for (float l : lanes) s += l;
  return s;
}

__attribute__((target("avx512f"))) float SumAvx512(const float* p, int64_t n) {
  __m512 acc[8];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (int64_t i = 0; i + 128 <= n; i += 128) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) acc[j] = _mm512_add_ps(acc[j], _mm512_loadu_ps(p + i + 16 * j));
  }
  for (int j = 1; j < 8; ++j) acc[0] = _mm512_add_ps(acc[0], acc[j]);
  return Lanes(acc[0]);
}

float SumAvx2(const float* p, int64_t n) {
  __m256 acc[8];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int64_t i = 0; i + 64 <= n; i += 64) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_add_ps(acc[j], _mm256_loadu_ps(p + i + 8 * j));
  }
  for (int j = 1; j < 8; ++j) acc[0] = _mm256_add_ps(acc[0], acc[j]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc[0]);
  float s = 0;
  for (float l : lanes) s += l;
  return s;
}

void BM_Read(benchmark::State& state) {
  const int64_t n = state.range(0) / static_cast<int64_t>(sizeof(float));
  std::vector<float> buf(n, 1.0f);
  const bool avx512 = HasAvx512();
  for (auto _ : state) {
    float s = avx512 ? SumAvx512(buf.data(), n) : SumAvx2(buf.data(), n);
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)));
  state.SetLabel(avx512 ? "avx512" : "avx2");
}
BENCHMARK(BM_Read)->Arg(32 << 10)->Arg(512 << 10)->Arg(1605632)->Arg(4 << 20)->Arg(64 << 20);

constexpr int kChains = 12;  // independent accumulators: > FMA latency x ports
constexpr int64_t kFmaIterations = 1 << 16;

__attribute__((target("avx512f"))) float FmaAvx512(float seed) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(seed + static_cast<float>(j));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-4f);
  for (int64_t i = 0; i < kFmaIterations; ++i) {
#pragma GCC unroll 16
    for (auto& x : acc) x = _mm512_fmadd_ps(x, a, b);
  }
  for (int j = 1; j < kChains; ++j) acc[0] = _mm512_add_ps(acc[0], acc[j]);
  return Lanes(acc[0]);
}

float FmaAvx2(float seed) {
  __m256 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm256_set1_ps(seed + static_cast<float>(j));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-4f);
  for (int64_t i = 0; i < kFmaIterations; ++i) {
#pragma GCC unroll 16
    for (auto& x : acc) x = _mm256_fmadd_ps(x, a, b);
  }
  for (int j = 1; j < kChains; ++j) acc[0] = _mm256_add_ps(acc[0], acc[j]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc[0]);
  return lanes[0];
}

void BM_PeakFmaAvx512(benchmark::State& state) {
  if (!HasAvx512()) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  float seed = 1.0f;
  for (auto _ : state) {
    benchmark::DoNotOptimize(seed);  // an opaque seed: the call cannot be hoisted
    benchmark::DoNotOptimize(FmaAvx512(seed));
  }
  // 16 lanes x 2 FLOP per FMA.
  state.counters["FLOPS"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kFmaIterations * kChains * 32,
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeakFmaAvx512);

void BM_PeakFmaAvx2(benchmark::State& state) {
  float seed = 1.0f;
  for (auto _ : state) {
    benchmark::DoNotOptimize(seed);
    benchmark::DoNotOptimize(FmaAvx2(seed));
  }
  state.counters["FLOPS"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kFmaIterations * kChains * 16,
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeakFmaAvx2);

}  // namespace

BENCHMARK_MAIN();
