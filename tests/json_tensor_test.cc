// Tests of the REST JSON codec's predict-request decoding
// (server/rest/json_tensor.h) against TF Serving's documented examples and the
// rules of its util/json_tensor tests, hostile bodies, and the fixtures' inputs
// (a REST body must decode to the TensorProto a gRPC client sends).
#include "server/rest/json_tensor.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "model/tensor.h"
#include "model/tensor_proto.h"
#include "nlohmann/json.hpp"
#include "tests/test_support.h"

namespace swapserve::server::rest {
namespace {

using tensorflow::DataType;
using tensorflow::TensorProto;
using tensorflow::serving::PredictRequest;
using ::testing::HasSubstr;
using Dtypes = std::map<std::string, DataType>;

InputDtypes Fixed(Dtypes dtypes) {
  return
      [dtypes](const std::string&) -> absl::StatusOr<Dtypes> { return dtypes; };
}

// Decodes `body`; fails the test on an error.
PredictRequest Decode(const std::string& body, const Dtypes& dtypes,
                      JsonFormat* format = nullptr) {
  PredictRequest request;
  JsonFormat f;
  absl::Status s =
      FillPredictRequestFromJson(body, Fixed(dtypes), &request, &f);
  EXPECT_TRUE(s.ok()) << s << "\nbody: " << body;
  if (format != nullptr) *format = f;
  return request;
}

absl::Status DecodeError(const std::string& body, const Dtypes& dtypes) {
  PredictRequest request;
  JsonFormat f;
  return FillPredictRequestFromJson(body, Fixed(dtypes), &request, &f);
}

Tensor ToTensor(const TensorProto& proto) {
  absl::StatusOr<Tensor> t = TensorFromProto(proto);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : Tensor();
}

template <typename T>
std::vector<T> Values(const TensorProto& proto) {
  Tensor t = ToTensor(proto);
  return std::vector<T>(t.data<T>(), t.data<T>() + t.num_elements());
}

std::vector<int64_t> Dims(const TensorProto& proto) {
  std::vector<int64_t> dims;
  for (const auto& d : proto.tensor_shape().dim()) dims.push_back(d.size());
  return dims;
}

// --- Predict requests ----------------------------------------------------

TEST(JsonTensorTest, HalfPlusTwoRowExample) {
  JsonFormat format;
  PredictRequest r = Decode(R"({"instances": [1.0, 2.0, 5.0]})",
                            {{"x", tensorflow::DT_FLOAT}}, &format);
  EXPECT_EQ(format, JsonFormat::kRow);
  EXPECT_EQ(r.model_spec().signature_name(), "");
  const TensorProto& x = r.inputs().at("x");
  EXPECT_EQ(x.dtype(), tensorflow::DT_FLOAT);
  EXPECT_EQ(Dims(x), (std::vector<int64_t>{3}));
  EXPECT_EQ(Values<float>(x), (std::vector<float>{1, 2, 5}));
}

TEST(JsonTensorTest, DocumentedRowAndColumnarExamplesAgree) {
  const Dtypes dtypes = {{"tag", tensorflow::DT_STRING},
                         {"signal", tensorflow::DT_INT32},
                         {"sensor", tensorflow::DT_FLOAT}};
  JsonFormat row_format, col_format;
  PredictRequest row = Decode(R"({
    "instances": [
      {"tag": "foo", "signal": [1, 2, 3, 4, 5], "sensor": [[1, 2], [3, 4]]},
      {"tag": "bar", "signal": [3, 4, 1, 2, 5], "sensor": [[4, 5], [6, 8]]}
    ]})",
                              dtypes, &row_format);
  PredictRequest col = Decode(R"({
    "inputs": {
      "tag": ["foo", "bar"],
      "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]],
      "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]]
    }})",
                              dtypes, &col_format);
  EXPECT_EQ(row_format, JsonFormat::kRow);
  EXPECT_EQ(col_format, JsonFormat::kColumnar);
  for (const auto& [name, unused] : dtypes) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        row.inputs().at(name), col.inputs().at(name)))
        << name;
  }
  EXPECT_EQ(Dims(row.inputs().at("sensor")), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(Values<float>(row.inputs().at("sensor")),
            (std::vector<float>{1, 2, 3, 4, 4, 5, 6, 8}));
  EXPECT_EQ(Values<int32_t>(row.inputs().at("signal")),
            (std::vector<int32_t>{1, 2, 3, 4, 5, 3, 4, 1, 2, 5}));
  EXPECT_THAT(row.inputs().at("tag").string_val(),
              ::testing::ElementsAre("foo", "bar"));
}

