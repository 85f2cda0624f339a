// Float GEMM for the engine's heavy kernels (MatMul, BatchMatMul, Conv2D and
// their fused forms), and the bias + activation "epilogue" that TensorFlow's
// grappler fuses into them (_FusedMatMul, _FusedConv2D).
//
// Why OpenBLAS (cblas_sgemm) and not Eigen for these: Eigen vectorizes only for
// the instruction set fixed at compile time (x86-64-v3 here, so AVX2 on an
// AVX-512 machine), while OpenBLAS built with DYNAMIC_ARCH — Debian's build —
// picks its kernels for the CPU it finds at run time. It is what numpy and
// PyTorch's CPU build link against: boring, proven, and the binary still runs on
// any x86-64-v3. One request runs on one thread; concurrency comes from
// concurrent requests, so OpenBLAS is told to use one thread per call
// (openblas_set_num_threads(1) before the first). A CPU newer than Debian's
// OpenBLAS gets its kernels chosen by its features instead of its generic ones
// (gemm.cc, ChooseKernelsByFeatures). We link Debian's *pthread*
// flavour (libopenblas-pthread-dev), not its serial one: the serial build
// (USE_THREAD=0 without USE_LOCKING) shares its packing buffers between calls
// without a lock, and concurrent sgemm calls from request threads returned
// wrong values (34,827 of 400,000 small GEMMs from 4 threads; 1 in ~30,000
// daemon answers for a Dense model under 3 clients). The pthread build locks
// its buffer pool; gemm_test runs GEMMs from several threads against the
// single-threaded answers. (The container's own build, deploy/build-openblas.sh,
// is serial with USE_LOCKING=1, OpenBLAS's switch for exactly this.)
//
// Thread safety: every function here is reentrant.
#ifndef SWAPSERVE_MODEL_OPS_GEMM_H_
#define SWAPSERVE_MODEL_OPS_GEMM_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "model/ops/node_attrs.h"

namespace swapserve {

// C[m,n] = op(A)[m,k] * op(B)[k,n] (+ C[m,n] when `accumulate`), all row-major
// with leading dimensions lda/ldb/ldc; op(X) is X or its transpose. Dimensions
// too large for BLAS's 32-bit ints fall back to Eigen.
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
           int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

// The activation an epilogue applies after the bias.
enum class Activation { kNone, kRelu, kRelu6 };

// What follows a GEMM: `bias` (one value per output column) and an activation.
struct Epilogue {
  bool bias = false;
  Activation activation = Activation::kNone;
};

// Parses a _FusedMatMul/_FusedConv2D node's `fused_ops` (and `num_args`, when
// present): [] , ["BiasAdd"], ["BiasAdd", "Relu"] or ["BiasAdd", "Relu6"].
// Anything else is UNIMPLEMENTED naming the node.
absl::StatusOr<Epilogue> ParseEpilogue(const NodeAttrs& node);

// The epilogue, applied in place to the GEMM's output c[rows, cols] (ldc = cols)
// in one pass while it is in cache: c[r][j] = activation(c[r][j] + bias[j]);
// `bias` may be null (activation only).
void ApplyEpilogue(const float* bias, Activation activation, int64_t rows, int64_t cols,
                   float* c);

// "OpenBLAS 0.3.21 ... (core: Cooperlake)": what the GEMMs run on, for logs and
// benchmark reports.
std::string GemmBackendDescription();

}  // namespace swapserve

#endif  // SWAPSERVE_MODEL_OPS_GEMM_H_
