// Tests for the array kernels (model/ops/array_ops.cc, cast_ops.cc, shuffle_ops.cc,
// gather_ops.cc). Slicing is in slice_ops_test.cc. Expected values are worked out
// by hand from TF's documented semantics; each case says how.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernel_test_util.h"

namespace swapserve::testing {
namespace {

using tensorflow::DT_BOOL;
using tensorflow::DT_FLOAT;
using tensorflow::DT_INT32;
using tensorflow::DT_INT64;
using tensorflow::DT_STRING;

Tensor Strings(TensorShape shape, std::vector<std::string> v) {
  auto t = Tensor::Allocate(DT_STRING, shape);
  EXPECT_TRUE(t.ok());
  t->strings() = std::move(v);
  return *t;
}

// Runs `node` and returns output `index`; a failed run fails the test.
Tensor RunOk(const tensorflow::NodeDef& node, std::vector<Tensor> inputs, int outputs = 1,
             int index = 0) {
  auto out = RunKernel(node, std::move(inputs), outputs);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[index] : Tensor();
}

absl::Status RunStatus(const tensorflow::NodeDef& node, std::vector<Tensor> inputs,
                       int outputs = 1) {
  return RunKernel(node, std::move(inputs), outputs).status();
}

template <typename T>
void ExpectValues(const Tensor& t, DataType dtype, TensorShape shape, std::vector<T> want) {
  ASSERT_EQ(t.dtype(), dtype);
  ASSERT_EQ(t.shape(), shape) << t.shape().DebugString();
  EXPECT_EQ(Values<T>(t), want);
}

void ExpectInvalid(const absl::Status& s, const std::string& fragment) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s;
  EXPECT_NE(s.message().find("node 'n'"), std::string::npos) << s;
}

// 2x3 float matrix [[1,2,3],[4,5,6]].
Tensor M23() { return Floats({2, 3}, {1, 2, 3, 4, 5, 6}); }

TEST(ArrayOpsTest, AllOpsRegistered) {
  for (const char* op :
       {"Identity", "StopGradient", "Snapshot", "IdentityN", "Reshape", "Squeeze",
        "ExpandDims", "Shape", "Size", "Rank", "Pack", "Unpack", "ConcatV2", "Transpose",
        "Fill", "ZerosLike", "OnesLike", "Range", "StridedSlice", "Slice", "Cast", "Pad",
        "PadV2", "MirrorPad", "GatherV2", "Gather", "Select", "SelectV2", "Tile", "Where"}) {
    EXPECT_NE(KernelRegistry::Global().Find(op), nullptr) << op;
  }
}

TEST(ArrayOpsTest, IdentityFamilySharesTheBuffer) {
  const Tensor x = M23();
  for (const char* op : {"Identity", "StopGradient", "Snapshot"}) {
    Tensor y = RunOk(NodeBuilder(op).T().Build(), {x});
    EXPECT_EQ(y.raw_data(), x.raw_data()) << op;
    EXPECT_EQ(y.shape(), x.shape());
  }
  auto out = RunKernel(NodeBuilder("IdentityN").Build(), {x, Ints32({1}, {7})}, 2);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].raw_data(), x.raw_data());
  ExpectValues<int32_t>((*out)[1], DT_INT32, {1}, {7});
  ExpectInvalid(RunStatus(NodeBuilder("IdentityN").Build(), {x}, 2), "outputs");
  EXPECT_FALSE(RunStatus(NodeBuilder("Identity").Build(), {x, x}).ok());
}

TEST(ArrayOpsTest, ReshapeInfersMinusOne) {
  // 6 elements into [3,-1]: -1 = 6/3 = 2; row-major order is unchanged.
  ExpectFloats(RunOk(NodeBuilder("Reshape").T().Build(), {M23(), Ints32({2}, {3, -1})}),
               {3, 2}, {1, 2, 3, 4, 5, 6});
  ExpectFloats(RunOk(NodeBuilder("Reshape").T().Build(), {M23(), Ints64({1}, {-1})}), {6},
               {1, 2, 3, 4, 5, 6});
  // To a scalar: shape [] from a one-element tensor.
  ExpectFloats(RunOk(NodeBuilder("Reshape").Build(), {Floats({1, 1}, {5}), Ints32({0}, {})}),
               {}, {5});
}