TEST(JsonTensorTest, SignatureNameAndNestedRows) {
  PredictRequest r = Decode(
      R"({"signature_name": "predict_images", "instances": [[1,2],[3,4],[5,6]]})",
      {{"default", tensorflow::DT_INT32}});
  EXPECT_EQ(r.model_spec().signature_name(), "predict_images");
  EXPECT_EQ(Dims(r.inputs().at("default")), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Values<int32_t>(r.inputs().at("default")),
            (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
}

TEST(JsonTensorTest, SignatureNameIsPassedToDtypes) {
  std::string asked = "unset";
  InputDtypes dtypes = [&](const std::string& s) -> absl::StatusOr<Dtypes> {
    asked = s;
    if (s == "missing") return absl::NotFoundError("no signature 'missing'");
    return Dtypes{{"x", tensorflow::DT_FLOAT}};
  };
  PredictRequest r;
  JsonFormat f;
  ASSERT_TRUE(
      FillPredictRequestFromJson(R"({"instances": [1]})", dtypes, &r, &f).ok());
  EXPECT_EQ(asked, "");
  absl::Status s = FillPredictRequestFromJson(
      R"({"signature_name": "missing", "instances": [1]})", dtypes, &r, &f);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  InputDtypes none = [](const std::string&) -> absl::StatusOr<Dtypes> {
    return Dtypes{};
  };
  r.Clear();
  s = FillPredictRequestFromJson(R"({"instances": [1]})", none, &r, &f);
  EXPECT_THAT(s.ToString(),
              HasSubstr("Failed to get input map for signature: DEFAULT"));
}

TEST(JsonTensorTest, NonNullTerminatedBuffer) {
  const std::string body = R"({"instances": [[1,2],[3,4]]}X)";
  PredictRequest r =
      Decode(body.substr(0, body.size() - 1), {{"x", tensorflow::DT_INT32}});
  EXPECT_EQ(Dims(r.inputs().at("x")), (std::vector<int64_t>{2, 2}));
}

TEST(JsonTensorTest, ValuesGoToTensorContentAsGrpcClientsSend) {
  PredictRequest r = Decode(R"({"inputs": [[1.5, 2], [3, 4]]})",
                            {{"x", tensorflow::DT_FLOAT}});
  const TensorProto& x = r.inputs().at("x");
  EXPECT_EQ(x.float_val_size(), 0);
  EXPECT_EQ(x.tensor_content().size(), 4 * sizeof(float));
  Tensor expected = *Tensor::Allocate(tensorflow::DT_FLOAT, TensorShape{2, 2});
  const float v[] = {1.5, 2, 3, 4};
  std::copy(v, v + 4, expected.data<float>());
  TensorProto want;
  TensorToProto(expected, &want);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(x, want));
}

TEST(JsonTensorTest, ColumnarSingleInputWithAndWithoutName) {
  const Dtypes d = {{"int_tensor", tensorflow::DT_INT32}};
  PredictRequest named =
      Decode(R"({"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}})", d);
  PredictRequest bare = Decode(R"({"inputs": [[[1,2],[3,4],[5,6]]]})", d);
  EXPECT_EQ(Dims(named.inputs().at("int_tensor")),
            (std::vector<int64_t>{1, 3, 2}));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      named.inputs().at("int_tensor"), bare.inputs().at("int_tensor")));
  // A scalar input is a bare value.
  PredictRequest scalar = Decode(R"({"inputs": 7})", d);
  EXPECT_TRUE(Dims(scalar.inputs().at("int_tensor")).empty());
  EXPECT_EQ(Values<int32_t>(scalar.inputs().at("int_tensor")),
            (std::vector<int32_t>{7}));
}

