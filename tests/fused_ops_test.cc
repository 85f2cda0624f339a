// The OpenBLAS-backed GEMM kernels: _FusedMatMul and _FusedConv2D (bias and
// activation applied in the GEMM's output pass) against hand-computed values,
// MatMul's batch-1 (gemv) path, Conv2D's chunking over images against a naive
// convolution, concurrent calls from several threads, and kernels that fit
// the CPU (not OpenBLAS's generic ones on a CPU it does not know).
#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/ops/gemm.h"
#include "tests/kernel_test_util.h"

namespace swapserve {
namespace {

using ::swapserve::testing::ExpectFloats;
using ::swapserve::testing::Floats;
using ::swapserve::testing::NodeBuilder;
using ::swapserve::testing::RunKernel;

// T and num_args; fused_ops itself is added by WithFusedOps.
NodeBuilder Fused(const std::string& op, const std::vector<std::string>& fused_ops) {
  NodeBuilder b(op, "fused");
  b.T().Int("num_args", fused_ops.empty() ? 0 : 1);
  return b;
}

// NodeBuilder has no string-list setter; add fused_ops to the built NodeDef.
tensorflow::NodeDef WithFusedOps(tensorflow::NodeDef def, std::vector<std::string> ops) {
  auto* list = (*def.mutable_attr())["fused_ops"].mutable_list();
  for (const std::string& s : ops) list->add_s(s);
  return def;
}

tensorflow::NodeDef FusedMatMul(std::vector<std::string> ops, bool transpose_b = false) {
  return WithFusedOps(Fused("_FusedMatMul", ops).Bool("transpose_b", transpose_b).Build(), ops);
}

std::vector<float> RunFloats(const tensorflow::NodeDef& node, std::vector<Tensor> inputs) {
  auto out = RunKernel(node, std::move(inputs));
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  const Tensor& t = (*out)[0];
  return std::vector<float>(t.data<float>(), t.data<float>() + t.num_elements());
}

TEST(FusedMatMulTest, BiasThenRelu) {
  // [[1,2],[3,4]] x [[1,-1],[2,-3]] = [[5,-7],[11,-15]]; + [1,10] = [[6,3],[12,-5]];
  // relu = [[6,3],[12,0]].
  auto out = RunKernel(FusedMatMul({"BiasAdd", "Relu"}),
                       {Floats({2, 2}, {1, 2, 3, 4}), Floats({2, 2}, {1, -1, 2, -3}),
                        Floats({2}, {1, 10})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {2, 2}, {6, 3, 12, 0});
}

TEST(FusedMatMulTest, BatchOneBiasAndRelu6) {
  // One row: the gemv path. [1,2] x [[1,2,3],[4,5,6]] = [9,12,15]; + [-10,0,1] =
  // [-1,12,16]; relu6 = [0,6,6].
  auto out = RunKernel(FusedMatMul({"BiasAdd", "Relu6"}),
                       {Floats({1, 2}, {1, 2}), Floats({2, 3}, {1, 2, 3, 4, 5, 6}),
                        Floats({3}, {-10, 0, 1})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 3}, {0, 6, 6});
  // transpose_b, bias only: [1,2,3] x [[1,0,-1],[2,1,0]]^T = [-2,4]; + [0.5,-10].
  auto t = RunKernel(FusedMatMul({"BiasAdd"}, true),
                     {Floats({1, 3}, {1, 2, 3}), Floats({2, 3}, {1, 0, -1, 2, 1, 0}),
                      Floats({2}, {0.5f, -10})});
  ASSERT_TRUE(t.ok()) << t.status();
  ExpectFloats((*t)[0], {1, 2}, {-1.5f, -6});
}

TEST(FusedMatMulTest, PlainMatMulBatchOneMatchesEveryTransposition) {
  // a = [1,2,3]; b = [[1,2],[3,4],[5,6]]: a b = [22, 28]. Stored transposed,
  // b^T = [[1,3,5],[2,4,6]] with transpose_b gives the same.
  const Tensor a = Floats({1, 3}, {1, 2, 3});
  ExpectFloats(*RunKernel(NodeBuilder("MatMul").T().Build(),
                          {a, Floats({3, 2}, {1, 2, 3, 4, 5, 6})})->begin(),
               {1, 2}, {22, 28});
  ExpectFloats(*RunKernel(NodeBuilder("MatMul").T().Bool("transpose_b", true).Build(),
                          {a, Floats({2, 3}, {1, 3, 5, 2, 4, 6})})->begin(),
               {1, 2}, {22, 28});
  // transpose_a with a stored [3,1].
  ExpectFloats(*RunKernel(NodeBuilder("MatMul").T().Bool("transpose_a", true).Build(),
                          {Floats({3, 1}, {1, 2, 3}), Floats({3, 2}, {1, 2, 3, 4, 5, 6})})
                    ->begin(),
               {1, 2}, {22, 28});
}

TEST(FusedMatMulTest, Errors) {
  const Tensor a = Floats({1, 2}, {1, 2}), b = Floats({2, 2}, {1, 2, 3, 4});
  const auto kUnimplemented = absl::StatusCode::kUnimplemented;
  EXPECT_EQ(RunKernel(FusedMatMul({"Relu"}), {a, b}).status().code(), kUnimplemented);
  EXPECT_EQ(RunKernel(FusedMatMul({"BiasAdd", "Tanh"}), {a, b, Floats({2}, {0, 0})})
                .status()
                .code(),
            kUnimplemented);
  EXPECT_EQ(RunKernel(WithFusedOps(NodeBuilder("_FusedMatMul").T().Int("num_args", 2).Build(),
                                   {"BiasAdd"}),
                      {a, b, Floats({2}, {0, 0})})
                .status()
                .code(),
            kUnimplemented);
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(RunKernel(FusedMatMul({"BiasAdd"}), {a, b, Floats({3}, {0, 0, 0})}).status().code(),
            kInvalid);
  EXPECT_EQ(RunKernel(FusedMatMul({"BiasAdd"}), {a, b}).status().code(), kInvalid);
}

tensorflow::NodeDef FusedConv(const std::string& padding) {
  return WithFusedOps(Fused("_FusedConv2D", {"BiasAdd", "Relu"})
                          .Str("padding", padding)
                          .Ints("strides", {1, 1, 1, 1})
                          .Build(),
                      {"BiasAdd", "Relu"});
}

Tensor Iota(TensorShape shape) {
  std::vector<float> v(shape.num_elements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i + 1);
  return Floats(shape, v);
}

TEST(FusedConv2DTest, BiasThenRelu) {
  // Input 3x3 of 1..9, filter [[1,2],[3,4]]: VALID gives [37,47,67,77] (see
  // nn_ops_test); - 50 = [-13,-3,17,27]; relu = [0,0,17,27].
  auto out = RunKernel(FusedConv("VALID"), {Iota({1, 3, 3, 1}), Iota({2, 2, 1, 1}),
                                            Floats({1}, {-50})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 2, 2, 1}, {0, 0, 17, 27});
}

TEST(FusedConv2DTest, OneByOneNeedsNoPatches) {
  // 1x1 filter [[1,2,3],[4,5,6]] on pixels [1,2] and [3,4]: [9,12,15], [19,26,33];
  // + [1,-20,0] = [10,-8,15], [20,6,33]; relu = [10,0,15], [20,6,33].
  auto out = RunKernel(FusedConv("SAME"), {Iota({2, 1, 1, 2}), Iota({1, 1, 2, 3}),
                                           Floats({3}, {1, -20, 0})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {2, 1, 1, 3}, {10, 0, 15, 20, 6, 33});
}

TEST(FusedConv2DTest, BiasMustMatchTheFilter) {
  EXPECT_EQ(RunKernel(FusedConv("VALID"), {Iota({1, 3, 3, 1}), Iota({2, 2, 1, 1}),
                                           Floats({2}, {0, 0})})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// Values in [-1, 1) from a fixed linear congruential sequence.
Tensor Noise(TensorShape shape, uint32_t seed) {
  std::vector<float> v(shape.num_elements());
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / static_cast<float>(1 << 23) - 1.0f;
  }
  return Floats(shape, v);
}

// The definition of an NHWC convolution, one output at a time: VALID with stride
// `stride`, or SAME (stride 1 only; TF's padding, the extra row/column at the end).
std::vector<float> NaiveConv(const Tensor& x, const Tensor& f, int64_t stride, bool same) {
  const auto& xs = x.shape();
  const auto& fs = f.shape();
  const int64_t n = xs.dim(0), h = xs.dim(1), w = xs.dim(2), c = xs.dim(3);
  const int64_t kh = fs.dim(0), kw = fs.dim(1), o = fs.dim(3);
  const int64_t oh = same ? h : (h - kh) / stride + 1, ow = same ? w : (w - kw) / stride + 1;
  const int64_t pad_y = same ? (kh - 1) / 2 : 0, pad_x = same ? (kw - 1) / 2 : 0;
  std::vector<float> out;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t z = 0; z < ow; ++z)
        for (int64_t d = 0; d < o; ++d) {
          double s = 0;
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              const int64_t iy = y * stride + i - pad_y, iz = z * stride + j - pad_x;
              if (iy < 0 || iy >= h || iz < 0 || iz >= w) continue;
              for (int64_t k = 0; k < c; ++k) {
                s += x.data<float>()[((b * h + iy) * w + iz) * c + k] *
                     f.data<float>()[((i * kw + j) * c + k) * o + d];
              }
            }
          out.push_back(static_cast<float>(s));
        }
  return out;
}

TEST(Conv2DChunkingTest, ManyImagesMatchTheDefinition) {
  // 20 images of 16x16x8 with a 3x3x8x32 filter: ~100 KB of patches and output
  // per image, so the kernel runs several chunks of images.
  const Tensor x = Noise({20, 16, 16, 8}, 1), f = Noise({3, 3, 8, 32}, 2);
  NodeBuilder conv("Conv2D", "conv");
  conv.T().Str("padding", "SAME").Ints("strides", {1, 1, 1, 1});
  auto out = RunKernel(conv.Build(), {x, f});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {20, 16, 16, 32}, NaiveConv(x, f, 1, /*same=*/true), 1e-4f);
}

TEST(Conv2DIm2ColTest, UnpaddedRowsMatchTheDefinition) {
  // Unpadded windows take im2col's run-copy path; tap rows of 3, 6 and 9 floats
  // (KW x C = 3x1, 3x2, 3x3) use fixed-length copies, 2x5 = 10 the generic one.
  struct Case {
    TensorShape x, f;
    int64_t stride;
  };
  const Case cases[] = {{{2, 7, 6, 1}, {3, 3, 1, 4}, 1},
                        {{1, 6, 7, 2}, {3, 3, 2, 5}, 2},
                        {{1, 5, 6, 3}, {2, 3, 3, 2}, 1},
                        {{2, 4, 5, 5}, {3, 2, 5, 3}, 1}};
  uint32_t seed = 10;
  for (const Case& c : cases) {
    const Tensor x = Noise(c.x, seed++), f = Noise(c.f, seed++);
    NodeBuilder conv("Conv2D", "conv");
    conv.T().Str("padding", "VALID").Ints("strides", {1, c.stride, c.stride, 1});
    auto out = RunKernel(conv.Build(), {x, f});
    ASSERT_TRUE(out.ok()) << out.status();
    const int64_t oh = (c.x.dim(1) - c.f.dim(0)) / c.stride + 1;
    const int64_t ow = (c.x.dim(2) - c.f.dim(1)) / c.stride + 1;
    ExpectFloats((*out)[0], {c.x.dim(0), oh, ow, c.f.dim(3)}, NaiveConv(x, f, c.stride, /*same=*/false),
                 1e-5f);
  }
}

TEST(FusedMatMulTest, EpilogueOverManyRowsMatchesAReferenceLoop) {
  // 5 x 13 outputs (13 columns: vector blocks and a remainder) of Relu6(a b + bias),
  // values spread over [-6.5, 6.5] so both clamps and the linear part show up.
  const Tensor a = Noise({5, 4}, 21), b = Noise({4, 13}, 22), bias = Noise({13}, 23);
  std::vector<float> want;
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 13; ++j) {
      double s = bias.data<float>()[j];
      for (int64_t k = 0; k < 4; ++k) s += 4.0 * a.data<float>()[i * 4 + k] * b.data<float>()[k * 13 + j];
      want.push_back(static_cast<float>(std::min(std::max(s, 0.0), 6.0)));
    }
  }
  // Scale a by 4 so that some outputs exceed 6.
  std::vector<float> a4(a.data<float>(), a.data<float>() + 20);
  for (float& x : a4) x *= 4.0f;
  auto out = RunKernel(FusedMatMul({"BiasAdd", "Relu6"}), {Floats({5, 4}, a4), b, bias});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {5, 13}, want, 1e-5f);
}

