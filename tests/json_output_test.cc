// Tests of the REST JSON codec's responses (server/rest/json_tensor.h):
// predict outputs in row and columnar form, TF Serving's number, "_bytes" and
// error rules; and classify/regress bodies -> tf.Example requests and results.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "model/tensor.h"
#include "model/tensor_proto.h"
#include "nlohmann/json.hpp"
#include "server/rest/json_tensor.h"

namespace swapserve::server::rest {
namespace {

using tensorflow::TensorProto;
using ::testing::HasSubstr;

TensorProto ParseProto(const std::string& text) {
  TensorProto p;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &p)) << text;
  return p;
}

std::string Encode(const std::map<std::string, std::string>& protos,
                   JsonFormat format) {
  google::protobuf::Map<std::string, TensorProto> outputs;
  for (const auto& [name, text] : protos) outputs[name] = ParseProto(text);
  absl::StatusOr<std::string> json = MakeJsonFromTensors(outputs, format);
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : "";
}

// Equal JSON documents (nlohmann compares numbers by value).
void ExpectJsonEq(const std::string& actual, const std::string& expected) {
  EXPECT_EQ(nlohmann::json::parse(actual), nlohmann::json::parse(expected))
      << "actual: " << actual;
}

// --- Predict responses ---------------------------------------------------

TEST(JsonTensorTest, OutputRowAndColumnar) {
  const std::map<std::string, std::string> single = {{"int_tensor", R"(
      dtype: DT_INT32 tensor_shape { dim { size: 2 } dim { size: 3 } dim { size: 2 } }
      int_val: [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2])"}};
  ExpectJsonEq(
      Encode(single, JsonFormat::kRow),
      R"({"predictions": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]})");
  ExpectJsonEq(
      Encode(single, JsonFormat::kColumnar),
      R"({"outputs": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]})");
  ExpectJsonEq(Encode({{"y",
                        "dtype: DT_FLOAT tensor_shape { dim { size: 3 } } "
                        "float_val: [2.5, 3, 4.5]"}},
                      JsonFormat::kRow),
               R"({"predictions": [2.5, 3.0, 4.5]})");
}

TEST(JsonTensorTest, OutputMultipleNamedTensors) {
  const std::map<std::string, std::string> many = {
      {"int_tensor",
       "dtype: DT_INT32 tensor_shape { dim { size: 2 } dim { size: 2 } } "
       "int_val: [1, 2, 3, 4]"},
      {"str_tensor",
       "dtype: DT_STRING tensor_shape { dim { size: 2 } } "
       "string_val: ['foo', 'bar']"},
      {"double_scalar_tensor",
       "dtype: DT_DOUBLE tensor_shape { dim { size: 2 } } "
       "double_val: [8, 9]"},
      {"str_tensor_bytes",
       "dtype: DT_STRING tensor_shape { dim { size: 2 } dim { size: 1 } } "
       "string_val: ['hello', 'serving']"},
  };
  ExpectJsonEq(Encode(many, JsonFormat::kRow), R"({"predictions": [
      {"double_scalar_tensor": 8.0, "int_tensor": [1, 2], "str_tensor": "foo",
       "str_tensor_bytes": [{"b64": "aGVsbG8="}]},
      {"double_scalar_tensor": 9.0, "int_tensor": [3, 4], "str_tensor": "bar",
       "str_tensor_bytes": [{"b64": "c2VydmluZw=="}]}]})");
  ExpectJsonEq(Encode(many, JsonFormat::kColumnar), R"({"outputs": {
      "double_scalar_tensor": [8.0, 9.0], "int_tensor": [[1, 2], [3, 4]],
      "str_tensor": ["foo", "bar"],
      "str_tensor_bytes": [[{"b64": "aGVsbG8="}], [{"b64": "c2VydmluZw=="}]]}})");
}