TEST(JsonTensorTest, ColumnarMultipleInputsAndBase64Scalar) {
  PredictRequest r = Decode(R"({"inputs": {
      "int_tensor": [[[1,2],[3,4],[5,6]]],
      "str_tensor": ["foo", "bar"],
      "bin_tensor": {"b64": "aGVsbG8="},
      "ignored": 1}})",
                            {{"int_tensor", tensorflow::DT_INT32},
                             {"str_tensor", tensorflow::DT_STRING},
                             {"bin_tensor", tensorflow::DT_STRING}});
  EXPECT_EQ(r.inputs().size(), 3);
  EXPECT_TRUE(Dims(r.inputs().at("bin_tensor")).empty());
  EXPECT_THAT(r.inputs().at("bin_tensor").string_val(),
              ::testing::ElementsAre("hello"));
  EXPECT_EQ(Dims(r.inputs().at("str_tensor")), (std::vector<int64_t>{2}));
}

TEST(JsonTensorTest, ColumnarMissingInputAndPlainValueForMany) {
  const Dtypes two = {{"a", tensorflow::DT_INT32}, {"b", tensorflow::DT_INT32}};
  EXPECT_THAT(DecodeError(R"({"inputs": {"a": [1]}})", two).ToString(),
              HasSubstr("Missing named input: b in 'inputs' object."));
  EXPECT_THAT(
      DecodeError(R"({"inputs": [1, 2]})", two).ToString(),
      HasSubstr("inputs is a plain value/list, but expecting an object"));
  absl::Status s = DecodeError(R"({"inputs": {"a": [1], "b": [1, "x"]}})", two);
  EXPECT_THAT(s.ToString(), HasSubstr("Failed to process input: b."));
  EXPECT_THAT(s.ToString(),
              HasSubstr("not of expected type: int32 at index [1]"));
}

TEST(JsonTensorTest, Base64RowsScalarsAndLists) {
  const Dtypes d = {{"default", tensorflow::DT_STRING}};
  PredictRequest scalars =
      Decode(R"({"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]})", d);
  EXPECT_EQ(Dims(scalars.inputs().at("default")), (std::vector<int64_t>{2}));
  EXPECT_THAT(scalars.inputs().at("default").string_val(),
              ::testing::ElementsAre("hello", "world"));
  PredictRequest lists = Decode(
      R"({"instances": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]})", d);
  EXPECT_EQ(Dims(lists.inputs().at("default")), (std::vector<int64_t>{2, 1}));
  PredictRequest named = Decode(
      R"({"instances": [{"default": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}]})",
      d);
  EXPECT_EQ(Dims(named.inputs().at("default")),
            (std::vector<int64_t>{1, 2, 1}));
  EXPECT_THAT(DecodeError(R"({"instances": [{"b64": "!!!"}]})", d).ToString(),
              HasSubstr("Unable to base64 decode"));
  EXPECT_THAT(DecodeError(R"({"inputs": [{"b64": 5}]})", d).ToString(),
              HasSubstr("not formatted correctly for base64 data"));
  EXPECT_THAT(
      DecodeError(R"({"inputs": [{"b64": "aA==", "x": 1}]})", d).ToString(),
      HasSubstr("not formatted correctly for base64 data"));
  // {"b64"} is for strings only.
  EXPECT_THAT(DecodeError(R"({"inputs": [{"b64": "aA=="}]})",
                          {{"x", tensorflow::DT_FLOAT}})
                  .ToString(),
              HasSubstr("Type: Object is not of expected type: float"));
}

