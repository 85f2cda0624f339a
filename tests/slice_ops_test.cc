// Tests for StridedSlice and Slice (model/ops/slice_ops.cc). Each expectation is
// worked out by hand from the NumPy/TF indexing expression named beside it.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kernel_test_util.h"

namespace swapserve::testing {
namespace {

struct Masks {
  int begin = 0, end = 0, ellipsis = 0, new_axis = 0, shrink = 0;
};

tensorflow::NodeDef StridedSlice(Masks m) {
  return NodeBuilder("StridedSlice")
      .T()
      .Type("Index", tensorflow::DT_INT32)
      .Int("begin_mask", m.begin)
      .Int("end_mask", m.end)
      .Int("ellipsis_mask", m.ellipsis)
      .Int("new_axis_mask", m.new_axis)
      .Int("shrink_axis_mask", m.shrink)
      .Build();
}

Tensor Vec(std::vector<int32_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Ints32({n}, std::move(v));
}

absl::StatusOr<Tensor> Slice(const Tensor& x, Masks m, std::vector<int32_t> begin,
                             std::vector<int32_t> end, std::vector<int32_t> strides) {
  auto out = RunKernel(StridedSlice(m), {x, Vec(begin), Vec(end), Vec(strides)});
  if (!out.ok()) return out.status();
  return (*out)[0];
}

// x[r, c] = 4r + c, shape [3,4].
Tensor X34() {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i);
  return Floats({3, 4}, v);
}

void ExpectSlice(absl::StatusOr<Tensor> t, TensorShape shape, std::vector<float> want) {
  ASSERT_TRUE(t.ok()) << t.status();
  ExpectFloats(*t, shape, want);
}

TEST(StridedSliceTest, ShrinkFirstRow) {
  // x[0]: begin 0, end 1, shrink bit 0 -> row 0, rank drops to 1.
  ExpectSlice(Slice(X34(), {.shrink = 1}, {0}, {1}, {1}), {4}, {0, 1, 2, 3});
  // x[-1]: the last row; end 0 is ignored when shrinking.
  ExpectSlice(Slice(X34(), {.shrink = 1}, {-1}, {0}, {1}), {4}, {8, 9, 10, 11});
}

TEST(StridedSliceTest, KerasShapeIndex) {
  // tf.shape(x)[0] on shape [5,7]: an int32 scalar 5.
  auto out = RunKernel(StridedSlice({.shrink = 1}),
                       {Ints32({2}, {5, 7}), Vec({0}), Vec({1}), Vec({1})});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0].dtype(), tensorflow::DT_INT32);
  ASSERT_EQ((*out)[0].shape(), TensorShape());
  EXPECT_EQ(Values<int32_t>((*out)[0]), std::vector<int32_t>{5});
  // shape[1:] -> [7].
  out = RunKernel(StridedSlice({.end = 1}), {Ints32({2}, {5, 7}), Vec({1}), Vec({0}), Vec({1})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values<int32_t>((*out)[0]), std::vector<int32_t>{7});
}

TEST(StridedSliceTest, AllRowsFromColumnOne) {
  // x[:, 1:]: dim 0 fully masked, dim 1 begins at 1 with end masked.
  ExpectSlice(Slice(X34(), {.begin = 1, .end = 3}, {0, 1}, {0, 0}, {1, 1}), {3, 3},
              {1, 2, 3, 5, 6, 7, 9, 10, 11});
}

TEST(StridedSliceTest, EllipsisThenLastColumn) {
  // x[..., -1]: ellipsis covers dim 0, -1 shrinks dim 1 to column 3.
  ExpectSlice(Slice(X34(), {.ellipsis = 1, .shrink = 2}, {0, -1}, {0, 0}, {1, 1}), {3},
              {3, 7, 11});
}

TEST(StridedSliceTest, EllipsisInTheMiddle) {
  // y[a,b,c] = 6a + 3b + c, shape [2,2,3]; y[0, ..., 1] = y[0, :, 1] = [1, 4].
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i);
  ExpectSlice(Slice(Floats({2, 2, 3}, v), {.ellipsis = 2, .shrink = 5}, {0, 0, 1}, {1, 0, 2},
                    {1, 1, 1}),
              {2}, {1, 4});
}

TEST(StridedSliceTest, NegativeStrideReverses) {
  // x[::-1]: rows 2, 1, 0.
  ExpectSlice(Slice(X34(), {.begin = 1, .end = 1}, {0}, {0}, {-1}), {3, 4},
              {8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3});
  // x[:, ::-2]: columns 3, 1.
  ExpectSlice(Slice(X34(), {.begin = 3, .end = 3}, {0, 0}, {0, 0}, {1, -2}), {3, 2},
              {3, 1, 7, 5, 11, 9});
  // x[:, 3:0:-1]: columns 3, 2, 1 (end 0 exclusive).
  ExpectSlice(Slice(X34(), {.begin = 1, .end = 1}, {0, 3}, {0, 0}, {1, -1}), {3, 3},
              {3, 2, 1, 7, 6, 5, 11, 10, 9});
  // x[1, -1:-5:-1]: row 1 reversed; end -5 wraps to -1, i.e. before column 0.
  ExpectSlice(Slice(X34(), {.shrink = 1}, {1, -1}, {2, -5}, {1, -1}), {4}, {7, 6, 5, 4});
}