TEST(JsonTensorTest, OutputNumbersAsTfServingWritesThem) {
  const std::string json =
      Encode({{"f",
               "dtype: DT_FLOAT tensor_shape { dim { size: 8 } } float_val: "
               "[9000000, 999999, 0.5, 0.0003, 0.00003, 555557.5, 0.1, 3]"}},
             JsonFormat::kColumnar);
  EXPECT_EQ(
      json,
      R"({"outputs":[9e+06,999999.0,0.5,0.0003,3e-05,555557.5,0.1,3.0]})");
  EXPECT_EQ(
      Encode({{"f",
               "dtype: DT_FLOAT tensor_shape { dim { size: 4 } } float_val: "
               "[nan, inf, 3, -inf]"}},
             JsonFormat::kColumnar),
      R"({"outputs":[NaN,Infinity,3.0,-Infinity]})");
  // Shortest digits that round-trip, per dtype.
  EXPECT_EQ(Encode({{"d",
                     "dtype: DT_DOUBLE tensor_shape { dim { size: 2 } } "
                     "double_val: [0.1, 0.30000000000000004]"}},
                   JsonFormat::kColumnar),
            R"({"outputs":[0.1,0.30000000000000004]})");
  EXPECT_EQ(Encode({{"f",
                     "dtype: DT_FLOAT tensor_shape { dim { size: 1 } } "
                     "float_val: 0.123456789"}},
                   JsonFormat::kColumnar),
            R"({"outputs":[0.12345679]})");
  EXPECT_EQ(
      Encode({{"b",
               "dtype: DT_BOOL tensor_shape { dim { size: 2 } } "
               "bool_val: [true, false]"},
              {"i",
               "dtype: DT_INT64 tensor_shape { dim { size: 2 } } "
               "int64_val: [-9223372036854775808, 7]"},
              {"h",
               "dtype: DT_HALF tensor_shape { dim { size: 2 } } "
               "half_val: [15360, 48640]"}},
             JsonFormat::kColumnar),
      R"({"outputs":{"b":[true,false],"h":[1.0,-1.5],"i":[-9223372036854775808,7]}})");
}

TEST(JsonTensorTest, OutputReadsTensorContentAndScalars) {
  Tensor t = *Tensor::Allocate(tensorflow::DT_FLOAT, TensorShape{2, 1});
  t.data<float>()[0] = 2.5f;
  t.data<float>()[1] = -1.0f;
  google::protobuf::Map<std::string, TensorProto> outputs;
  TensorToProto(t, &outputs["y"]);
  EXPECT_EQ(*MakeJsonFromTensors(outputs, JsonFormat::kRow),
            R"({"predictions":[[2.5],[-1.0]]})");
  EXPECT_EQ(
      Encode({{"s", "dtype: DT_INT32 int_val: 4"}}, JsonFormat::kColumnar),
      R"({"outputs":4})");
}

TEST(JsonTensorTest, OutputStringsAreEscapedOrBase64) {
  EXPECT_EQ(Encode({{"s", R"(dtype: DT_STRING tensor_shape { dim { size: 3 } }
                             string_val: ["a\"b\\c\n\001", "\303\251", "\377"])"}},
                   JsonFormat::kColumnar),
            R"({"outputs":["a\"b\\c\n\u0001","é",{"b64":"/w=="}]})");
}