TEST(JsonTensorTest, MultipleNamedRowsWithNonFinite) {
  PredictRequest r = Decode(R"({"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
       "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
      {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
       "float_tensor": [2.0, Infinity], "dbl_tensor": [-Infinity]}]})",
                            {{"int_tensor", tensorflow::DT_INT32},
                             {"str_tensor", tensorflow::DT_STRING},
                             {"float_tensor", tensorflow::DT_FLOAT},
                             {"dbl_tensor", tensorflow::DT_DOUBLE}});
  EXPECT_EQ(Dims(r.inputs().at("int_tensor")), (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(Dims(r.inputs().at("str_tensor")), (std::vector<int64_t>{2, 2}));
  const std::vector<float> f = Values<float>(r.inputs().at("float_tensor"));
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_TRUE(std::isnan(f[1]));
  EXPECT_EQ(f[3], std::numeric_limits<float>::infinity());
  const std::vector<double> d = Values<double>(r.inputs().at("dbl_tensor"));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_TRUE(std::isnan(d[0]));
  EXPECT_EQ(d[1], -std::numeric_limits<double>::infinity());
}

TEST(JsonTensorTest, NonFiniteSpellingsOfRapidjson) {
  EXPECT_THAT(
      DecodeError(R"({"inputs": [NaN, "NaN"]})", {{"x", tensorflow::DT_FLOAT}})
          .ToString(),
      HasSubstr(
          "JSON Value: \"NaN\" Type: String is not of expected type: float"));
  PredictRequest ok =
      Decode(R"({"inputs": [NaN,-NaN,Inf,-Inf,Infinity,-Infinity]})",
             {{"x", tensorflow::DT_FLOAT}});
  const std::vector<float> v = Values<float>(ok.inputs().at("x"));
  ASSERT_EQ(v.size(), 6u);
  EXPECT_TRUE(std::isnan(v[0]) && std::isnan(v[1]));
  EXPECT_EQ(v[2], INFINITY);
  EXPECT_EQ(v[3], -INFINITY);
  EXPECT_EQ(v[4], INFINITY);
  EXPECT_EQ(v[5], -INFINITY);
  // Literals inside strings stay strings; other spellings are parse errors.
  PredictRequest s = Decode(R"({"inputs": ["NaN", "[Infinity]", "a\"NaN"]})",
                            {{"x", tensorflow::DT_STRING}});
  EXPECT_THAT(s.inputs().at("x").string_val(),
              ::testing::ElementsAre("NaN", "[Infinity]", "a\"NaN"));
  for (const char* bad : {R"({"inputs": [nan]})", R"({"inputs": [Infinit]})",
                          R"({"inputs": [NaNa]})", R"({"inputs": [+Inf]})",
                          R"({NaN: [1]})", R"({"inputs": [1]} NaN)"}) {
    EXPECT_THAT(DecodeError(bad, {{"x", tensorflow::DT_FLOAT}}).ToString(),
                HasSubstr("JSON Parse error"))
        << bad;
  }
  // Integers take no NaN.
  EXPECT_THAT(
      DecodeError(R"({"inputs": [NaN]})", {{"x", tensorflow::DT_INT32}})
          .ToString(),
      HasSubstr("JSON Value: NaN Type: Number is not of expected type: int32"));
}

TEST(JsonTensorTest, FloatDtypesTakeAnyLosslessNumber) {
  PredictRequest f =
      Decode(R"({"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0, 1e3]})",
             {{"x", tensorflow::DT_FLOAT}});
  EXPECT_EQ(Values<float>(f.inputs().at("x")),
            (std::vector<float>{1, 2, 3, 4, 5.003f, 0.007f, 0, 1000}));
  PredictRequest d = Decode(R"({"instances": [1.0, 2, 0.662, -7]})",
                            {{"x", tensorflow::DT_DOUBLE}});
  EXPECT_EQ(Values<double>(d.inputs().at("x")),
            (std::vector<double>{1, 2, 0.662, -7}));
  const Dtypes flt = {{"x", tensorflow::DT_FLOAT}};
  const Dtypes dbl = {{"x", tensorflow::DT_DOUBLE}};
  EXPECT_THAT(
      DecodeError(R"({"instances": [1.7976931348623157e308]})", flt).ToString(),
      HasSubstr("loss of precision"));
  EXPECT_THAT(DecodeError(R"({"instances": [16777217]})", flt).ToString(),
              HasSubstr("Cannot convert JSON value: 16777217 to float without "
                        "loss of precision."));
  EXPECT_TRUE(DecodeError(R"({"instances": [16777215, -16777215]})", flt).ok());
  EXPECT_THAT(
      DecodeError(R"({"instances": [9007199254740993]})", dbl).ToString(),
      HasSubstr("loss of precision"));
  EXPECT_THAT(
      DecodeError(R"({"instances": ["1.0"]})", flt).ToString(),
      HasSubstr(
          "JSON Value: \"1.0\" Type: String is not of expected type: float"));
  EXPECT_THAT(DecodeError(R"({"instances": [true]})", flt).ToString(),
              HasSubstr("Type: True is not of expected type: float"));
  EXPECT_THAT(DecodeError(R"({"instances": [null]})", dbl).ToString(),
              HasSubstr("Type: Null is not of expected type: double"));
}