TEST(GemmThreadsTest, ConcurrentCallsAgreeWithOneThread) {
  // Kernels run concurrently for concurrent requests; OpenBLAS's buffer pool is
  // shared by all of them. Small products are where calls overlap most (their
  // time is mostly taking and packing buffers): Debian's serial OpenBLAS gave
  // wrong values here for thousands of them, its pthread flavour for none.
  struct Case {
    int64_t m, k, n;
    int calls;
  };
  for (const Case& c : {Case{64, 300, 200, 50}, Case{5, 11, 64, 20000}, Case{5, 64, 32, 20000},
                        Case{1, 64, 32, 20000}}) {
    SCOPED_TRACE(absl::StrCat(c.m, "x", c.k, "x", c.n));
    const Tensor a = Noise({c.m, c.k}, 3), b = Noise({c.k, c.n}, 4), bias = Noise({c.n}, 5);
    const tensorflow::NodeDef node = FusedMatMul({"BiasAdd", "Relu"});
    const std::vector<float> want = RunFloats(node, {a, b, bias});
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < c.calls; ++i) mismatches[t] += RunFloats(node, {a, b, bias}) != want;
      });
    }
    for (std::thread& t : threads) t.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  }
}

// On a CPU with AVX2 and FMA, the GEMMs never run OpenBLAS's generic SSE3
// kernels ("Prescott", 5-8x slower), even when OpenBLAS does not know the CPU
// (Debian's 0.3.21 on Emerald Rapids). Every other test here then checks the
// kernels chosen.
TEST(GemmBackendTest, KernelsFitTheCpu) {
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  __builtin_cpu_init();
  const std::string backend = GemmBackendDescription();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      (forced == nullptr || !absl::EqualsIgnoreCase(forced, "Prescott"))) {
    EXPECT_FALSE(absl::StrContains(backend, "core: Prescott")) << backend;
  }
}

}  // namespace
}  // namespace swapserve