TEST(JsonTensorTest, OutputErrors) {
  google::protobuf::Map<std::string, TensorProto> outputs;
  EXPECT_THAT(
      MakeJsonFromTensors(outputs, JsonFormat::kRow).status().ToString(),
      HasSubstr("empty tensor map"));
  outputs["t"] =
      ParseProto("dtype: DT_COMPLEX64 tensor_shape { dim { size: 1 } }");
  EXPECT_THAT(
      MakeJsonFromTensors(outputs, JsonFormat::kRow).status().ToString(),
      HasSubstr("tensor type: complex64"));
  outputs["t"] = ParseProto("dtype: DT_INT32 int_val: 1");
  EXPECT_THAT(
      MakeJsonFromTensors(outputs, JsonFormat::kRow).status().ToString(),
      HasSubstr("Tensor name: t has no shape information"));
  outputs["t"] = ParseProto(
      "dtype: DT_INT32 tensor_shape { dim { size: 2 } } int_val: [1, 2]");
  outputs["u"] = ParseProto(
      "dtype: DT_INT32 tensor_shape { dim { size: 1 } } int_val: [1]");
  EXPECT_THAT(
      MakeJsonFromTensors(outputs, JsonFormat::kRow).status().ToString(),
      HasSubstr("inconsistent batch size"));
  outputs.erase("u");
  outputs["t"] = ParseProto(
      "dtype: DT_INT32 tensor_shape { dim { size: 1 } } int_val: [1, 2]");
  EXPECT_FALSE(MakeJsonFromTensors(outputs, JsonFormat::kRow).ok());
}

TEST(JsonTensorTest, OutputZeroBatch) {
  EXPECT_EQ(
      Encode(
          {{"a",
            "dtype: DT_INT32 tensor_shape { dim { size: 0 } dim { size: 2 } }"},
           {"b", "dtype: DT_FLOAT tensor_shape { dim { size: 0 } }"}},
          JsonFormat::kRow),
      R"({"predictions":[]})");
}

// --- Classify / regress --------------------------------------------------

using tensorflow::serving::ClassificationRequest;
using tensorflow::serving::RegressionRequest;

template <typename Request>
class ExamplesRequestTest : public ::testing::Test {
 protected:
  absl::Status Fill(const std::string& body, ClassificationRequest* r) {
    return FillClassificationRequestFromJson(body, r);
  }
  absl::Status Fill(const std::string& body, RegressionRequest* r) {
    return FillRegressionRequestFromJson(body, r);
  }
};
using RequestTypes = ::testing::Types<ClassificationRequest, RegressionRequest>;
TYPED_TEST_SUITE(ExamplesRequestTest, RequestTypes);

TYPED_TEST(ExamplesRequestTest, NoContext) {
  TypeParam r;
  ASSERT_TRUE(this->Fill(R"({"examples": [
      {"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20},
      {"names": ["baz"], "ratings": 6.0}]})",
                         &r)
                  .ok());
  TypeParam want;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"(
    input { example_list {
      examples { features {
        feature { key: "names" value { bytes_list { value: ["foo", "bar"] } } }
        feature { key: "ratings" value { float_list { value: [8, 9] } } }
        feature { key: "age" value { int64_list { value: 20 } } } } }
      examples { features {
        feature { key: "names" value { bytes_list { value: "baz" } } }
        feature { key: "ratings" value { float_list { value: 6 } } } } } } })",
                                                            &want));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(r, want))
      << r.DebugString();
}

TYPED_TEST(ExamplesRequestTest, ContextSignatureBase64AndNonFinite) {
  TypeParam r;
  ASSERT_TRUE(this->Fill(R"({"signature_name": "custom_signture",
      "context": {"query": "pizza", "location": ["sfo"]},
      "examples": [
        {"names": ["foo", "bar"], "ratings": [8.0, 9.0, NaN, Infinity], "age": 20},
        {"names": ["baz", {"b64": "aGVsbG8="}], "ratings": 6.0,
         "intboolmix": [1, true, false], "empty": []},
        {"names": "bar", "ratings": -Infinity, "big": 1e3}]})",
                         &r)
                  .ok());
  EXPECT_EQ(r.model_spec().signature_name(), "custom_signture");
  const auto& list = r.input().example_list_with_context();
  EXPECT_EQ(
      list.context().features().feature().at("query").bytes_list().value(0),
      "pizza");
  ASSERT_EQ(list.examples_size(), 3);
  const auto& f0 = list.examples(0).features().feature();
  EXPECT_TRUE(std::isnan(f0.at("ratings").float_list().value(2)));
  EXPECT_EQ(f0.at("ratings").float_list().value(3), INFINITY);
  const auto& f1 = list.examples(1).features().feature();
  EXPECT_THAT(f1.at("names").bytes_list().value(),
              ::testing::ElementsAre("baz", "hello"));
  EXPECT_THAT(f1.at("intboolmix").int64_list().value(),
              ::testing::ElementsAre(1, 1, 0));
  EXPECT_EQ(f1.at("empty").kind_case(), tensorflow::Feature::KIND_NOT_SET);
  const auto& f2 = list.examples(2).features().feature();
  EXPECT_EQ(f2.at("ratings").float_list().value(0), -INFINITY);
  EXPECT_EQ(f2.at("big").float_list().value(0), 1000.0f);  // 1e3 is a decimal.
}

