// Bad requests to the real daemon get TF Serving's status codes with a message
// naming what was expected — and the daemon keeps answering good requests.
#include "gtest/gtest.h"
#include "tests/daemon_harness.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;
using grpc::StatusCode;

class ServerBadInputTest : public ::testing::Test {
 protected:
  // One daemon for the suite: half_plus_two (TF1) as "hp2", the Keras .h5 model
  // (input dense_input: float[-1,12]) as "churn"; messages limited to 64 KiB.
  void SetUp() override {
    SS_REQUIRE_FIXTURE(hp2, "tf_serving/saved_model_half_plus_two_cpu");
    SS_REQUIRE_FIXTURE(churn, "keras_h5/bank_churn.h5");
    if (daemon_ == nullptr) {
      static TempDir* dir = new TempDir();
      WriteFileOrDie(dir->Join("models.config"),
                     "model_config_list { config { name: 'hp2' base_path: '" + hp2 +
                         "' model_platform: 'tensorflow' version_labels { key: 'stable' value: "
                         "123 } } config { name: 'churn' base_path: '" + churn +
                         "' model_platform: 'tensorflow' } }");
      daemon_ = Daemon::Start({"--model_config_file=" + dir->Join("models.config"),
                               "--max_message_bytes=65536"})
                    .release();
      ASSERT_NE(daemon_, nullptr);
    }
  }
  void TearDown() override {
    if (daemon_ == nullptr) return;
    // Whatever the previous request did, a good one still works.
    tfs::PredictResponse response;
    grpc::Status s = daemon_->prediction().Predict(
        ContextWithDeadline().get(), FloatRequest("hp2", "x", {3}, {1, 2, 5}), &response);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << daemon_->Log();
    EXPECT_EQ(Floats(response.outputs().at("y")), (std::vector<float>{2.5, 3, 4.5}));
  }

  static void TearDownTestSuite() {
    delete daemon_;  // stops the daemon process
    daemon_ = nullptr;
  }

  grpc::Status Predict(const tfs::PredictRequest& request) {
    tfs::PredictResponse response;
    return daemon_->prediction().Predict(ContextWithDeadline().get(), request, &response);
  }

  // Asserts the code and that the message contains `mentions`.
  static void ExpectError(const grpc::Status& s, StatusCode code, const std::string& mentions) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_NE(s.error_message().find(mentions), std::string::npos)
        << "message '" << s.error_message() << "' should mention '" << mentions << "'";
  }

  static Daemon* daemon_;
};

Daemon* ServerBadInputTest::daemon_ = nullptr;

TEST_F(ServerBadInputTest, UnknownModel) {
  ExpectError(Predict(FloatRequest("nope", "x", {1}, {1})), StatusCode::NOT_FOUND,
              "Servable not found for request: Latest(nope)");
}

TEST_F(ServerBadInputTest, NoModelName) {
  ExpectError(Predict(FloatRequest("", "x", {1}, {1})), StatusCode::INVALID_ARGUMENT,
              "ModelSpec has no name specified");
}

TEST_F(ServerBadInputTest, UnknownVersion) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {1}, {1});
  r.mutable_model_spec()->mutable_version()->set_value(999);
  ExpectError(Predict(r), StatusCode::NOT_FOUND,
              "Servable not found for request: Specific(hp2, 999)");
}

TEST_F(ServerBadInputTest, UnknownLabel) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {1}, {1});
  r.mutable_model_spec()->set_version_label("canary");
  ExpectError(Predict(r), StatusCode::INVALID_ARGUMENT, "Unrecognized servable version label: canary");
}

TEST_F(ServerBadInputTest, UnknownSignature) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {1}, {1});
  r.mutable_model_spec()->set_signature_name("nope");
  ExpectError(Predict(r), StatusCode::FAILED_PRECONDITION, "Serving signature key \"nope\" not found");
}