TEST(JsonTensorTest, HalfAndBfloat16) {
  PredictRequest h =
      Decode(R"({"inputs": [1.5, -2, 65504]})", {{"x", tensorflow::DT_HALF}});
  Tensor t = ToTensor(h.inputs().at("x"));
  EXPECT_EQ(static_cast<float>(t.data<Eigen::half>()[0]), 1.5f);
  EXPECT_EQ(static_cast<float>(t.data<Eigen::half>()[1]), -2.0f);
  EXPECT_EQ(static_cast<float>(t.data<Eigen::half>()[2]), 65504.0f);
  EXPECT_THAT(
      DecodeError(R"({"inputs": [70000]})", {{"x", tensorflow::DT_HALF}})
          .ToString(),
      HasSubstr("to half without loss of precision"));
  PredictRequest b = Decode(R"({"inputs": [0.5, Infinity]})",
                            {{"x", tensorflow::DT_BFLOAT16}});
  Tensor bt = ToTensor(b.inputs().at("x"));
  EXPECT_EQ(static_cast<float>(bt.data<Eigen::bfloat16>()[0]), 0.5f);
  EXPECT_TRUE(std::isinf(static_cast<float>(bt.data<Eigen::bfloat16>()[1])));
}

TEST(JsonTensorTest, IntegerDtypesTakeOnlyIntegersInRange) {
  struct Case {
    DataType dtype;
    const char* ok;
    const char* bad;
  };
  const Case cases[] = {
      {tensorflow::DT_INT8, "[-128, 127]", "128"},
      {tensorflow::DT_INT16, "[-32768, 32767]", "-32769"},
      {tensorflow::DT_INT32, "[-2147483648, 2147483647]", "2147483648"},
      {tensorflow::DT_INT64, "[-9223372036854775808, 9223372036854775807]",
       "9223372036854775808"},
      {tensorflow::DT_UINT8, "[0, 255]", "256"},
      {tensorflow::DT_UINT16, "[0, 65535]", "-1"},
      {tensorflow::DT_UINT32, "[0, 4294967295]", "4294967296"},
      {tensorflow::DT_UINT64, "[0, 18446744073709551615]", "-1"},
  };
  for (const Case& c : cases) {
    const Dtypes d = {{"x", c.dtype}};
    PredictRequest r = Decode(absl::StrCat(R"({"inputs": )", c.ok, "}"), d);
    EXPECT_EQ(Dims(r.inputs().at("x")), (std::vector<int64_t>{2})) << c.ok;
    EXPECT_THAT(
        DecodeError(absl::StrCat(R"({"inputs": [)", c.bad, "]}"), d).ToString(),
        HasSubstr(absl::StrCat("JSON Value: ", c.bad,
                               " Type: Number is not of expected type: ")))
        << c.bad;
    for (const char* not_int : {"1.0", "1e2", "true", "\"1\""}) {
      EXPECT_THAT(DecodeError(absl::StrCat(R"({"inputs": [)", not_int, "]}"), d)
                      .ToString(),
                  HasSubstr("is not of expected type"))
          << not_int;
    }
  }
  PredictRequest r =
      Decode(R"({"inputs": [-128, 127]})", {{"x", tensorflow::DT_INT8}});
  EXPECT_EQ(Values<int8_t>(r.inputs().at("x")),
            (std::vector<int8_t>{-128, 127}));
  PredictRequest u = Decode(R"({"inputs": [18446744073709551615]})",
                            {{"x", tensorflow::DT_UINT64}});
  EXPECT_EQ(Values<uint64_t>(u.inputs().at("x"))[0], UINT64_MAX);
  PredictRequest i = Decode(R"({"inputs": [-9223372036854775808]})",
                            {{"x", tensorflow::DT_INT64}});
  EXPECT_EQ(Values<int64_t>(i.inputs().at("x"))[0], INT64_MIN);
}

