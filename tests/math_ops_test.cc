// Math kernels on small tensors; every expectation is worked out by hand in the
// comment beside it.
#include <cmath>

#include "gtest/gtest.h"
#include "tests/kernel_test_util.h"

namespace swapserve {
namespace {

using ::swapserve::testing::Bools;
using ::swapserve::testing::ExpectFloats;
using ::swapserve::testing::Floats;
using ::swapserve::testing::Ints32;
using ::swapserve::testing::NodeBuilder;
using ::swapserve::testing::RunKernel;
using ::swapserve::testing::Values;

TEST(MathOpsTest, AddBroadcastsRowAgainstColumn) {
  // [[1],[2]] + [10, 20, 30] = [[11,21,31],[12,22,32]]
  auto out = RunKernel(NodeBuilder("AddV2").T().Build(),
                       {Floats({2, 1}, {1, 2}), Floats({3}, {10, 20, 30})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {2, 3}, {11, 21, 31, 12, 22, 32});
}

TEST(MathOpsTest, ArithmeticAndScalars) {
  auto sub = RunKernel(NodeBuilder("Sub").T().Build(), {Floats({2}, {5, 1}), Floats({}, {2})});
  ExpectFloats((*sub)[0], {2}, {3, -1});
  auto div = RunKernel(NodeBuilder("RealDiv").T().Build(), {Floats({}, {1}), Floats({2}, {4, -8})});
  ExpectFloats((*div)[0], {2}, {0.25f, -0.125f});
  auto mx = RunKernel(NodeBuilder("Maximum").T().Build(), {Floats({3}, {-1, 5, 2}), Floats({}, {0})});
  ExpectFloats((*mx)[0], {3}, {0, 5, 2});
  auto mul = RunKernel(NodeBuilder("Mul").T(tensorflow::DT_INT32).Build(),
                       {Ints32({2}, {3, -4}), Ints32({2}, {5, 6})});
  EXPECT_EQ(Values<int32_t>((*mul)[0]), (std::vector<int32_t>{15, -24}));
}

TEST(MathOpsTest, IntegerOverflowWrapsAndDivisionNeverTraps) {
  // INT32_MIN / -1 and x / 0 are undefined in C++ (SIGFPE); TF wraps the first.
  auto div = RunKernel(NodeBuilder("Div").T(tensorflow::DT_INT32).Build(),
                       {Ints32({2}, {INT32_MIN, 7}), Ints32({2}, {-1, 0})});
  ASSERT_TRUE(div.ok()) << div.status();
  EXPECT_EQ(Values<int32_t>((*div)[0]), (std::vector<int32_t>{INT32_MIN, 0}));
  auto add = RunKernel(NodeBuilder("AddV2").T(tensorflow::DT_INT32).Build(),
                       {Ints32({1}, {INT32_MAX}), Ints32({1}, {1})});
  EXPECT_EQ(Values<int32_t>((*add)[0]), (std::vector<int32_t>{INT32_MIN}));
  auto neg = RunKernel(NodeBuilder("Neg").T(tensorflow::DT_INT32).Build(),
                       {Ints32({1}, {INT32_MIN})});
  EXPECT_EQ(Values<int32_t>((*neg)[0]), (std::vector<int32_t>{INT32_MIN}));
}

TEST(MathOpsTest, IncompatibleShapesAndDtypesFail) {
  auto bad = RunKernel(NodeBuilder("AddV2").T().Build(), {Floats({2}, {1, 2}), Floats({3}, {1, 2, 3})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("do not broadcast"), absl::string_view::npos);
  auto mixed = RunKernel(NodeBuilder("AddV2").T().Build(), {Floats({1}, {1}), Ints32({1}, {1})});
  EXPECT_FALSE(mixed.ok());
}

TEST(MathOpsTest, Comparisons) {
  auto less = RunKernel(NodeBuilder("Less").T().Build(), {Floats({3}, {1, 2, 3}), Floats({}, {2})});
  EXPECT_EQ(Values<uint8_t>((*less)[0]), (std::vector<uint8_t>{1, 0, 0}));
  auto eq = RunKernel(NodeBuilder("Equal").T().Build(), {Floats({2}, {1, 2}), Floats({2}, {1, 3})});
  EXPECT_EQ((*eq)[0].dtype(), tensorflow::DT_BOOL);
  EXPECT_EQ(Values<uint8_t>((*eq)[0]), (std::vector<uint8_t>{1, 0}));
  auto n = RunKernel(NodeBuilder("LogicalNot").Build(), {Bools({2}, {1, 0})});
  EXPECT_EQ(Values<uint8_t>((*n)[0]), (std::vector<uint8_t>{0, 1}));
}

TEST(MathOpsTest, UnaryFunctions) {
  auto sq = RunKernel(NodeBuilder("Rsqrt").T().Build(), {Floats({2}, {4, 0.25f})});
  ExpectFloats((*sq)[0], {2}, {0.5f, 2});  // 1/sqrt(4), 1/sqrt(1/4)
  auto e = RunKernel(NodeBuilder("Exp").T().Build(), {Floats({2}, {0, 1})});
  ExpectFloats((*e)[0], {2}, {1, 2.7182817f});
  auto erf = RunKernel(NodeBuilder("Erf").T().Build(), {Floats({3}, {0, 1, -1})});
  ExpectFloats((*erf)[0], {3}, {0, 0.8427008f, -0.8427008f});  // erf(1) from tables
  auto neg = RunKernel(NodeBuilder("Neg").T().Build(), {Floats({1}, {3})});
  ExpectFloats((*neg)[0], {1}, {-3});
}

TEST(MathOpsTest, Reductions) {
  // x = [[1,2,3],[4,5,6]]
  const Tensor x = Floats({2, 3}, {1, 2, 3, 4, 5, 6});
  auto sum0 = RunKernel(NodeBuilder("Sum").T().Build(), {x, Ints32({1}, {0})});
  ExpectFloats((*sum0)[0], {3}, {5, 7, 9});
  auto mean1 = RunKernel(NodeBuilder("Mean").T().Bool("keep_dims", true).Build(),
                         {x, Ints32({}, {-1})});
  ExpectFloats((*mean1)[0], {2, 1}, {2, 5});
  auto max_all = RunKernel(NodeBuilder("Max").T().Build(), {x, Ints32({2}, {0, 1})});
  ExpectFloats((*max_all)[0], {}, {6});
  auto bad = RunKernel(NodeBuilder("Sum").T().Build(), {x, Ints32({1}, {2})});
  EXPECT_FALSE(bad.ok());
}

TEST(MathOpsTest, ArgMax) {
  // rows [1,9,3] and [7,2,7]: argmax over axis 1 = [1, 0] (first maximum wins)
  auto out = RunKernel(NodeBuilder("ArgMax").T().Build(),
                       {Floats({2, 3}, {1, 9, 3, 7, 2, 7}), Ints32({}, {1})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dtype(), tensorflow::DT_INT64);
  EXPECT_EQ(Values<int64_t>((*out)[0]), (std::vector<int64_t>{1, 0}));
}

TEST(MathOpsTest, MatMulWithTransposes) {
  // a = [[1,2],[3,4]], b = [[5,6],[7,8]]
  const Tensor a = Floats({2, 2}, {1, 2, 3, 4}), b = Floats({2, 2}, {5, 6, 7, 8});
  auto ab = RunKernel(NodeBuilder("MatMul").T().Build(), {a, b});
  ExpectFloats((*ab)[0], {2, 2}, {19, 22, 43, 50});
  // a^T b = [[1,3],[2,4]] b = [[26,30],[38,44]]
  auto atb = RunKernel(NodeBuilder("MatMul").T().Bool("transpose_a", true).Build(), {a, b});
  ExpectFloats((*atb)[0], {2, 2}, {26, 30, 38, 44});
  // a b^T = a [[5,7],[6,8]] = [[17,23],[39,53]]
  auto abt = RunKernel(NodeBuilder("MatMul").T().Bool("transpose_b", true).Build(), {a, b});
  ExpectFloats((*abt)[0], {2, 2}, {17, 23, 39, 53});
  auto bad = RunKernel(NodeBuilder("MatMul").T().Build(), {Floats({1, 3}, {1, 2, 3}), b});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("inner dimensions differ"), absl::string_view::npos);
}

TEST(MathOpsTest, BatchMatMulBroadcastsBatch) {
  // x: 2 batches of [1,2] rows; y: one [2,1] matrix [[1],[10]] shared by both.
  auto out = RunKernel(NodeBuilder("BatchMatMulV2").T().Build(),
                       {Floats({2, 1, 2}, {1, 2, 3, 4}), Floats({2, 1}, {1, 10})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {2, 1, 1}, {21, 43});  // 1+20, 3+40
}

}  // namespace
}  // namespace swapserve