TEST_F(ServerBadInputTest, MissingInput) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {1}, {1});
  r.mutable_inputs()->clear();
  ExpectError(Predict(r), StatusCode::INVALID_ARGUMENT, "Missing but required: {x}");
}

TEST_F(ServerBadInputTest, ExtraInput) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {1}, {1});
  (*r.mutable_inputs())["z"] = r.inputs().at("x");
  ExpectError(Predict(r), StatusCode::INVALID_ARGUMENT, "Sent extra: {z}");
}

TEST_F(ServerBadInputTest, DtypeMismatch) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {1}, {});
  tensorflow::TensorProto& t = (*r.mutable_inputs())["x"];
  t.set_dtype(tensorflow::DT_STRING);
  t.add_string_val("1.0");
  ExpectError(Predict(r), StatusCode::INVALID_ARGUMENT, "expects DT_FLOAT, got DT_STRING");
}

TEST_F(ServerBadInputTest, ShapeMismatch) {
  std::vector<float> values(10, 0.5f);
  const grpc::Status s = Predict(FloatRequest("churn", "dense_input", {2, 5}, values));
  ExpectError(s, StatusCode::INVALID_ARGUMENT, "inner dimensions differ: [2,5] x [12,64]");
  ExpectError(s, StatusCode::INVALID_ARGUMENT,
              "signature 'serving_default' takes {dense_input: DT_FLOAT[-1,12]}");
}

TEST_F(ServerBadInputTest, TensorContentLengthWrong) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {3}, {});
  (*r.mutable_inputs())["x"].set_tensor_content(std::string(8, '\0'));
  ExpectError(Predict(r), StatusCode::INVALID_ARGUMENT,
              "input 'x': tensor_content is 8 bytes but DT_FLOAT[3] needs 12");
}

TEST_F(ServerBadInputTest, BothTensorContentAndTypedValues) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {1}, {1});
  (*r.mutable_inputs())["x"].set_tensor_content(std::string(4, '\0'));
  ExpectError(Predict(r), StatusCode::INVALID_ARGUMENT,
              "input 'x': tensor DT_FLOAT[1] has both tensor_content (4 bytes) and float_val "
              "(1 values)");
}

TEST_F(ServerBadInputTest, NegativeDimension) {
  ExpectError(Predict(FloatRequest("hp2", "x", {2, -3}, {1, 2, 3})), StatusCode::INVALID_ARGUMENT,
              "input 'x': invalid tensor shape: shape [2,-3]: dimension 1 is negative (-3)");
}

TEST_F(ServerBadInputTest, OverflowingDimensions) {
  ExpectError(Predict(FloatRequest("hp2", "x", {int64_t{1} << 40, int64_t{1} << 40}, {1})),
              StatusCode::INVALID_ARGUMENT,
              "input 'x': invalid tensor shape: shape [1099511627776,1099511627776] has more "
              "elements than fit in int64");
}

TEST_F(ServerBadInputTest, HugeFillFromOneValue) {
  ExpectError(Predict(FloatRequest("hp2", "x", {int64_t{1} << 30}, {1})),
              StatusCode::INVALID_ARGUMENT,
              "input 'x': tensor DT_FLOAT[1073741824] gives 1 values for 1073741824 elements; at "
              "most 16777216 elements may be filled from fewer values");
}

TEST_F(ServerBadInputTest, MessageOverTheLimit) {
  std::vector<float> values(32 * 1024, 1.0f);  // 128 KiB > --max_message_bytes
  const tfs::PredictRequest r = FloatRequest("hp2", "x", {32 * 1024}, values);
  // gRPC's own message: the request's size against the configured limit.
  ExpectError(Predict(r), StatusCode::RESOURCE_EXHAUSTED,
              "Received message larger than max (" + std::to_string(r.ByteSizeLong()) +
                  " vs. 65536)");
}

TEST_F(ServerBadInputTest, UnknownOutputFilter) {
  tfs::PredictRequest r = FloatRequest("hp2", "x", {1}, {1});
  r.add_output_filter("z");
  ExpectError(Predict(r), StatusCode::INVALID_ARGUMENT,
              "output tensor alias not found in signature: z Outputs expected to be in the "
              "set {y}.");
}