TEST(JsonTensorTest, BoolAndString) {
  PredictRequest b =
      Decode(R"({"instances": [true, false]})", {{"x", tensorflow::DT_BOOL}});
  EXPECT_EQ(Values<uint8_t>(b.inputs().at("x")), (std::vector<uint8_t>{1, 0}));
  EXPECT_THAT(
      DecodeError(R"({"instances": [1]})", {{"x", tensorflow::DT_BOOL}})
          .ToString(),
      HasSubstr("JSON Value: 1 Type: Number is not of expected type: bool"));
  PredictRequest s = Decode(R"({"instances": ["a\u00e9\n", ""]})",
                            {{"x", tensorflow::DT_STRING}});
  EXPECT_THAT(s.inputs().at("x").string_val(),
              ::testing::ElementsAre("a\xc3\xa9\n", ""));
  EXPECT_THAT(
      DecodeError(R"({"instances": [1]})", {{"x", tensorflow::DT_STRING}})
          .ToString(),
      HasSubstr("is not of expected type: string"));
}

TEST(JsonTensorTest, UnsupportedDtypeIsUnimplemented) {
  absl::Status s =
      DecodeError(R"({"inputs": [1]})", {{"x", tensorflow::DT_COMPLEX64}});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.ToString(),
              HasSubstr("Conversion of JSON Value: 1 to type: complex64"));
}

TEST(JsonTensorTest, RaggedAndMixedRowErrors) {
  const Dtypes d = {{"default", tensorflow::DT_INT32}};
  EXPECT_THAT(
      DecodeError(R"({"instances": [[1,2],[3,4],[5,6,7]]})", d).ToString(),
      HasSubstr("Failed to process element: 2 of 'instances' list. Error: "
                "INVALID_ARGUMENT: Expecting tensor size: 2 but got: 3"));
  EXPECT_THAT(
      DecodeError(R"({"instances": [[1,2],[3,4],[[5,6]]]})", d).ToString(),
      HasSubstr("Expecting shape [2] but got: [1,2]"));
  EXPECT_THAT(DecodeError(R"({"instances": [1, [1]]})", d).ToString(),
              HasSubstr("Expecting shape [] but got: [1]"));
  EXPECT_THAT(DecodeError(R"({"instances": [[1,2],["a", "b"]]})", d).ToString(),
              HasSubstr("not of expected type"));
  // Ragged inside one value, named by level and index.
  absl::Status s = DecodeError(R"({"inputs": [[1,2],[3]]})", d);
  EXPECT_THAT(s.ToString(),
              HasSubstr("Encountered list at unexpected size: 1 at level: 1 "
                        "expected size: 2 at index [1]"));
  s = DecodeError(R"({"inputs": [[1,2],[3,[4]]]})", d);
  EXPECT_THAT(s.ToString(),
              HasSubstr("Encountered list at unexpected level: 2 expected < 2 "
                        "at index [1][1]"));
  s = DecodeError(R"({"inputs": [[1,2],3]})", d);
  EXPECT_THAT(s.ToString(),
              HasSubstr("JSON Value: 3 found at incorrect level: 2 in the JSON "
                        "DOM. Expected at level: 2 at index [1]"));
}

TEST(JsonTensorTest, MultipleNamedRowErrors) {
  const Dtypes d = {{"int_tensor", tensorflow::DT_INT32},
                    {"str_tensor", tensorflow::DT_STRING}};
  EXPECT_THAT(DecodeError(R"({"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
      {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]})",
                          d)
                  .ToString(),
              HasSubstr("Expecting shape"));
  EXPECT_THAT(
      DecodeError(R"({"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]},
      {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}]})",
                  d)
          .ToString(),
      HasSubstr("Failed to process element: 1 key: int_tensor of 'instances' "
                "list. Error: INVALID_ARGUMENT: Expecting tensor size: 8 but "
                "got: 6"));
  EXPECT_THAT(
      DecodeError(R"({"instances": [
      {"int_tensor": [1], "str_tensor": ["foo"]}, [1, 20, 30]]})",
                  d)
          .ToString(),
      HasSubstr("Expecting object but got list at item 1 of input list"));
  EXPECT_THAT(
      DecodeError(R"({"instances": [[1], [2]]})", d).ToString(),
      HasSubstr("instances is a plain list, but expecting list of objects"));
  EXPECT_THAT(
      DecodeError(R"({"instances": [{"int_tensor": [1]}]})", d).ToString(),
      HasSubstr("keys must be equal to: int_tensor,str_tensor"));
  EXPECT_THAT(
      DecodeError(R"({"instances": [{"int_tensor": [1], "str_tensor": ["a"],
                                             "extra": 1}]})",
                  d)
          .ToString(),
      HasSubstr("key: extra of 'instances' list. Error: INVALID_ARGUMENT: JSON "
                "object: does not have named input: extra"));
  // A key given twice, with another missing, is refused: its values must not
  // land in one row of one input while the other input stays empty.
  EXPECT_THAT(
      DecodeError(R"({"instances": [{"int_tensor": [1], "int_tensor": [2]}]})",
                  d)
          .ToString(),
      HasSubstr("key: int_tensor of 'instances' list. Error: INVALID_ARGUMENT: "
                "JSON object: has named input int_tensor twice"));
  const Dtypes one = {{"str_tensor", tensorflow::DT_STRING}};
  EXPECT_THAT(
      DecodeError(
          R"({"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]})",
          one)
          .ToString(),
      HasSubstr("Expecting value/list but got object at item 1 of input list"));
}

