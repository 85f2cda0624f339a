#include "model/tensor.h"
#include "model/tensor_proto.h"

#include "gtest/gtest.h"

namespace swapserve {
namespace {

TEST(TensorShapeTest, ElementsAndDebugString) {
  TensorShape s{784, 512};
  EXPECT_EQ(s.num_elements(), 784 * 512);
  EXPECT_EQ(s.rank(), 2);
  EXPECT_EQ(s.DebugString(), "[784,512]");
  EXPECT_EQ(TensorShape().num_elements(), 1);  // scalar
  EXPECT_EQ((TensorShape{3, 0, 2}).num_elements(), 0);
}

TEST(TensorShapeTest, RejectsNegativeAndOverflow) {
  EXPECT_FALSE(TensorShape::Make({2, -1}).ok());
  EXPECT_FALSE(TensorShape::Make({INT64_MAX, 2}).ok());
  EXPECT_FALSE(TensorShape::Make({1 << 30, 1 << 30, 1 << 30}).ok());
  EXPECT_TRUE(TensorShape::Make({0, INT64_MAX}).ok());
}

TEST(TensorShapeTest, ProtoRoundTripAndUnknowns) {
  tensorflow::TensorShapeProto proto;
  TensorShape{4, 5}.ToProto(&proto);
  auto back = TensorShape::FromProto(proto);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (TensorShape{4, 5}));
  proto.mutable_dim(0)->set_size(-1);
  EXPECT_FALSE(TensorShape::FromProto(proto).ok());
  proto.Clear();
  proto.set_unknown_rank(true);
  EXPECT_FALSE(TensorShape::FromProto(proto).ok());
}

TEST(TensorTest, AllocateZeroedAndAligned) {
  auto t = Tensor::Allocate(tensorflow::DT_FLOAT, TensorShape{3, 5});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->num_bytes(), 60u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw_data()) % 64, 0u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t->data<float>()[i], 0.0f);
}

TEST(TensorTest, RejectsHostileSizesAndDtypes) {
  EXPECT_FALSE(Tensor::Allocate(tensorflow::DT_DOUBLE,
                                TensorShape{int64_t{1} << 40, 1 << 10})
                   .ok());
  EXPECT_FALSE(Tensor::Allocate(tensorflow::DT_RESOURCE, TensorShape{1}).ok());
  EXPECT_FALSE(Tensor::Allocate(static_cast<DataType>(77), TensorShape{1}).ok());
}

TEST(TensorTest, StringsAndEquality) {
  auto a = Tensor::Allocate(tensorflow::DT_STRING, TensorShape{2});
  ASSERT_TRUE(a.ok());
  a->strings()[0] = "x";
  auto b = Tensor::Allocate(tensorflow::DT_STRING, TensorShape{2});
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(a->Equals(*b));
  b->strings()[0] = "x";
  EXPECT_TRUE(a->Equals(*b));
}

TEST(TensorTest, ReshapedSharesTheBuffer) {
  auto t = Tensor::Allocate(tensorflow::DT_FLOAT, TensorShape{2, 3});
  ASSERT_TRUE(t.ok());
  auto r = t->Reshaped(TensorShape{3, 2});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->raw_data(), t->raw_data());
  EXPECT_EQ(r->shape(), (TensorShape{3, 2}));
  EXPECT_EQ(t->shape(), (TensorShape{2, 3}));
  EXPECT_FALSE(t->Reshaped(TensorShape{4}).ok());
}

TEST(TensorProtoTest, RoundTripAndTfFillRule) {
  tensorflow::TensorProto p;
  p.set_dtype(tensorflow::DT_FLOAT);
  p.mutable_tensor_shape()->add_dim()->set_size(3);
  p.add_float_val(1.5f);  // one value fills all three elements (TF's rule)
  auto t = TensorFromProto(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->data<float>()[2], 1.5f);
  tensorflow::TensorProto back;
  TensorToProto(*t, &back);
  auto again = TensorFromProto(back);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->Equals(*t));
}

TEST(TensorProtoTest, HostileProtosAreErrors) {
  // 15 bytes on the wire asking for 2^35 strings / 2^30 floats.
  tensorflow::TensorProto strings;
  strings.set_dtype(tensorflow::DT_STRING);
  strings.mutable_tensor_shape()->add_dim()->set_size(int64_t{1} << 35);
  EXPECT_EQ(TensorFromProto(strings).status().code(), absl::StatusCode::kInvalidArgument);
  tensorflow::TensorProto floats;
  floats.set_dtype(tensorflow::DT_FLOAT);
  floats.mutable_tensor_shape()->add_dim()->set_size(int64_t{1} << 30);
  floats.add_float_val(1);
  EXPECT_EQ(TensorFromProto(floats).status().code(), absl::StatusCode::kInvalidArgument);
  tensorflow::TensorProto both;
  both.set_dtype(tensorflow::DT_FLOAT);
  both.add_float_val(1);
  both.set_tensor_content(std::string(4, '\0'));
  EXPECT_FALSE(TensorFromProto(both).ok());
  tensorflow::TensorProto short_content;
  short_content.set_dtype(tensorflow::DT_FLOAT);
  short_content.mutable_tensor_shape()->add_dim()->set_size(2);
  short_content.set_tensor_content(std::string(7, '\0'));
  EXPECT_FALSE(TensorFromProto(short_content).ok());
  tensorflow::TensorProto negative;
  negative.set_dtype(tensorflow::DT_FLOAT);
  negative.mutable_tensor_shape()->add_dim()->set_size(-3);
  EXPECT_FALSE(TensorFromProto(negative).ok());
}

TEST(DataTypeTest, NamesAndSizes) {
  EXPECT_EQ(DataTypeName(tensorflow::DT_FLOAT), "DT_FLOAT");
  EXPECT_EQ(DataTypeSize(tensorflow::DT_BFLOAT16), 2u);
  EXPECT_EQ(DataTypeSize(tensorflow::DT_STRING), 0u);
  auto dt = ParseDataType("DT_INT64");
  ASSERT_TRUE(dt.ok());
  EXPECT_EQ(*dt, tensorflow::DT_INT64);
  EXPECT_FALSE(ParseDataType("DT_NOPE").ok());
}

}  // namespace
}  // namespace swapserve