tfs::RegressionRequest Regress(const tensorflow::Feature& x) {
  tfs::RegressionRequest r;
  r.mutable_model_spec()->set_name("hp2");
  r.mutable_model_spec()->set_signature_name("regress_x_to_y");
  (*r.mutable_input()->mutable_example_list()->add_examples()->mutable_features()->mutable_feature())["x"] = x;
  return r;
}

TEST_F(ServerBadInputTest, MalformedExampleWrongFeatureType) {
  tensorflow::Feature x;
  x.mutable_bytes_list()->add_value("1.0");
  tfs::RegressionResponse response;
  grpc::Status s = daemon_->prediction().Regress(ContextWithDeadline().get(), Regress(x), &response);
  ExpectError(s, StatusCode::INVALID_ARGUMENT,
              "example 0 feature 'x' is a bytes_list, expected a float_list");
}

TEST_F(ServerBadInputTest, MalformedExampleWrongValueCount) {
  tensorflow::Feature x;
  x.mutable_float_list()->add_value(1);
  x.mutable_float_list()->add_value(2);
  tfs::RegressionResponse response;
  grpc::Status s = daemon_->prediction().Regress(ContextWithDeadline().get(), Regress(x), &response);
  ExpectError(s, StatusCode::INVALID_ARGUMENT, "example 0 feature 'x' has 2 values, expected 1");
}

TEST_F(ServerBadInputTest, EmptyExampleList) {
  tfs::RegressionRequest r;
  r.mutable_model_spec()->set_name("hp2");
  r.mutable_model_spec()->set_signature_name("regress_x_to_y");
  tfs::RegressionResponse response;
  ExpectError(daemon_->prediction().Regress(ContextWithDeadline().get(), r, &response),
              StatusCode::INVALID_ARGUMENT, "Input is empty");
}

TEST_F(ServerBadInputTest, ClassifyOnAPredictSignature) {
  tfs::ClassificationRequest r;
  r.mutable_model_spec()->set_name("hp2");
  r.mutable_input()->mutable_example_list()->add_examples();
  tfs::ClassificationResponse response;
  ExpectError(daemon_->prediction().Classify(ContextWithDeadline().get(), r, &response),
              StatusCode::INVALID_ARGUMENT,
              "Expected signature method_name to be tensorflow/serving/classify. Was: "
              "tensorflow/serving/predict");
}

TEST_F(ServerBadInputTest, MetadataFields) {
  tfs::GetModelMetadataRequest r;
  r.mutable_model_spec()->set_name("hp2");
  tfs::GetModelMetadataResponse response;
  ExpectError(daemon_->prediction().GetModelMetadata(ContextWithDeadline().get(), r, &response),
              StatusCode::INVALID_ARGUMENT, "at least one metadata_field");
  r.add_metadata_field("nope");
  ExpectError(daemon_->prediction().GetModelMetadata(ContextWithDeadline().get(), r, &response),
              StatusCode::INVALID_ARGUMENT, "Metadata field nope is not supported");
}

TEST_F(ServerBadInputTest, StatusOfUnknownModelAndVersion) {
  tfs::GetModelStatusRequest r;
  r.mutable_model_spec()->set_name("nope");
  tfs::GetModelStatusResponse response;
  ExpectError(daemon_->models().GetModelStatus(ContextWithDeadline().get(), r, &response),
              StatusCode::NOT_FOUND, "Could not find any versions of model nope");
  r.mutable_model_spec()->set_name("hp2");
  r.mutable_model_spec()->mutable_version()->set_value(7);
  ExpectError(daemon_->models().GetModelStatus(ContextWithDeadline().get(), r, &response),
              StatusCode::NOT_FOUND, "Could not find version 7 of model hp2");
}

}  // namespace
}  // namespace swapserve::testing