TYPED_TEST(ExamplesRequestTest, Errors) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"signature_name": ["hello"], "examples": [{"names": ["foo"]}]})",
       "'signature_name' key must be a string"},
      {R"({"context": [{"names": ["foo", "bar"]}]})",
       "Example must be JSON object"},
      {R"({"context": {"a": 1}})",
       "key 'examples' is expected and was not found"},
      {R"({"examples": {"names": ["foo", "bar"]}})", "list/array"},
      {R"({"examples": []})", "'examples' value is an empty array"},
      {R"({"examples": [[{"names": ["foo", "bar"]}]]})",
       "Example must be JSON object but got JSON Array"},
      {R"({"examples": [{"names": [10, null]}]})",
       "names has element with unexpected JSON type: Null"},
      {R"({"examples": [{"names": [10, 10.0]}]})",
       "Unexpected element type in feature: names expecting type: int64"},
      {R"({"examples": [{"names": ["a", 1]}]})",
       "feature: names expecting type: bytes"},
      {R"({"examples": [{"names": [10, {"test": 10}]}]})",
       "names has element with unexpected JSON type: Object"},
      {R"({"examples": [{"names": [[10], 20]}]})",
       "names has element with unexpected JSON type: Array"},
      {R"({"examples": [{"names": [20, 18446744073709551603]}]})",
       "Only int64 is supported"},
      {R"({"examples": [{"names": 1.7976931348623157e308}]})",
       "loss of precision"},
      {R"({"examples": [{"names": {"b64": "%%"}}]})",
       "Unable to base64 decode"},
  };
  for (const auto& [body, message] : cases) {
    TypeParam r;
    absl::Status s = this->Fill(body, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_THAT(s.ToString(), HasSubstr(message)) << body;
  }
}

TEST(JsonTensorTest, ClassificationAndRegressionResults) {
  tensorflow::serving::ClassificationResult c;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"(
    classifications { classes { label: "car" score: 0.2 } classes { label: "bike" score: 0.7 }
                      classes { label: "bus" score: 0.1 } }
    classifications { classes { label: "car" score: 0.7 } classes { label: "bike" score: 0.1 }
                      classes { label: "bus" score: 0.2 } })",
                                                            &c));
  EXPECT_EQ(*MakeJsonFromClassificationResult(c),
            R"({"results":[[["car",0.2],["bike",0.7],["bus",0.1]],)"
            R"([["car",0.7],["bike",0.1],["bus",0.2]]]})");
  tensorflow::serving::RegressionResult r;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "regressions { value: 0.2 } regressions { value: inf } regressions { "
      "value: 1 } "
      "regressions { value: -inf } regressions { value: nan }",
      &r));
  EXPECT_EQ(*MakeJsonFromRegressionResult(r),
            R"({"results":[0.2,Infinity,1.0,-Infinity,NaN]})");
  EXPECT_THAT(MakeJsonFromClassificationResult({}).status().ToString(),
              HasSubstr("empty ClassificationResults"));
  EXPECT_THAT(MakeJsonFromRegressionResult({}).status().ToString(),
              HasSubstr("empty RegressionResults"));
}

}  // namespace
}  // namespace swapserve::server::rest