TEST(JsonTensorTest, BodyShapeErrors) {
  const Dtypes d = {{"x", tensorflow::DT_INT32}};
  EXPECT_THAT(DecodeError("", d).ToString(), HasSubstr("document is empty"));
  EXPECT_THAT(DecodeError("[1]", d).ToString(), HasSubstr("Is not object"));
  EXPECT_THAT(
      DecodeError(R"({"signature_name": 5, "instances": [1]})", d).ToString(),
      HasSubstr("'signature_name' key must be a string value."));
  EXPECT_THAT(
      DecodeError(R"({"instances": [1], "inputs": [1]})", d).ToString(),
      HasSubstr("Not formatted correctly expecting only one of 'inputs' or "
                "'instances' keys to exist"));
  EXPECT_THAT(DecodeError(R"({"signature_name": "s"})", d).ToString(),
              HasSubstr("Missing 'inputs' or 'instances' key"));
  EXPECT_THAT(DecodeError(R"({"instances": {"x": 1}})", d).ToString(),
              HasSubstr("'instances' to be an list/array"));
  // TF Serving refuses an empty batch in row format ...
  EXPECT_THAT(DecodeError(R"({"instances": []})", d).ToString(),
              HasSubstr("No values in 'instances' array"));
  // ... but takes empty lists as zero-sized dimensions.
  PredictRequest r = Decode(R"({"inputs": []})", d);
  EXPECT_EQ(Dims(r.inputs().at("x")), (std::vector<int64_t>{0}));
  r = Decode(R"({"instances": [[], []]})", d);
  EXPECT_EQ(Dims(r.inputs().at("x")), (std::vector<int64_t>{2, 0}));
  EXPECT_THAT(DecodeError(R"({"instances": [1,]})", d).ToString(),
              HasSubstr("JSON Parse error: Invalid value. at offset: 17"));
}

TEST(JsonTensorTest, HostileNesting) {
  const Dtypes d = {{"x", tensorflow::DT_INT32}};
  // Deep nesting: refused before any recursion, with the offset.
  const std::string deep =
      std::string(100000, '[') + "1" + std::string(100000, ']');
  absl::Status s = DecodeError(R"({"inputs": )" + deep + "}", d);
  EXPECT_THAT(s.ToString(),
              HasSubstr("nesting deeper than 100 levels at offset: 110"));
  const std::string objects = [] {
    std::string b;
    for (int i = 0; i < 200000; ++i) b += "{\"a\":";
    return b;
  }();
  EXPECT_THAT(DecodeError(objects, d).ToString(),
              HasSubstr("nesting deeper than 100"));
  // 99 levels of lists inside the body object are fine (100 with the object).
  const std::string ok = std::string(99, '[') + "1" + std::string(99, ']');
  PredictRequest r = Decode(R"({"inputs": )" + ok + "}", d);
  EXPECT_EQ(r.inputs().at("x").tensor_shape().dim_size(), 99);
  // Brackets inside strings do not count.
  r = Decode(R"({"inputs": [")" + std::string(1000, '[') + R"("]})",
             {{"x", tensorflow::DT_STRING}});
  EXPECT_EQ(r.inputs().at("x").string_val(0).size(), 1000u);
}

