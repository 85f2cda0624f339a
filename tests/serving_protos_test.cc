// The TF Serving API protos match TF Serving's: its own GetModelMetadata answer for
// half_plus_two (JSON, field names as TF Serving prints them) parses into our
// SignatureDefMap and agrees with the SavedModel's signatures; requests round-trip.
#include <fstream>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "model/formats/saved_model.h"
#include "nlohmann/json.hpp"
#include "tensorflow_serving/apis/get_model_metadata.pb.h"
#include "tensorflow_serving/apis/model_service.grpc.pb.h"
#include "tensorflow_serving/apis/prediction_service.grpc.pb.h"
#include "tensorflow_serving/config/model_server_config.pb.h"
#include "tests/test_support.h"

namespace swapserve {
namespace {

TEST(ServingProtosTest, TfServingMetadataAnswerParsesAndMatchesTheModel) {
  SS_REQUIRE_FIXTURE(path, "tf_serving/half_plus_two_model_metadata.json");
  SS_REQUIRE_FIXTURE(dir, "tf_serving/saved_model_half_plus_two_cpu/00000123");
  std::ifstream in(path);
  const nlohmann::json answer = nlohmann::json::parse(in);
  tensorflow::serving::ModelSpec spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(answer["model_spec"].dump(), &spec).ok());
  EXPECT_EQ(spec.name(), "default");
  EXPECT_EQ(spec.version().value(), 123);
  tensorflow::serving::SignatureDefMap map;
  auto status = google::protobuf::util::JsonStringToMessage(
      answer["metadata"]["signature_def"].dump(), &map);
  ASSERT_TRUE(status.ok()) << status.ToString();
  auto info = ReadSavedModel(dir);
  ASSERT_TRUE(info.ok()) << info.status();
  for (const auto& [name, sig] : map.signature_def()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(info->meta_graph.signature_def().contains(name));
    const auto& ours = info->meta_graph.signature_def().at(name);
    EXPECT_EQ(sig.method_name(), ours.method_name());
    ASSERT_EQ(sig.inputs_size(), ours.inputs_size());
    for (const auto& [alias, t] : sig.inputs()) {
      EXPECT_EQ(t.name(), ours.inputs().at(alias).name());
      EXPECT_EQ(t.dtype(), ours.inputs().at(alias).dtype());
    }
  }
}

TEST(ServingProtosTest, ModelServerConfigTextFormat) {
  tensorflow::serving::ModelServerConfig config;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    model_config_list {
      config {
        name: "m" base_path: "/models/m" model_platform: "tensorflow"
        model_version_policy { specific { versions: 1 versions: 2 } }
        version_labels { key: "stable" value: 1 }
      }
    })pb", &config));
  const auto& c = config.model_config_list().config(0);
  EXPECT_EQ(c.model_version_policy().specific().versions_size(), 2);
  EXPECT_EQ(c.version_labels().at("stable"), 1);
}

TEST(ServingProtosTest, ServiceStubsExist) {
  // The generated services carry TF Serving's full method names.
  EXPECT_STREQ(tensorflow::serving::PredictionService::service_full_name(),
               "tensorflow.serving.PredictionService");
  EXPECT_STREQ(tensorflow::serving::ModelService::service_full_name(),
               "tensorflow.serving.ModelService");
}

}  // namespace
}  // namespace swapserve
