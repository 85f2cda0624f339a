// Float GEMM through OpenBLAS's cblas_sgemm (see gemm.h for why), the
// bias + activation epilogue, and fused_ops parsing for _FusedMatMul/_FusedConv2D.
#include "model/ops/gemm.h"

#include <cblas.h>

// OpenBLAS's DYNAMIC_ARCH kernel choice (driver/others/dynamic.c): quit forgets
// the chosen core, init chooses again (reading OPENBLAS_CORETYPE). Weak, for an
// OpenBLAS built without DYNAMIC_ARCH.
extern "C" void gotoblas_dynamic_init(void) __attribute__((weak));
extern "C" void gotoblas_dynamic_quit(void) __attribute__((weak));

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace swapserve {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;

bool FitsBlasInt(std::initializer_list<int64_t> values) {
  return std::all_of(values.begin(), values.end(), [](int64_t v) { return v <= INT_MAX; });
}

// The same product through Eigen, for shapes BLAS's int cannot describe.
void EigenGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  Eigen::Map<const RowMajor, 0, Stride> A(a, ta ? k : m, ta ? m : k, Stride(lda));
  Eigen::Map<const RowMajor, 0, Stride> B(b, tb ? n : k, tb ? k : n, Stride(ldb));
  Eigen::Map<RowMajor, 0, Stride> C(c, m, n, Stride(ldc));
  if (!accumulate) C.setZero();
  if (!ta && !tb) C.noalias() += A * B;
  if (ta && !tb) C.noalias() += A.transpose() * B;
  if (!ta && tb) C.noalias() += A * B.transpose();
  if (ta && tb) C.noalias() += A.transpose() * B.transpose();
}

// OpenBLAS 0.3.21 (Debian 12's) recognises CPUs by family and model, and gives
// one it does not know its generic "Prescott" kernels (SSE3): on the Emerald
// Rapids VMs here (family 6, model 207) the seed MLP's batch 1 took 131 µs
// instead of 17. When it did so and the user chose no OPENBLAS_CORETYPE, the
// core is chosen again by what the CPU can do: SkylakeX's kernels with AVX-512
// (F, CD, BW, DQ, VL), Haswell's with AVX2 and FMA.
void ChooseKernelsByFeatures() {
  if (gotoblas_dynamic_init == nullptr || gotoblas_dynamic_quit == nullptr) return;
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  if (std::strcmp(openblas_get_corename(), "Prescott") != 0) return;
  __builtin_cpu_init();
  const char* core = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl")) {
    core = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    core = "Haswell";
  }
  if (core == nullptr) return;
  setenv("OPENBLAS_CORETYPE", core, 0);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
}

// Once per process, before the first GEMM (and before the backend is named):
// the kernels above, and one thread per call (see gemm.h).
void InitOpenBlas() {
  static const bool done = [] {
    ChooseKernelsByFeatures();
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

}  // namespace

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
           int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  InitOpenBlas();
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum; BLAS may leave C untouched
    if (!accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    }
    return;
  }
  if (!FitsBlasInt({m, n, k, lda, ldb, ldc})) {
    EigenGemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return;
  }
  if (m == 1 && !trans_a) {
    // A row vector times B: OpenBLAS 0.3.21's sgemm does not forward this to its
    // gemv kernels itself, and gemv reads B once at close to memory speed.
    // c[0,:] = a[0,:] * op(B) is op(B)^T * a: gemv with B transposed back. The
    // output is zeroed here rather than with beta = 0, which some OpenBLAS
    // versions implement as a multiplication (and c may be uninitialized).
    if (!accumulate) std::fill(c, c + n, 0.0f);
    cblas_sgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, static_cast<int>(trans_b ? n : k),
                static_cast<int>(trans_b ? k : n), 1.0f, b, static_cast<int>(ldb), a, 1, 1.0f, c, 1);
    return;
  }
  // BLAS: "when beta is zero, C need not be set on input".
  const float beta = accumulate ? 1.0f : 0.0f;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

absl::StatusOr<Epilogue> ParseEpilogue(const NodeAttrs& node) {
  std::vector<std::string> ops;
  const auto& attrs = node.node_def().attr();
  if (auto it = attrs.find("fused_ops"); it != attrs.end()) {
    for (const std::string& op : it->second.list().s()) ops.push_back(op);
  }
  Epilogue e;
  const bool ok = ops.empty() || (ops[0] == "BiasAdd" && ops.size() <= 2);
  if (ok && !ops.empty()) e.bias = true;
  if (ok && ops.size() == 2) {
    if (ops[1] == "Relu") {
      e.activation = Activation::kRelu;
    } else if (ops[1] == "Relu6") {
      e.activation = Activation::kRelu6;
    } else {
      return node.Unsupported(absl::StrCat("fused_ops [", absl::StrJoin(ops, ", "),
                                           "] is not supported"));
    }
  }
  if (!ok) {
    return node.Unsupported(
        absl::StrCat("fused_ops [", absl::StrJoin(ops, ", "), "] is not supported"));
  }
  const int64_t num_args = node.GetIntOr("num_args", e.bias ? 1 : 0);
  if (num_args != (e.bias ? 1 : 0)) {
    return node.Unsupported(absl::StrCat("num_args ", num_args, " with fused_ops [",
                                         absl::StrJoin(ops, ", "), "]"));
  }
  return e;
}

namespace {

template <Activation kActivation>
float Apply(float x) {
  if constexpr (kActivation == Activation::kRelu) return x > 0.0f ? x : 0.0f;
  if constexpr (kActivation == Activation::kRelu6) return std::min(std::max(x, 0.0f), 6.0f);
  return x;
}

// One pass per row: bias and activation together (the loop vectorizes).
template <Activation kActivation>
void EpilogueRows(const float* bias, int64_t rows, int64_t cols, float* c) {
  if (bias == nullptr) {
    for (int64_t i = 0; i < rows * cols; ++i) c[i] = Apply<kActivation>(c[i]);
    return;
  }
  for (int64_t r = 0; r < rows; ++r, c += cols) {
    for (int64_t j = 0; j < cols; ++j) c[j] = Apply<kActivation>(c[j] + bias[j]);
  }
}

}  // namespace

void ApplyEpilogue(const float* bias, Activation activation, int64_t rows, int64_t cols,
                   float* c) {
  switch (activation) {
    case Activation::kNone:
      if (bias != nullptr) EpilogueRows<Activation::kNone>(bias, rows, cols, c);
      return;
    case Activation::kRelu:
      return EpilogueRows<Activation::kRelu>(bias, rows, cols, c);
    case Activation::kRelu6:
      return EpilogueRows<Activation::kRelu6>(bias, rows, cols, c);
  }
}

std::string GemmBackendDescription() {
  InitOpenBlas();
  return absl::StrCat(openblas_get_config(), " (core: ", openblas_get_corename(), ")");
}

}  // namespace swapserve