TEST(JsonTensorTest, HostileValues) {
  const Dtypes d = {{"x", tensorflow::DT_INT32}};
  // Invalid UTF-8, raw or as a lone surrogate escape.
  for (std::string bad : {std::string("{\"inputs\": [\"\xff\"]}"),
                          std::string("{\"inputs\": [\"\xc0\xaf\"]}"),
                          std::string("{\"inputs\": [\"\\ud800\"]}"),
                          std::string("{\"inputs\": [1]\xff}")}) {
    EXPECT_THAT(DecodeError(bad, {{"x", tensorflow::DT_STRING}}).ToString(),
                HasSubstr("JSON Parse error"))
        << bad;
  }
  // Huge numbers.
  EXPECT_THAT(
      DecodeError(R"({"inputs": [1e400]})", {{"x", tensorflow::DT_DOUBLE}})
          .ToString(),
      HasSubstr("JSON Parse error"));
  EXPECT_THAT(DecodeError(R"({"inputs": [123456789012345678901234567890]})", d)
                  .ToString(),
              HasSubstr("is not of expected type: int32"));
  // A first row implying a huge shape the rest does not have fails, cheaply.
  std::string wide = R"({"inputs": [[)";
  for (int i = 0; i < 100000; ++i) wide += i ? ",1" : "1";
  wide += "]";
  for (int i = 0; i < 100000; ++i) wide += ",[]";
  wide += "]}";
  EXPECT_THAT(DecodeError(wide, d).ToString(),
              HasSubstr("Encountered list at unexpected size: 0 at level: 1"));
  // Long messages are truncated, strings too.
  EXPECT_LT(
      DecodeError(R"({"inputs": [")" + std::string(100000, 'a') + R"("]})", d)
          .message()
          .size(),
      1000u);
  std::string big = R"({"signature_name": 1, "instances": [)";
  for (int i = 0; i < 100000; ++i) big += "1,";
  big += "1]}";
  EXPECT_LT(DecodeError(big, d).message().size(), 1000u);
}

// --- Fixtures ------------------------------------------------------------

// `values` (row-major) nested as `dims` from dimension `d` on.
nlohmann::json Nest(const nlohmann::json& values,
                    const std::vector<int64_t>& dims, size_t d, size_t* next) {
  if (d == dims.size()) return values[(*next)++];
  nlohmann::json list = nlohmann::json::array();
  for (int64_t i = 0; i < dims[d]; ++i)
    list.push_back(Nest(values, dims, d + 1, next));
  return list;
}

// For every expected/*.json: the REST body holding its inputs (columnar, and
// row when there is one input) decodes to the TensorProto swapserve-cli sends
// over gRPC (the fixture's values as a Tensor of the alias's dtype, through
// TensorToProto).
TEST(JsonTensorTest, FixtureInputsDecodeAsGrpcClientsSendThem) {
  SS_REQUIRE_FIXTURE(dir, "expected");
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const nlohmann::json fixture =
        nlohmann::json::parse(testing::ReadFileOrDie(entry.path().string()));
    Dtypes dtypes;
    std::map<std::string, TensorProto> want;
    nlohmann::json columns = nlohmann::json::object();
    for (const auto& [alias, in] : fixture["inputs"].items()) {
      const DataType dtype = *ParseDataType(in["dtype"].get<std::string>());
      ASSERT_EQ(dtype, tensorflow::DT_FLOAT)
          << "extend this test for " << alias;
      const std::vector<int64_t> dims = in["shape"].get<std::vector<int64_t>>();
      Tensor t = *Tensor::Allocate(dtype, *TensorShape::Make(dims));
      for (size_t i = 0; i < in["values"].size(); ++i) {
        t.data<float>()[i] = in["values"][i].get<float>();
      }
      TensorToProto(t, &want[alias]);
      dtypes[alias] = dtype;
      size_t next = 0;
      columns[alias] = Nest(in["values"], dims, 0, &next);
    }
    std::vector<std::string> bodies = {
        nlohmann::json({{"inputs", columns}}).dump()};
    if (columns.size() == 1) {
      bodies.push_back(
          nlohmann::json({{"instances", columns.begin().value()}}).dump());
    }
    for (const std::string& body : bodies) {
      PredictRequest r = Decode(body, dtypes);
      ASSERT_EQ(r.inputs().size(), want.size());
      for (const auto& [alias, proto] : want) {
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
            r.inputs().at(alias), proto))
            << alias;
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace swapserve::server::rest
