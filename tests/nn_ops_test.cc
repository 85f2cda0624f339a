// Tests for the neural-network kernels (nn_ops.cc, conv_ops.cc, pool_ops.cc).
// Every expected value is worked out by hand from TensorFlow's definitions; the
// comment next to it shows the arithmetic.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernel_test_util.h"

namespace swapserve {
namespace {

using ::swapserve::testing::Floats;
using ::swapserve::testing::Ints32;
using ::swapserve::testing::NodeBuilder;
using ::swapserve::testing::RunKernel;
using ::tensorflow::DT_FLOAT;

// Runs a single-output node that is expected to succeed.
Tensor RunOk(const NodeBuilder& node, std::vector<Tensor> inputs) {
  absl::StatusOr<std::vector<Tensor>> out =
      RunKernel(node.Build(), std::move(inputs));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

void Expect(const Tensor& t, TensorShape shape, std::vector<float> want) {
  ::swapserve::testing::ExpectFloats(t, shape, std::move(want));
}

// Runs a node that is expected to fail with `code`; the message must name it.
void ExpectError(const NodeBuilder& node, std::vector<Tensor> inputs,
                 absl::StatusCode code, int num_outputs = 1) {
  absl::StatusOr<std::vector<Tensor>> out =
      RunKernel(node.Build(), std::move(inputs), num_outputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), code) << out.status();
  EXPECT_NE(out.status().message().find(node.Build().name()), std::string::npos)
      << out.status();
}

Tensor Iota(TensorShape shape, float first = 1.0f) {  // first, first + 1, ...
  std::vector<float> v(shape.num_elements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = first + static_cast<float>(i);
  return Floats(shape, v);
}

NodeBuilder Unary(const std::string& op) {
  NodeBuilder b(op, "act");
  b.T();
  return b;
}

// ---- Activations ------------------------------------------------------------

TEST(ActivationTest, ReluAndRelu6) {
  Expect(RunOk(Unary("Relu"), {Floats({3}, {-1, 0, 2})}), {3}, {0, 0, 2});
  // Clipped to [0, 6].
  Expect(RunOk(Unary("Relu6"), {Floats({5}, {-3, 0, 3, 6, 8})}), {5},
         {0, 0, 3, 6, 6});
}

TEST(ActivationTest, EluAndSelu) {
  // elu(-1) = e^-1 - 1 = 0.3678794 - 1.
  Expect(RunOk(Unary("Elu"), {Floats({3}, {-1, 0, 2})}), {3},
         {-0.6321206f, 0, 2});
  // selu(x) = 1.0507010 * x for x >= 0, 1.0507010 * 1.6732632 * (e^x - 1)
  // below: 1.7580993 * -0.6321206 = -1.1113307; 2 * 1.0507010 = 2.1014020.
  Expect(RunOk(Unary("Selu"), {Floats({3}, {-1, 0, 2})}), {3},
         {-1.1113307f, 0, 2.1014020f});
}

TEST(ActivationTest, LeakyReluDefaultAndExplicitAlpha) {
  // Default alpha 0.2: -1 * 0.2.
  Expect(RunOk(Unary("LeakyRelu"), {Floats({3}, {-1, 0, 2})}), {3},
         {-0.2f, 0, 2});
  // alpha 0.1: -5 * 0.1.
  Expect(RunOk(Unary("LeakyRelu").Float("alpha", 0.1f), {Floats({2}, {-5, 3})}),
         {2}, {-0.5f, 3});
}

TEST(ActivationTest, SigmoidAndTanh) {
  const float ln3 = std::log(3.0f), ln2 = std::log(2.0f);
  // sigmoid(ln 3) = 1 / (1 + 1/3) = 0.75; sigmoid(-ln 3) = 0.25; saturates at
  // +-100.
  Expect(RunOk(Unary("Sigmoid"), {Floats({5}, {-100, -ln3, 0, ln3, 100})}), {5},
         {0, 0.25f, 0.5f, 0.75f, 1});
  // tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 0.6.
  Expect(RunOk(Unary("Tanh"), {Floats({3}, {-ln2, 0, ln2})}), {3},
         {-0.6f, 0, 0.6f});
}

TEST(ActivationTest, SoftplusAndSoftsign) {
  const float ln3 = std::log(3.0f);
  // log(1 + e^x): log(4/3) = 0.2876821, log 2 = 0.6931472, log 4 = 1.3862944;
  // for x = 100 it is 100 (no overflow), for x = -100 it is ~e^-100 = 0.
  Expect(RunOk(Unary("Softplus"), {Floats({5}, {-100, -ln3, 0, ln3, 100})}),
         {5}, {0, 0.2876821f, 0.6931472f, 1.3862944f, 100});
  // x / (1 + |x|): -3/4, 0, 1/2.
  Expect(RunOk(Unary("Softsign"), {Floats({3}, {-3, 0, 1})}), {3},
         {-0.75f, 0, 0.5f});
}

TEST(ActivationTest, RejectsNonFloat) {
  ExpectError(Unary("Relu"), {Ints32({2}, {1, 2})},
              absl::StatusCode::kInvalidArgument);
  NodeBuilder int_relu("Relu", "act");
  int_relu.T(tensorflow::DT_INT32);
  ExpectError(int_relu, {Floats({1}, {1})}, absl::StatusCode::kUnimplemented);
}

// ---- BiasAdd ----------------------------------------------------------------

TEST(BiasAddTest, AddsAlongLastAxis) {
  // [[1,2,3],[4,5,6]] + [10,20,30].
  for (const char* op : {"BiasAdd", "BiasAddV1"}) {
    Expect(RunOk(Unary(op), {Iota({2, 3}), Floats({3}, {10, 20, 30})}), {2, 3},
           {11, 22, 33, 14, 25, 36});
  }
}

TEST(BiasAddTest, Errors) {
  ExpectError(Unary("BiasAdd").Str("data_format", "NCHW"),
              {Iota({2, 3}), Floats({3}, {1, 2, 3})},
              absl::StatusCode::kUnimplemented);
  ExpectError(Unary("BiasAdd"), {Iota({2, 3}), Floats({2}, {1, 2})},
              absl::StatusCode::kInvalidArgument);
  ExpectError(
      Unary("BiasAdd"), {Iota({3}), Floats({3}, {1, 2, 3})},
      absl::StatusCode::kInvalidArgument);  // value must be at least 2-D
}

// ---- Softmax ----------------------------------------------------------------

TEST(SoftmaxTest, KnownValuesAndRowsSumToOne) {
  const float ln2 = std::log(2.0f);
  // [0, ln 2] -> [1, 2] / 3; [1, 1] -> [1/2, 1/2];
  // [1000, 1001] -> [1, e] / (1 + e) = [1, 2.7182818] / 3.7182818
  //   = [0.2689414, 0.7310586] (exp(1000) would overflow without the max);
  // [0, 1, 2] -> [1, e, e^2] / (1 + e + e^2) = [1, 2.7182818, 7.3890561]
  // / 11.1073379.
  Tensor y =
      RunOk(Unary("Softmax"), {Floats({3, 2}, {0, ln2, 1, 1, 1000, 1001})});
  Expect(y, {3, 2}, {1.0f / 3, 2.0f / 3, 0.5f, 0.5f, 0.2689414f, 0.7310586f});
  Expect(RunOk(Unary("Softmax"), {Floats({3}, {0, 1, 2})}), {3},
         {0.0900306f, 0.2447285f, 0.6652410f});
  for (int r = 0; r < 3; ++r) {
    EXPECT_NEAR(y.data<float>()[2 * r] + y.data<float>()[2 * r + 1], 1.0f,
                1e-6f);
  }
}

TEST(SoftmaxTest, LogSoftmax) {
  const float ln2 = std::log(2.0f);
  // [0, ln 2]: log(1/3) = -1.0986123, log(2/3) = -0.4054651.
  // [-1000, -999]: x - max - log(1 + e^-1) with log(1.3678794) = 0.3132617
  // -> [-1.3132617, -0.3132617] (exp(-1000) alone would underflow to 0).
  Expect(RunOk(Unary("LogSoftmax"), {Floats({2, 2}, {0, ln2, -1000, -999})}),
         {2, 2}, {-1.0986123f, -0.4054651f, -1.3132617f, -0.3132617f});
}

TEST(SoftmaxTest, EmptyLastAxis) {
  Expect(RunOk(Unary("Softmax"), {Floats({2, 0}, {})}), {2, 0}, {});
}

TEST(SoftmaxTest, RejectsScalar) {
  ExpectError(Unary("Softmax"), {Floats({}, {1})},
              absl::StatusCode::kInvalidArgument);
}

// ---- Conv2D -----------------------------------------------------------------

NodeBuilder Conv(const std::string& op, const std::string& padding,
                 std::initializer_list<int64_t> strides = {1, 1, 1, 1}) {
  NodeBuilder b(op, "conv1");
  b.T().Str("padding", padding).Ints("strides", strides);
  return b;
}

// Input 3x3 of 1..9 (one channel); filter 2x2 HWIO [[1,2],[3,4]].
TEST(Conv2DTest, Valid) {
  // (0,0) = 1*1 + 2*2 + 4*3 + 5*4 = 37, (0,1) = 2 + 6 + 15 + 24 = 47,
  // (1,0) = 4 + 10 + 21 + 32 = 67,      (1,1) = 5 + 12 + 24 + 36 = 77.
  Expect(
      RunOk(Conv("Conv2D", "VALID"), {Iota({1, 3, 3, 1}), Iota({2, 2, 1, 1})}),
      {1, 2, 2, 1}, {37, 47, 67, 77});
}

TEST(Conv2DTest, Same) {
  // out 3x3; pad_total = (3-1)*1 + 2 - 3 = 1: 0 before, 1 after (bottom/right).
  // (0,2) = 3*1 + 6*3 = 21, (1,2) = 6*1 + 9*3 = 33, (2,0) = 7*1 + 8*2 = 23,
  // (2,1) = 8*1 + 9*2 = 26, (2,2) = 9*1.
  Expect(
      RunOk(Conv("Conv2D", "SAME"), {Iota({1, 3, 3, 1}), Iota({2, 2, 1, 1})}),
      {1, 3, 3, 1}, {37, 47, 21, 67, 77, 33, 23, 26, 9});
}

TEST(Conv2DTest, SameStride2) {
  // Input 4x4 of 1..16, 3x3 filter of ones, stride 2: out = ceil(4/2) = 2,
  // pad_total = (2-1)*2 + 3 - 4 = 1, so 0 rows/cols before and 1 after. Windows
  // cover rows/cols {0,1,2} and {2,3}:
  // (0,0) = 1+2+3+5+6+7+9+10+11 = 54, (0,1) = 3+4+7+8+11+12 = 45,
  // (1,0) = 9+10+11+13+14+15 = 72,    (1,1) = 11+12+15+16 = 54.
  Tensor ones = Floats({3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  Expect(
      RunOk(Conv("Conv2D", "SAME", {1, 2, 2, 1}), {Iota({1, 4, 4, 1}), ones}),
      {1, 2, 2, 1}, {54, 45, 72, 54});
}

TEST(Conv2DTest, Dilation2) {
  // Input 4x4 of 1..16, filter [[1,2],[3,4]] dilated by 2 (effective 3x3),
  // VALID: (0,0) = 1*1 + 3*2 + 9*3 + 11*4 = 78,  (0,1) = 2 + 8 + 30 + 48 = 88,
  // (1,0) = 5 + 14 + 39 + 60 = 118,       (1,1) = 6 + 16 + 42 + 64 = 128.
  Expect(RunOk(Conv("Conv2D", "VALID").Ints("dilations", {1, 2, 2, 1}),
               {Iota({1, 4, 4, 1}), Iota({2, 2, 1, 1})}),
         {1, 2, 2, 1}, {78, 88, 118, 128});
}

TEST(Conv2DTest, MultipleChannelsAndBatch) {
  // 1x1 filter [[1,2,3],[4,5,6]] (in 2, out 3) on two images [1,2] and [3,4]:
  // [1*1+2*4, 1*2+2*5, 1*3+2*6] = [9,12,15]; [3+16, 6+20, 9+24] = [19,26,33].
  Expect(
      RunOk(Conv("Conv2D", "VALID"), {Iota({2, 1, 1, 2}), Iota({1, 1, 2, 3})}),
      {2, 1, 1, 3}, {9, 12, 15, 19, 26, 33});
  // One row of pixels [1,2], [3,4]; 1x2 filter, 2 in, 2 out, HWIO values 1..8
  // (kw0: in0 [1,2], in1 [3,4]; kw1: in0 [5,6], in1 [7,8]):
  // out0 = 1*1 + 2*3 + 3*5 + 4*7 = 50, out1 = 1*2 + 2*4 + 3*6 + 4*8 = 60.
  Expect(
      RunOk(Conv("Conv2D", "VALID"), {Iota({1, 1, 2, 2}), Iota({1, 2, 2, 2})}),
      {1, 1, 1, 2}, {50, 60});
}

TEST(Conv2DTest, ExplicitPadding) {
  // Input [[1,2],[3,4]], one zero row on top, one zero column on the right:
  //   0 0 0 / 1 2 0 / 3 4 0, filter [[1,2],[3,4]], out (2+1-2+1) x (2+1-2+1):
  // (0,0) = 1*3 + 2*4 = 11, (0,1) = 2*3 = 6, (1,0) = 1+4+9+16 = 30, (1,1) =
  // 2+12 = 14.
  Expect(RunOk(Conv("Conv2D", "EXPLICIT")
                   .Ints("explicit_paddings", {0, 0, 1, 0, 0, 1, 0, 0}),
               {Iota({1, 2, 2, 1}), Iota({2, 2, 1, 1})}),
         {1, 2, 2, 1}, {11, 6, 30, 14});
}

TEST(Conv2DTest, AttributeErrors) {
  const Tensor in = Iota({1, 3, 3, 1});
  const Tensor f = Iota({2, 2, 1, 1});
  const auto kUnimplemented = absl::StatusCode::kUnimplemented;
  ExpectError(Conv("Conv2D", "VALID").Str("data_format", "NCHW"), {in, f},
              kUnimplemented);
  ExpectError(Conv("Conv2D", "VALID", {2, 1, 1, 1}), {in, f}, kUnimplemented);
  ExpectError(Conv("Conv2D", "VALID", {1, 1, 1}), {in, f},
              absl::StatusCode::kInvalidArgument);
  ExpectError(Conv("Conv2D", "VALID", {1, 0, 1, 1}), {in, f},
              absl::StatusCode::kInvalidArgument);
  ExpectError(Conv("Conv2D", "SOMETIMES"), {in, f}, kUnimplemented);
  ExpectError(
      Conv("Conv2D", "EXPLICIT").Ints("explicit_paddings", {0, 0, 1, 1}),
      {in, f}, absl::StatusCode::kInvalidArgument);
  ExpectError(Conv("Conv2D", "EXPLICIT")
                  .Ints("explicit_paddings", {1, 0, 0, 0, 0, 0, 0, 0}),
              {in, f}, kUnimplemented);
}

TEST(Conv2DTest, InputErrors) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const NodeBuilder conv = Conv("Conv2D", "VALID");
  // Input depth 2, filter in-depth 3.
  ExpectError(conv, {Iota({1, 3, 3, 2}), Iota({2, 2, 3, 1})}, kInvalid);
  // Input depth 4, filter in-depth 2: a grouped convolution, not supported.
  ExpectError(conv, {Iota({1, 3, 3, 4}), Iota({2, 2, 2, 1})},
              absl::StatusCode::kUnimplemented);
  // Input rank 3, filter rank 3.
  ExpectError(conv, {Iota({3, 3, 1}), Iota({2, 2, 1, 1})}, kInvalid);
  ExpectError(conv, {Iota({1, 3, 3, 1}), Iota({2, 2, 1})}, kInvalid);
  // VALID output size (1 - 3 + 1) / 1 < 0.
  ExpectError(conv, {Iota({1, 1, 1, 1}), Iota({3, 3, 1, 1})}, kInvalid);
  // One input; an int32 input.
  ExpectError(conv, {Iota({1, 3, 3, 1})}, kInvalid);
  ExpectError(conv, {Ints32({1, 1, 1, 1}, {1}), Iota({1, 1, 1, 1})}, kInvalid);
}

TEST(Conv2DTest, EmptyAndHostileShapes) {
  // No images: output [0, 3-2+1, 3-2+1, 1].
  Expect(RunOk(Conv("Conv2D", "VALID"),
               {Floats({0, 3, 3, 1}, {}), Iota({2, 2, 1, 1})}),
         {0, 2, 2, 1}, {});
  // No input channels: every output is an empty sum, 0.
  Expect(RunOk(Conv("Conv2D", "VALID"),
               {Floats({1, 2, 2, 0}, {}), Floats({1, 1, 0, 2}, {})}),
         {1, 2, 2, 2}, {0, 0, 0, 0, 0, 0, 0, 0});
  // Zero-element tensors with enormous dimensions must not overflow.
  const int64_t huge = int64_t{1} << 62;
  Expect(RunOk(Conv("Conv2D", "VALID"),
               {Floats({0, 1, 1, huge}, {}), Floats({1, 1, huge, 0}, {})}),
         {0, 1, 1, 0}, {});
  ExpectError(
      Conv("Conv2D", "VALID").Ints("dilations", {1, int64_t{1} << 40, 1, 1}),
      {Iota({1, 3, 3, 1}), Iota({2, 2, 1, 1})},
      absl::StatusCode::kInvalidArgument);
}

// ---- DepthwiseConv2dNative --------------------------------------------------

TEST(DepthwiseConvTest, Multiplier2) {
  // Pixels [1,2], [3,4]; filter [1,2,2,2] = kw0: c0 [1,2], c1 [3,4];
  // kw1: c0 [5,6], c1 [7,8]. Output channel c*2 + m:
  // c0m0 = 1*1 + 3*5 = 16, c0m1 = 1*2 + 3*6 = 20,
  // c1m0 = 2*3 + 4*7 = 34, c1m1 = 2*4 + 4*8 = 40.
  Expect(RunOk(Conv("DepthwiseConv2dNative", "VALID"),
               {Iota({1, 1, 2, 2}), Iota({1, 2, 2, 2})}),
         {1, 1, 1, 4}, {16, 20, 34, 40});
}

TEST(DepthwiseConvTest, SameAndStride) {
  // Row [1,2,3], filter [1,1,1], SAME: pad 1 each side -> [0+1+2, 1+2+3,
  // 2+3+0].
  Tensor ones = Floats({1, 3, 1, 1}, {1, 1, 1});
  Expect(
      RunOk(Conv("DepthwiseConv2dNative", "SAME"), {Iota({1, 1, 3, 1}), ones}),
      {1, 1, 3, 1}, {3, 6, 5});
  // Stride 2: out = ceil(3/2) = 2, pad_total = (2-1)*2 + 3 - 3 = 2 -> 1 before:
  // windows {-1,0,1} and {1,2,3} -> [0+1+2, 2+3+0].
  Expect(RunOk(Conv("DepthwiseConv2dNative", "SAME", {1, 2, 2, 1}),
               {Iota({1, 1, 3, 1}), ones}),
         {1, 1, 2, 1}, {3, 5});
}

TEST(DepthwiseConvTest, ChannelMismatch) {
  ExpectError(Conv("DepthwiseConv2dNative", "VALID"),
              {Iota({1, 2, 2, 3}), Iota({1, 1, 2, 2})},
              absl::StatusCode::kInvalidArgument);
}

// ---- Pooling ----------------------------------------------------------------

NodeBuilder Pool(const std::string& op, const std::string& padding,
                 std::initializer_list<int64_t> ksize,
                 std::initializer_list<int64_t> strides) {
  NodeBuilder b(op, "pool1");
  b.T().Str("padding", padding).Ints("ksize", ksize).Ints("strides", strides);
  return b;
}

TEST(PoolTest, ValidStride2) {
  // 4x4 of 1..16 in 2x2 blocks: {1,2,5,6}, {3,4,7,8}, {9,10,13,14},
  // {11,12,15,16}.
  Expect(RunOk(Pool("MaxPool", "VALID", {1, 2, 2, 1}, {1, 2, 2, 1}),
               {Iota({1, 4, 4, 1})}),
         {1, 2, 2, 1}, {6, 8, 14, 16});
  // Means: 14/4, 22/4, 46/4, 54/4.
  Expect(RunOk(Pool("AvgPool", "VALID", {1, 2, 2, 1}, {1, 2, 2, 1}),
               {Iota({1, 4, 4, 1})}),
         {1, 2, 2, 1}, {3.5f, 5.5f, 11.5f, 13.5f});
}

TEST(PoolTest, MaxPoolSameIgnoresPadding) {
  // 3x3 of -1..-9, 2x2 window, stride 2: pad_total = (2-1)*2 + 2 - 3 = 1
  // (after). Windows {-1,-2,-4,-5}, {-3,-6}, {-7,-8}, {-9}; a zero pad would
  // win each max.
  Expect(RunOk(Pool("MaxPool", "SAME", {1, 2, 2, 1}, {1, 2, 2, 1}),
               {Floats({1, 3, 3, 1}, {-1, -2, -3, -4, -5, -6, -7, -8, -9})}),
         {1, 2, 2, 1}, {-1, -3, -7, -9});
}

TEST(PoolTest, AvgPoolSameDividesByRealElements) {
  // 3x3 of 1..9, 3x3 window, stride 1, one pad on each side. Corners average 4
  // inputs, edges 6, the centre 9: (1+2+4+5)/4 = 3, (1+..+6)/6 = 3.5,
  // (2+3+5+6)/4 = 4, (1+2+4+5+7+8)/6 = 4.5, 45/9 = 5, (2+3+5+6+8+9)/6 = 5.5,
  // (4+5+7+8)/4 = 6, (4+..+9)/6 = 6.5, (5+6+8+9)/4 = 7.
  Expect(RunOk(Pool("AvgPool", "SAME", {1, 3, 3, 1}, {1, 1, 1, 1}),
               {Iota({1, 3, 3, 1})}),
         {1, 3, 3, 1}, {3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7});
}

TEST(PoolTest, ChannelsPoolIndependently) {
  // Pixels [1,-1], [2,-2], [3,-3], [4,-4]: max [4, -1], mean [2.5, -2.5].
  Tensor in = Floats({1, 2, 2, 2}, {1, -1, 2, -2, 3, -3, 4, -4});
  Expect(RunOk(Pool("MaxPool", "VALID", {1, 2, 2, 1}, {1, 1, 1, 1}), {in}),
         {1, 1, 1, 2}, {4, -1});
  Expect(RunOk(Pool("AvgPool", "VALID", {1, 2, 2, 1}, {1, 1, 1, 1}), {in}),
         {1, 1, 1, 2}, {2.5f, -2.5f});
}

// TensorFlow's pooling by definition, for SAME padding with a k x k window and
// stride `stride`: padded positions are not part of a window.
std::vector<float> NaivePool(const Tensor& x, bool max, int64_t k, int64_t stride) {
  const int64_t n = x.shape().dim(0), h = x.shape().dim(1), w = x.shape().dim(2),
                c = x.shape().dim(3);
  const int64_t oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
  const int64_t pad_h = std::max<int64_t>((oh - 1) * stride + k - h, 0) / 2;
  const int64_t pad_w = std::max<int64_t>((ow - 1) * stride + k - w, 0) / 2;
  std::vector<float> out;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t z = 0; z < ow; ++z)
        for (int64_t d = 0; d < c; ++d) {
          float m = -1e30f, sum = 0;
          int count = 0;
          for (int64_t i = y * stride - pad_h; i < y * stride - pad_h + k; ++i)
            for (int64_t j = z * stride - pad_w; j < z * stride - pad_w + k; ++j) {
              if (i < 0 || i >= h || j < 0 || j >= w) continue;
              const float v = x.data<float>()[((b * h + i) * w + j) * c + d];
              m = std::max(m, v);
              sum += v;
              ++count;
            }
          out.push_back(max ? m : sum / static_cast<float>(count));
        }
  return out;
}

TEST(PoolTest, ManyChannelsMatchTheDefinition) {
  // 35 channels: four blocks of 8 and 3 single channels; SAME 3x3 windows with
  // stride 2 on 5x5 clip at every border. Values go up and down (i * 37 mod 101).
  std::vector<float> v(2 * 5 * 5 * 35);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 101) - 50.0f;
  const Tensor in = Floats({2, 5, 5, 35}, v);
  for (bool max : {true, false}) {
    const Tensor out = RunOk(
        Pool(max ? "MaxPool" : "AvgPool", "SAME", {1, 3, 3, 1}, {1, 2, 2, 1}), {in});
    Expect(out, {2, 3, 3, 35}, NaivePool(in, max, 3, 2));
  }
}

TEST(PoolTest, Errors) {
  const Tensor in = Iota({1, 2, 2, 1});
  const auto kUnimplemented = absl::StatusCode::kUnimplemented;
  ExpectError(Pool("MaxPool", "VALID", {1, 1, 1, 2}, {1, 1, 1, 1}), {in},
              kUnimplemented);
  ExpectError(Pool("MaxPool", "EXPLICIT", {1, 1, 1, 1}, {1, 1, 1, 1}), {in},
              kUnimplemented);
  ExpectError(Pool("AvgPool", "VALID", {1, 1, 1, 1}, {1, 1, 1, 1})
                  .Str("data_format", "NCHW"),
              {in}, kUnimplemented);
  ExpectError(Pool("AvgPool", "VALID", {1, 1, 1, 1}, {1, 1, 1, 1}),
              {Iota({2, 2, 1})}, absl::StatusCode::kInvalidArgument);
  // VALID output size (1 - 3 + 1) / 1 < 0.
  ExpectError(Pool("MaxPool", "VALID", {1, 3, 3, 1}, {1, 1, 1, 1}),
              {Iota({1, 1, 1, 1})}, absl::StatusCode::kInvalidArgument);
}

// ---- FusedBatchNorm ---------------------------------------------------------

NodeBuilder BatchNorm(const std::string& op) {
  NodeBuilder b(op, "bn1");
  b.T().Type("U", DT_FLOAT).Float("epsilon", 0.01f).Bool("is_training", false);
  return b;
}

TEST(FusedBatchNormTest, V3Inference) {
  // Pixels [1,2], [3,4]; scale [2,1], offset [0.5,-1], mean [1,2],
  // variance [3.99, 0.24] + epsilon 0.01 = [4, 0.25] -> rsqrt = [0.5, 2].
  // c0: (x - 1) * 0.5 * 2 + 0.5 -> 0.5, 2.5; c1: (x - 2) * 2 * 1 - 1 -> -1, 3.
  std::vector<Tensor> in = {Iota({1, 1, 2, 2}), Floats({2}, {2, 1}),
                            Floats({2}, {0.5f, -1}), Floats({2}, {1, 2}),
                            Floats({2}, {3.99f, 0.24f})};
  auto out = RunKernel(BatchNorm("FusedBatchNormV3").Build(), in, 6);
  ASSERT_TRUE(out.ok()) << out.status();
  Expect((*out)[0], {1, 1, 2, 2}, {0.5f, -1, 2.5f, 3});
  // The statistics outputs repeat the moving mean and variance.
  Expect((*out)[1], {2}, {1, 2});
  Expect((*out)[2], {2}, {3.99f, 0.24f});
  for (int i = 3; i < 6; ++i) EXPECT_EQ((*out)[i].dtype(), DT_FLOAT) << i;

  for (const char* op : {"FusedBatchNorm", "FusedBatchNormV2"}) {
    auto v1 = RunKernel(BatchNorm(op).Build(), in, 5);
    ASSERT_TRUE(v1.ok()) << v1.status();
    Expect((*v1)[0], {1, 1, 2, 2}, {0.5f, -1, 2.5f, 3});
  }
}

TEST(FusedBatchNormTest, Errors) {
  std::vector<Tensor> in = {Iota({1, 1, 2, 2}), Floats({2}, {2, 1}),
                            Floats({2}, {0.5f, -1}), Floats({2}, {1, 2}),
                            Floats({2}, {4, 0.25f})};
  const auto kUnimplemented = absl::StatusCode::kUnimplemented;
  ExpectError(BatchNorm("FusedBatchNormV3").Bool("is_training", true), in,
              kUnimplemented, 6);
  NodeBuilder no_mode("FusedBatchNormV3",
                      "bn1");  // TF defaults is_training to true
  ExpectError(no_mode.T(), in, kUnimplemented, 6);
  ExpectError(BatchNorm("FusedBatchNormV3").Str("data_format", "NCHW"), in,
              kUnimplemented, 6);
  std::vector<Tensor> bad_scale = in;
  bad_scale[1] = Floats({3}, {1, 2, 3});
  ExpectError(BatchNorm("FusedBatchNormV3"), bad_scale,
              absl::StatusCode::kInvalidArgument, 6);
  std::vector<Tensor> bad_rank = in;
  bad_rank[0] = Iota({2, 2});
  ExpectError(BatchNorm("FusedBatchNormV3"), bad_rank,
              absl::StatusCode::kInvalidArgument, 6);
}

}  // namespace
}  // namespace swapserve