TEST(ArrayOpsTest, ReshapeErrors) {
  const auto node = NodeBuilder("Reshape").T().Build();
  ExpectInvalid(RunStatus(node, {M23(), Ints32({1}, {4})}), "has 4 elements");
  ExpectInvalid(RunStatus(node, {M23(), Ints32({2}, {-1, -1})}), "negative");
  ExpectInvalid(RunStatus(node, {M23(), Ints32({2}, {4, -1})}), "cannot infer");
  ExpectInvalid(RunStatus(node, {M23(), Floats({1}, {6})}), "int32 or int64");
  // Hostile: a huge target shape is a mismatch, not an allocation.
  ExpectInvalid(RunStatus(node, {M23(), Ints64({2}, {1000000, 1000000})}),
                "has 1000000000000 elements");
  ExpectInvalid(
      RunStatus(node, {M23(), Ints64({3}, {int64_t{1} << 40, int64_t{1} << 40, 1 << 20})}),
      "overflows");
}

TEST(ArrayOpsTest, ReshapeStrings) {
  Tensor y = RunOk(NodeBuilder("Reshape").Build(),
                   {Strings({2, 2}, {"a", "b", "c", "d"}), Ints32({1}, {4})});
  ASSERT_EQ(y.shape(), TensorShape({4}));
  EXPECT_EQ(y.strings(), (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(ArrayOpsTest, Squeeze) {
  const Tensor x = Floats({1, 2, 1, 3}, {1, 2, 3, 4, 5, 6});
  // No dims listed: every size-1 dim goes.
  ExpectFloats(RunOk(NodeBuilder("Squeeze").T().Build(), {x}), {2, 3}, {1, 2, 3, 4, 5, 6});
  // -2 is dim 2 of 4.
  ExpectFloats(RunOk(NodeBuilder("Squeeze").Ints("squeeze_dims", {-2}).Build(), {x}),
               {1, 2, 3}, {1, 2, 3, 4, 5, 6});
  ExpectFloats(RunOk(NodeBuilder("Squeeze").Ints("axis", {0}).Build(), {x}), {2, 1, 3},
               {1, 2, 3, 4, 5, 6});
  ExpectInvalid(RunStatus(NodeBuilder("Squeeze").Ints("squeeze_dims", {1}).Build(), {x}),
                "size is not 1");
  ExpectInvalid(RunStatus(NodeBuilder("Squeeze").Ints("squeeze_dims", {4}).Build(), {x}),
                "out of range");
}

TEST(ArrayOpsTest, ExpandDims) {
  const auto node = NodeBuilder("ExpandDims").T().Build();
  ExpectFloats(RunOk(node, {M23(), Ints32({}, {0})}), {1, 2, 3}, {1, 2, 3, 4, 5, 6});
  // -1 appends: rank 2 + 1 + (-1) = position 2.
  ExpectFloats(RunOk(node, {M23(), Ints64({}, {-1})}), {2, 3, 1}, {1, 2, 3, 4, 5, 6});
  ExpectFloats(RunOk(node, {M23(), Ints32({1}, {1})}), {2, 1, 3}, {1, 2, 3, 4, 5, 6});
  // Valid dims for rank 2 are [-3, 2].
  ExpectInvalid(RunStatus(node, {M23(), Ints32({}, {3})}), "out of range");
  ExpectInvalid(RunStatus(node, {M23(), Ints32({}, {-4})}), "out of range");
}

TEST(ArrayOpsTest, ShapeSizeRank) {
  ExpectValues<int32_t>(RunOk(NodeBuilder("Shape").Build(), {M23()}), DT_INT32, {2},
                        {2, 3});
  ExpectValues<int64_t>(RunOk(NodeBuilder("Shape").Type("out_type", DT_INT64).Build(),
                              {M23()}),
                        DT_INT64, {2}, {2, 3});
  ExpectValues<int32_t>(RunOk(NodeBuilder("Shape").Build(), {Floats({}, {1})}), DT_INT32,
                        {0}, {});
  ExpectValues<int32_t>(RunOk(NodeBuilder("Size").Build(), {M23()}), DT_INT32, {}, {6});
  ExpectValues<int64_t>(RunOk(NodeBuilder("Size").Type("out_type", DT_INT64).Build(),
                              {M23()}),
                        DT_INT64, {}, {6});
  ExpectValues<int32_t>(RunOk(NodeBuilder("Rank").Build(), {M23()}), DT_INT32, {}, {2});
  EXPECT_EQ(RunStatus(NodeBuilder("Shape").Type("out_type", DT_FLOAT).Build(), {M23()}).code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ArrayOpsTest, PackAndUnpack) {
  const Tensor a = Floats({2}, {1, 2}), b = Floats({2}, {3, 4});
  ExpectFloats(RunOk(NodeBuilder("Pack").Int("N", 2).Build(), {a, b}), {2, 2}, {1, 2, 3, 4});
  // axis 1: out[i][j] = input j, element i -> [[1,3],[2,4]].
  ExpectFloats(RunOk(NodeBuilder("Pack").Int("axis", 1).Build(), {a, b}), {2, 2},
               {1, 3, 2, 4});
  ExpectFloats(RunOk(NodeBuilder("Pack").Int("axis", -1).Build(), {a, b}), {2, 2},
               {1, 3, 2, 4});
  ExpectInvalid(RunStatus(NodeBuilder("Pack").Build(), {a, Floats({3}, {1, 2, 3})}),
                "input 1");
  // Unpack [[1,2,3],[4,5,6]] along axis 1: the columns.
  auto out = RunKernel(NodeBuilder("Unpack").Int("num", 3).Int("axis", 1).Build(), {M23()}, 3);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {2}, {1, 4});
  ExpectFloats((*out)[1], {2}, {2, 5});
  ExpectFloats((*out)[2], {2}, {3, 6});
  ExpectInvalid(RunStatus(NodeBuilder("Unpack").Int("num", 3).Build(), {M23()}, 3), "num");
}

TEST(ArrayOpsTest, PackStrings) {
  Tensor y = RunOk(NodeBuilder("Pack").Build(), {Strings({1}, {"x"}), Strings({1}, {"y"})});
  ASSERT_EQ(y.shape(), TensorShape({2, 1}));
  EXPECT_EQ(y.strings(), (std::vector<std::string>{"x", "y"}));
}

TEST(ArrayOpsTest, ConcatV2) {
  const Tensor a = Floats({2, 2}, {1, 2, 3, 4}), b = Floats({2, 1}, {5, 6});
  // axis -1 = 1: rows [1,2]+[5], [3,4]+[6].
  ExpectFloats(RunOk(NodeBuilder("ConcatV2").Build(), {a, b, Ints32({}, {-1})}), {2, 3},
               {1, 2, 5, 3, 4, 6});
  ExpectFloats(RunOk(NodeBuilder("ConcatV2").Build(), {a, a, Ints64({}, {0})}), {4, 2},
               {1, 2, 3, 4, 1, 2, 3, 4});
  ExpectInvalid(RunStatus(NodeBuilder("ConcatV2").Build(), {a, b, Ints32({}, {0})}),
                "incompatible");
  ExpectInvalid(RunStatus(NodeBuilder("ConcatV2").Build(), {a, b, Ints32({}, {2})}),
                "out of range");
  ExpectInvalid(RunStatus(NodeBuilder("ConcatV2").Build(),
                          {Floats({}, {1}), Floats({}, {2}), Ints32({}, {0})}),
                "scalars");
  // Old Concat: axis first.
  ExpectFloats(RunOk(NodeBuilder("Concat").Build(), {Ints32({}, {1}), a, b}), {2, 3},
               {1, 2, 5, 3, 4, 6});
  Tensor s = RunOk(NodeBuilder("ConcatV2").Build(),
                   {Strings({1}, {"p"}), Strings({2}, {"q", "r"}), Ints32({}, {0})});
  EXPECT_EQ(s.strings(), (std::vector<std::string>{"p", "q", "r"}));
}

TEST(ArrayOpsTest, Transpose3D) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<float>(i);
  // x[a,b,c] = 12a + 4b + c in shape [2,3,4]; perm [2,0,1] gives shape [4,2,3] with
  // out[i,j,k] = x[j,k,i] = 12j + 4k + i.
  ExpectFloats(RunOk(NodeBuilder("Transpose").Build(), {Floats({2, 3, 4}, v),
                                                       Ints32({3}, {2, 0, 1})}),
               {4, 2, 3},
               {0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21,
                2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23});
  ExpectFloats(RunOk(NodeBuilder("Transpose").Build(), {M23(), Ints64({2}, {1, 0})}), {3, 2},
               {1, 4, 2, 5, 3, 6});
  ExpectInvalid(RunStatus(NodeBuilder("Transpose").Build(), {M23(), Ints32({2}, {0, 0})}),
                "permutation");
  ExpectInvalid(RunStatus(NodeBuilder("Transpose").Build(), {M23(), Ints32({1}, {0})}),
                "entries");
}

TEST(ArrayOpsTest, TransposeOtherElementSizes) {
  // [[1,2,3],[4,5,6]] transposed is [[1,4],[2,5],[3,6]] whatever the element size.
  ExpectValues<int64_t>(RunOk(NodeBuilder("Transpose").Build(),
                              {Ints64({2, 3}, {1, 2, 3, 4, 5, 6}), Ints32({2}, {1, 0})}),
                        DT_INT64, {3, 2}, {1, 4, 2, 5, 3, 6});
  const Tensor i8 = MakeTensor<int8_t>(tensorflow::DT_INT8, {2, 3}, {1, 2, 3, 4, 5, 6});
  ExpectValues<int8_t>(RunOk(NodeBuilder("Transpose").Build(), {i8, Ints32({2}, {1, 0})}),
                       tensorflow::DT_INT8, {3, 2}, {1, 4, 2, 5, 3, 6});
  const Tensor u16 = MakeTensor<uint16_t>(tensorflow::DT_UINT16, {2, 3}, {1, 2, 3, 4, 5, 6});
  ExpectValues<uint16_t>(RunOk(NodeBuilder("Transpose").Build(), {u16, Ints32({2}, {1, 0})}),
                         tensorflow::DT_UINT16, {3, 2}, {1, 4, 2, 5, 3, 6});
}

TEST(ArrayOpsTest, FillZerosOnes) {
  ExpectValues<int32_t>(RunOk(NodeBuilder("Fill").Build(), {Ints32({2}, {2, 2}),
                                                           Ints32({}, {7})}),
                        DT_INT32, {2, 2}, {7, 7, 7, 7});
  ExpectFloats(RunOk(NodeBuilder("Fill").Build(), {Ints64({1}, {3}), Floats({}, {0.5f})}),
               {3}, {0.5f, 0.5f, 0.5f});
  ExpectFloats(RunOk(NodeBuilder("ZerosLike").Build(), {M23()}), {2, 3}, {0, 0, 0, 0, 0, 0});
  ExpectFloats(RunOk(NodeBuilder("OnesLike").Build(), {M23()}), {2, 3}, {1, 1, 1, 1, 1, 1});
  ExpectValues<int64_t>(RunOk(NodeBuilder("OnesLike").Build(), {Ints64({2}, {5, 6})}),
                        DT_INT64, {2}, {1, 1});
  ExpectValues<uint8_t>(RunOk(NodeBuilder("OnesLike").Build(), {Bools({1}, {0})}), DT_BOOL,
                        {1}, {1});
}

TEST(ArrayOpsTest, HostileSizesAreErrors) {
  // 1e12 x 1e12 elements: far past the 2^31-element output cap.
  ExpectInvalid(RunStatus(NodeBuilder("Fill").Build(),
                          {Ints64({2}, {1000000000000, 1000000000000}), Floats({}, {1})}),
                "elements");
  ExpectInvalid(RunStatus(NodeBuilder("Fill").Build(), {Ints32({1}, {-1}), Floats({}, {1})}),
                "negative");
  // 10^10 int64 elements from Range(0, 1e10, 1).
  ExpectInvalid(RunStatus(NodeBuilder("Range").Build(),
                          {Ints64({}, {0}), Ints64({}, {10000000000}), Ints64({}, {1})}),
                "limit");
  ExpectInvalid(RunStatus(NodeBuilder("Range").Build(),
                          {Floats({}, {0}), Floats({}, {1e12f}), Floats({}, {0.5f})}),
                "limit");
  ExpectInvalid(RunStatus(NodeBuilder("Tile").Build(),
                          {M23(), Ints64({2}, {1 << 20, 1 << 20})}),
                "elements");
  ExpectInvalid(RunStatus(NodeBuilder("Pad").Build(),
                          {M23(), Ints64({2, 2}, {0, 1 << 20, 0, 1 << 20})}),
                "elements");
  ExpectInvalid(RunStatus(NodeBuilder("Pad").Build(),
                          {M23(), Ints64({2, 2}, {0, INT64_MAX, 0, 1})}),
                "overflow");
}

TEST(ArrayOpsTest, Range) {
  const auto node = NodeBuilder("Range").Build();
  // 0,3,6,9: ceil((10-0)/3) = 4 elements.
  ExpectValues<int32_t>(RunOk(node, {Ints32({}, {0}), Ints32({}, {10}), Ints32({}, {3})}),
                        DT_INT32, {4}, {0, 3, 6, 9});
  ExpectValues<int64_t>(RunOk(node, {Ints64({}, {5}), Ints64({}, {1}), Ints64({}, {-2})}),
                        DT_INT64, {2}, {5, 3});
  ExpectFloats(RunOk(node, {Floats({}, {1}), Floats({}, {2}), Floats({}, {0.25f})}), {4},
               {1, 1.25f, 1.5f, 1.75f});
  ExpectValues<int32_t>(RunOk(node, {Ints32({}, {3}), Ints32({}, {3}), Ints32({}, {1})}),
                        DT_INT32, {0}, {});
  ExpectInvalid(RunStatus(node, {Ints32({}, {0}), Ints32({}, {5}), Ints32({}, {0})}),
                "delta");
  ExpectInvalid(RunStatus(node, {Ints32({}, {0}), Ints32({}, {5}), Ints32({}, {-1})}),
                "cannot reach");
  ExpectInvalid(RunStatus(node, {Ints32({}, {0}), Ints64({}, {5}), Ints32({}, {1})}),
                "limit");
}

TEST(ArrayOpsTest, Cast) {
  auto cast = [](DataType src, DataType dst) {
    return NodeBuilder("Cast").Type("SrcT", src).Type("DstT", dst).Build();
  };
  const Tensor f = Floats({5}, {1.7f, -1.7f, 0.0f, 2.5f, -0.0f});
  // static_cast truncates toward zero.
  ExpectValues<int32_t>(RunOk(cast(DT_FLOAT, DT_INT32), {f}), DT_INT32, {5},
                        {1, -1, 0, 2, 0});
  // To bool is x != 0 (and -0.0 == 0).
  ExpectValues<uint8_t>(RunOk(cast(DT_FLOAT, DT_BOOL), {f}), DT_BOOL, {5}, {1, 1, 0, 1, 0});
  ExpectFloats(RunOk(cast(DT_BOOL, DT_FLOAT), {Bools({2}, {1, 0})}), {2}, {1, 0});
  ExpectFloats(RunOk(cast(DT_INT64, DT_FLOAT), {Ints64({2}, {-3, 1 << 20})}), {2},
               {-3, 1 << 20});
  // 300 mod 256 = 44; -1 mod 256 = 255.
  ExpectValues<uint8_t>(RunOk(cast(DT_INT32, tensorflow::DT_UINT8), {Ints32({2}, {300, -1})}),
                        tensorflow::DT_UINT8, {2}, {44, 255});
  // 1.5 in binary16 is sign 0, exponent 15 (01111), mantissa .1 -> 0x3E00.
  ExpectValues<uint16_t>(RunOk(cast(DT_FLOAT, tensorflow::DT_HALF), {Floats({1}, {1.5f})}),
                         tensorflow::DT_HALF, {1}, {0x3E00});
  // Out of int32 range saturates (C++ leaves it undefined); NaN becomes 0.
  ExpectValues<int32_t>(RunOk(cast(DT_FLOAT, DT_INT32),
                              {Floats({3}, {3e9f, -3e9f, std::numeric_limits<float>::quiet_NaN()})}),
                        DT_INT32, {3}, {INT32_MAX, INT32_MIN, 0});
  // bfloat16 keeps the top 16 bits of the float: 1.0f = 0x3F800000 -> 0x3F80.
  ExpectValues<uint16_t>(RunOk(cast(DT_FLOAT, tensorflow::DT_BFLOAT16), {Floats({1}, {1.0f})}),
                         tensorflow::DT_BFLOAT16, {1}, {0x3F80});
  // Half 0x3E00 (1.5) back to int64 truncates to 1; int32 -> bool is x != 0.
  ExpectValues<int64_t>(RunOk(cast(tensorflow::DT_HALF, DT_INT64),
                              {MakeTensor<uint16_t>(tensorflow::DT_HALF, {1}, {0x3E00})}),
                        DT_INT64, {1}, {1});
  ExpectValues<uint8_t>(RunOk(cast(DT_INT32, DT_BOOL), {Ints32({3}, {0, -7, 2})}), DT_BOOL,
                        {3}, {0, 1, 1});
  // Same type: the input itself.
  const Tensor x = M23();
  EXPECT_EQ(RunOk(cast(DT_FLOAT, DT_FLOAT), {x}).raw_data(), x.raw_data());
  ExpectInvalid(RunStatus(cast(DT_INT32, DT_FLOAT), {x}), "must be DT_INT32");
  EXPECT_EQ(RunStatus(cast(DT_STRING, DT_FLOAT), {x}).code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ArrayOpsTest, PadAndPadV2) {
  const Tensor x = Floats({2, 2}, {1, 2, 3, 4});
  // One row before, two columns after: [[0,0,0,0],[1,2,0,0],[3,4,0,0]].
  ExpectFloats(RunOk(NodeBuilder("Pad").Build(), {x, Ints32({2, 2}, {1, 0, 0, 2})}), {3, 4},
               {0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0});
  // One row after, one column before, filled with 9: [[9,1,2],[9,3,4],[9,9,9]].
  ExpectFloats(RunOk(NodeBuilder("PadV2").Build(),
                     {x, Ints64({2, 2}, {0, 1, 1, 0}), Floats({}, {9})}),
               {3, 3}, {9, 1, 2, 9, 3, 4, 9, 9, 9});
  ExpectInvalid(RunStatus(NodeBuilder("Pad").Build(), {x, Ints32({2, 2}, {0, -1, 0, 0})}),
                "negative");
  ExpectInvalid(RunStatus(NodeBuilder("Pad").Build(), {x, Ints32({1, 2}, {0, 1})}),
                "shape [2,2]");
  ExpectInvalid(RunStatus(NodeBuilder("PadV2").Build(),
                          {x, Ints32({2, 2}, {0, 0, 0, 0}), Ints32({}, {9})}),
                "constant_values");
}

TEST(ArrayOpsTest, GatherV2) {
  const auto node = NodeBuilder("GatherV2").Build();
  // axis 1 picks columns 2 and 0 of each row: [[3,1],[6,4]].
  ExpectFloats(RunOk(node, {M23(), Ints32({2}, {2, 0}), Ints32({}, {1})}), {2, 2},
               {3, 1, 6, 4});
  // axis -1 is the same as axis 1.
  ExpectFloats(RunOk(node, {M23(), Ints64({1}, {1}), Ints64({}, {-1})}), {2, 1}, {2, 5});
  // axis 0 with indices [[1],[0]]: shape [2,1] + [3] -> rows swapped.
  ExpectFloats(RunOk(node, {M23(), Ints32({2, 1}, {1, 0}), Ints32({}, {0})}), {2, 1, 3},
               {4, 5, 6, 1, 2, 3});
  ExpectInvalid(RunStatus(node, {M23(), Ints32({2}, {0, 3}), Ints32({}, {1})}),
                "indices[1] = 3 is not in [0, 3)");
  ExpectInvalid(RunStatus(node, {M23(), Ints32({1}, {-1}), Ints32({}, {0})}),
                "indices[0] = -1");
  ExpectInvalid(RunStatus(node, {M23(), Ints32({1}, {0}), Ints32({}, {2})}), "out of range");
  EXPECT_EQ(RunStatus(NodeBuilder("GatherV2").Int("batch_dims", 1).Build(),
                      {M23(), Ints32({1}, {0}), Ints32({}, {1})})
                .code(),
            absl::StatusCode::kUnimplemented);
  ExpectFloats(RunOk(NodeBuilder("Gather").Build(), {M23(), Ints32({}, {1})}), {3}, {4, 5, 6});
  Tensor s = RunOk(node, {Strings({3}, {"a", "b", "c"}), Ints32({2}, {2, 2}), Ints32({}, {0})});
  EXPECT_EQ(s.strings(), (std::vector<std::string>{"c", "c"}));
}

TEST(ArrayOpsTest, Select) {
  const auto node = NodeBuilder("Select").Build();
  const Tensor t = M23(), e = Floats({2, 3}, {-1, -2, -3, -4, -5, -6});
  ExpectFloats(RunOk(node, {Bools({2, 3}, {1, 0, 1, 0, 1, 0}), t, e}), {2, 3},
               {1, -2, 3, -4, 5, -6});
  // A vector condition picks whole rows: row 0 from e, row 1 from t.
  ExpectFloats(RunOk(node, {Bools({2}, {0, 1}), t, e}), {2, 3}, {-1, -2, -3, 4, 5, 6});
  EXPECT_EQ(RunOk(node, {Bools({}, {1}), t, e}).raw_data(), t.raw_data());
  ExpectInvalid(RunStatus(node, {Bools({3}, {1, 1, 1}), t, e}), "condition");
  ExpectInvalid(RunStatus(node, {Floats({2}, {1, 1}), t, e}), "DT_BOOL");
}

TEST(ArrayOpsTest, SelectV2Broadcasts) {
  const auto node = NodeBuilder("SelectV2").Build();
  // cond [2,1], t [1,3], e scalar -> [2,3]: row 0 = t, row 1 = 9s.
  ExpectFloats(RunOk(node, {Bools({2, 1}, {1, 0}), Floats({1, 3}, {1, 2, 3}), Floats({}, {9})}),
               {2, 3}, {1, 2, 3, 9, 9, 9});
  // cond [3] broadcast over rows of t [2,3] and e [2,1].
  ExpectFloats(RunOk(node, {Bools({3}, {0, 1, 0}), M23(), Floats({2, 1}, {7, 8})}), {2, 3},
               {7, 2, 7, 8, 5, 8});
  ExpectInvalid(RunStatus(node, {Bools({2}, {1, 0}), M23(), Floats({}, {9})}),
                "do not broadcast");
}

TEST(ArrayOpsTest, Tile) {
  ExpectFloats(RunOk(NodeBuilder("Tile").Build(), {Floats({2}, {1, 2}), Ints32({1}, {3})}),
               {6}, {1, 2, 1, 2, 1, 2});
  const Tensor x = Floats({2, 2}, {1, 2, 3, 4});
  // [2,1]: the block twice downwards; [1,2]: each row twice sideways.
  ExpectFloats(RunOk(NodeBuilder("Tile").Build(), {x, Ints64({2}, {2, 1})}), {4, 2},
               {1, 2, 3, 4, 1, 2, 3, 4});
  ExpectFloats(RunOk(NodeBuilder("Tile").Build(), {x, Ints32({2}, {1, 2})}), {2, 4},
               {1, 2, 1, 2, 3, 4, 3, 4});
  ExpectFloats(RunOk(NodeBuilder("Tile").Build(), {x, Ints32({2}, {0, 2})}), {0, 4}, {});
  ExpectInvalid(RunStatus(NodeBuilder("Tile").Build(), {x, Ints32({2}, {1, -1})}),
                "multiples[1]");
}

TEST(ArrayOpsTest, MirrorPad) {
  const Tensor x = Floats({3}, {1, 2, 3});
  const auto ints = Ints32({1, 2}, {2, 1});
  // REFLECT excludes the edge: 3 2 | 1 2 3 | 2.
  ExpectFloats(RunOk(NodeBuilder("MirrorPad").Str("mode", "REFLECT").Build(), {x, ints}), {6},
               {3, 2, 1, 2, 3, 2});
  // SYMMETRIC repeats it: 2 1 | 1 2 3 | 3.
  ExpectFloats(RunOk(NodeBuilder("MirrorPad").Str("mode", "SYMMETRIC").Build(), {x, ints}),
               {6}, {2, 1, 1, 2, 3, 3});
  // 2-D SYMMETRIC, one row before and one column after: [[1,2,2],[1,2,2],[3,4,4]].
  ExpectFloats(RunOk(NodeBuilder("MirrorPad").Str("mode", "SYMMETRIC").Build(),
                     {Floats({2, 2}, {1, 2, 3, 4}), Ints64({2, 2}, {1, 0, 0, 1})}),
               {3, 3}, {1, 2, 2, 1, 2, 2, 3, 4, 4});
  // REFLECT allows at most dim - 1 = 2.
  ExpectInvalid(RunStatus(NodeBuilder("MirrorPad").Str("mode", "REFLECT").Build(),
                          {x, Ints32({1, 2}, {3, 0})}),
                "at most 2");
  EXPECT_EQ(RunStatus(NodeBuilder("MirrorPad").Str("mode", "EDGE").Build(), {x, ints}).code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ArrayOpsTest, Where) {
  // Non-zero at (0,1), (1,0), (1,2); -0.0 counts as zero, NaN as non-zero.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ExpectValues<int64_t>(RunOk(NodeBuilder("Where").Build(),
                              {Floats({2, 3}, {0, 5, -0.0f, -1, 0, nan})}),
                        DT_INT64, {3, 2}, {0, 1, 1, 0, 1, 2});
  ExpectValues<int64_t>(RunOk(NodeBuilder("Where").Build(), {Bools({4}, {0, 1, 1, 0})}),
                        DT_INT64, {2, 1}, {1, 2});
  ExpectValues<int64_t>(RunOk(NodeBuilder("Where").Build(), {Ints32({2}, {0, 0})}), DT_INT64,
                        {0, 1}, {});
  ExpectInvalid(RunStatus(NodeBuilder("Where").Build(), {Strings({1}, {"a"})}), "unsupported");
}

TEST(ArrayOpsTest, ShapeOpsOnStrings) {
  const Tensor s = Strings({1, 2}, {"u", "v"});
  Tensor sq = RunOk(NodeBuilder("Squeeze").Build(), {s});
  ASSERT_EQ(sq.shape(), TensorShape({2}));
  EXPECT_EQ(sq.strings(), (std::vector<std::string>{"u", "v"}));
  Tensor ex = RunOk(NodeBuilder("ExpandDims").Build(), {s, Ints32({}, {2})});
  ASSERT_EQ(ex.shape(), TensorShape({1, 2, 1}));
  EXPECT_EQ(ex.strings(), (std::vector<std::string>{"u", "v"}));
  auto parts = RunKernel(NodeBuilder("Unpack").Int("num", 2).Int("axis", -1).Build(), {s}, 2);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ((*parts)[1].strings(), std::vector<std::string>{"v"});
  Tensor tr = RunOk(NodeBuilder("Transpose").Build(), {s, Ints32({2}, {1, 0})});
  ASSERT_EQ(tr.shape(), TensorShape({2, 1}));
  EXPECT_EQ(tr.strings(), (std::vector<std::string>{"u", "v"}));
  Tensor fill = RunOk(NodeBuilder("Fill").Build(), {Ints32({1}, {2}), Strings({}, {"w"})});
  EXPECT_EQ(fill.strings(), (std::vector<std::string>{"w", "w"}));
}

}  // namespace
}  // namespace swapserve::testing