TEST(StridedSliceTest, NewAxis) {
  // x[tf.newaxis, 1]: a leading 1, then row 1.
  ExpectSlice(Slice(X34(), {.new_axis = 1, .shrink = 2}, {0, 1}, {0, 2}, {1, 1}), {1, 4},
              {4, 5, 6, 7});
  // x[:, tf.newaxis, 2:]: shape [3,1,2].
  ExpectSlice(Slice(X34(), {.begin = 1, .end = 5, .new_axis = 2}, {0, 0, 2}, {0, 0, 0},
                    {1, 1, 1}),
              {3, 1, 2}, {2, 3, 6, 7, 10, 11});
  // x[..., tf.newaxis]: shape [3,4,1].
  ExpectSlice(Slice(X34(), {.ellipsis = 1, .new_axis = 2}, {0, 0}, {0, 0}, {1, 1}), {3, 4, 1},
              {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
}

TEST(StridedSliceTest, ClampsAndEmpties) {
  // x[1:100]: end clamps to 3.
  ExpectSlice(Slice(X34(), {}, {1}, {100}, {1}), {2, 4}, {4, 5, 6, 7, 8, 9, 10, 11});
  // x[-100:1]: begin clamps to 0.
  ExpectSlice(Slice(X34(), {}, {-100}, {1}, {1}), {1, 4}, {0, 1, 2, 3});
  // x[2:1]: empty.
  ExpectSlice(Slice(X34(), {}, {2}, {1}, {1}), {0, 4}, {});
  // x[0:3:2]: rows 0 and 2.
  ExpectSlice(Slice(X34(), {}, {0}, {3}, {2}), {2, 4}, {0, 1, 2, 3, 8, 9, 10, 11});
}

TEST(StridedSliceTest, Errors) {
  auto expect_invalid = [](absl::StatusOr<Tensor> t, const std::string& fragment) {
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
    EXPECT_NE(t.status().message().find(fragment), std::string::npos) << t.status();
  };
  expect_invalid(Slice(X34(), {.shrink = 1}, {3}, {4}, {1}), "out of bounds");
  expect_invalid(Slice(X34(), {.shrink = 1}, {-4}, {0}, {1}), "out of bounds");
  expect_invalid(Slice(X34(), {}, {0}, {1}, {0}), "non-zero");
  expect_invalid(Slice(X34(), {}, {0, 0, 0}, {1, 1, 1}, {1, 1, 1}), "past the input");
  expect_invalid(Slice(X34(), {.ellipsis = 3}, {0, 0}, {0, 0}, {1, 1}), "ellipsis");
  expect_invalid(Slice(X34(), {.shrink = 1}, {0}, {1}, {-1}), "stride 1");
  auto out = RunKernel(StridedSlice({}), {X34(), Vec({0, 0}), Vec({1}), Vec({1, 1})});
  expect_invalid(out.ok() ? absl::StatusOr<Tensor>((*out)[0]) : out.status(), "lengths");
}

TEST(StridedSliceTest, Strings) {
  auto s = Tensor::Allocate(tensorflow::DT_STRING, {3});
  ASSERT_TRUE(s.ok());
  s->strings() = {"a", "b", "c"};
  auto out = RunKernel(StridedSlice({}), {*s, Vec({2}), Vec({-4}), Vec({-1})});
  ASSERT_TRUE(out.ok()) << out.status();
  // s[2:-4:-1]: end -4 wraps to -1, i.e. before the start -> all three, reversed.
  EXPECT_EQ((*out)[0].strings(), (std::vector<std::string>{"c", "b", "a"}));
}

TEST(SliceTest, BeginAndSize) {
  const auto node = NodeBuilder("Slice").T().Build();
  // Rows 1..2, columns 1..end (size -1).
  auto out = RunKernel(node, {X34(), Vec({1, 1}), Vec({2, -1})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {2, 3}, {5, 6, 7, 9, 10, 11});
  out = RunKernel(node, {X34(), Ints64({2}, {0, 2}), Ints64({2}, {1, 0})});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectFloats((*out)[0], {1, 0}, {});
  for (auto [b, s] : {std::pair<int, int>{2, 2}, {-1, 1}, {0, -2}, {4, -1}}) {
    auto bad = RunKernel(node, {X34(), Vec({b, 0}), Vec({s, 1})});
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << b << "," << s;
  }
  EXPECT_FALSE(RunKernel(node, {X34(), Vec({0}), Vec({1})}).ok());
}

}  // namespace
}  // namespace swapserve::testing
