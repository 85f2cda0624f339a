// The real daemon's REST API (--rest_api_port), called with curl: TF Serving's
// REST examples on half_plus_two, every fixtures/expected/*.json model through
// both formats and through gRPC with the same answers, status and metadata equal
// to TF Serving's recorded JSON, each error class with its HTTP code and the
// gRPC path's message, swapserve's weights headers and checkpoint admin routes.
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/formats/checkpoint_state.h"
#include "nlohmann/json.hpp"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"

namespace swapserve::testing {
namespace {

using json = nlohmann::json;
namespace tfs = tensorflow::serving;

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// curl with `body` as the POST data (from a file: no shell quoting of JSON).
Reply Post(const Daemon& daemon, const std::string& path, const std::string& body) {
  TempDir dir;
  WriteFileOrDie(dir.Join("body"), body);
  return Curl("-H 'Content-Type: application/json' --data-binary @" + dir.Join("body") + " " +
              daemon.Url(path));
}

Reply Get(const Daemon& daemon, const std::string& path) { return Curl(daemon.Url(path)); }

// The body as JSON; a test failure (and null) when it is not.
json Body(const Reply& reply) {
  json parsed = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << reply.head << "\n" << reply.body;
  return parsed;
}

std::unique_ptr<Daemon> HalfPlusTwo() {
  const std::string base = Fixture("tf_serving/saved_model_half_plus_two_cpu");
  return Daemon::Start({"--model_name=half_plus_two", "--model_base_path=" + base}, true);
}

TEST(ServerRestTest, TfServingQuickStartExamples) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto daemon = HalfPlusTwo();
  ASSERT_NE(daemon, nullptr);

  Reply row = Post(*daemon, "/v1/models/half_plus_two:predict", R"({"instances": [1.0, 2.0, 5.0]})");
  ASSERT_EQ(row.exit_code, 0) << row.err;
  EXPECT_EQ(row.code, 200) << row.body;
  EXPECT_EQ(Body(row), json::parse(R"({"predictions": [2.5, 3.0, 4.5]})"));
  EXPECT_EQ(HeaderValue(row, "Content-Type"), "application/json");
  EXPECT_EQ(HeaderValue(row, "swapserve-checkpoint"), "saved_model");
  EXPECT_EQ(HeaderValue(row, "swapserve-weights-version"), "1");

  Reply columnar = Post(*daemon, "/v1/models/half_plus_two/versions/123:predict",
                        R"({"inputs": {"x": [[1.0], [2.0], [5.0]]}})");
  EXPECT_EQ(Body(columnar), json::parse(R"({"outputs": [[2.5], [3.0], [4.5]]})"));

  // Paths match case-insensitively (the model name keeps its case).
  Reply upper = Post(*daemon, "/V1/MODELS/half_plus_two:PREDICT", R"({"instances": [1.0]})");
  EXPECT_EQ(Body(upper), json::parse(R"({"predictions": [2.5]})"));

  Reply regress = Post(*daemon, "/v1/models/half_plus_two:regress",
                       R"({"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]})");
  EXPECT_EQ(Body(regress), json::parse(R"({"results": [2.5, 3.0]})"));
  Reply regress2 = Post(*daemon, "/v1/models/half_plus_two:regress",
                        R"({"signature_name": "regress_x_to_y2", "examples": [{"x": 1.0}]})");
  EXPECT_EQ(Body(regress2), json::parse(R"({"results": [3.5]})"));
  Reply classify = Post(*daemon, "/v1/models/half_plus_two:classify",
                        R"({"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}, {"x": 4.0}]})");
  EXPECT_EQ(Body(classify), json::parse(R"({"results": [[["", 2.5]], [["", 4.0]]]})"));
  // A context merges into each example.
  Reply with_context = Post(*daemon, "/v1/models/half_plus_two:regress",
                            R"({"signature_name": "regress_x_to_y", "context": {"x": 2.0},
                                "examples": [{}]})");
  EXPECT_EQ(Body(with_context), json::parse(R"({"results": [3.0]})"));

  Reply status = Get(*daemon, "/v1/models/half_plus_two");
  EXPECT_EQ(status.code, 200);
  EXPECT_EQ(Body(status), json::parse(R"({"model_version_status": [{"version": "123",
      "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})"));
  EXPECT_EQ(Body(Get(*daemon, "/v1/models/half_plus_two/versions/123")), Body(status));
}

// Every expected file served today: REST row and columnar formats agree with
// the expected values (atol) and exactly with what gRPC answers.
void CheckExpectedOverRestAndGrpc(const std::string& name,
                                  const std::vector<std::string>& extra_flags = {}) {
  SS_REQUIRE_FIXTURE(path, "expected/" + name);
  const json c = ReadJson(path);
  std::vector<std::string> flags = {"--model_name=m",
                                    "--model_base_path=" + swapserve::testing::CaseModelPath(c)};
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  auto daemon = Daemon::Start(flags, true);
  ASSERT_NE(daemon, nullptr);
  const std::string signature = c.value("signature", "serving_default");

  // Columnar: each input as a nested list of its shape.
  json inputs = json::object();
  tfs::PredictRequest grpc_request;
  grpc_request.mutable_model_spec()->set_name("m");
  grpc_request.mutable_model_spec()->set_signature_name(signature);
  for (const auto& [alias, t] : c["inputs"].items()) {
    const auto shape = t["shape"].get<std::vector<int64_t>>();
    const auto values = t["values"].get<std::vector<float>>();
    const int64_t row = values.size() / shape[0];
    json rows = json::array();
    for (int64_t i = 0; i < shape[0]; ++i) {
      rows.push_back(std::vector<float>(values.begin() + i * row, values.begin() + (i + 1) * row));
    }
    inputs[alias] = rows;
    (*grpc_request.mutable_inputs())[alias] = FloatRequest("m", alias, shape, values).inputs().at(alias);
  }
  // Inputs of shape [N, K] only (what every expected file has): rows are lists.
  for (const auto& [alias, t] : c["inputs"].items()) ASSERT_EQ(t["shape"].size(), 2u) << alias;
  const json columnar_body = {{"signature_name", signature}, {"inputs", inputs}};
  json instances = json::array();
  const size_t n = c["inputs"].begin().value()["shape"][0];
  for (size_t i = 0; i < n; ++i) {
    if (inputs.size() == 1) {
      instances.push_back(inputs.begin().value()[i]);
    } else {
      json one;
      for (const auto& [alias, rows] : inputs.items()) one[alias] = rows[i];
      instances.push_back(one);
    }
  }
  const json row_body = {{"signature_name", signature}, {"instances", instances}};

  Reply columnar = Post(*daemon, "/v1/models/m:predict", columnar_body.dump());
  ASSERT_EQ(columnar.code, 200) << columnar.body << "\n" << daemon->Log();
  Reply row = Post(*daemon, "/v1/models/m:predict", row_body.dump());
  ASSERT_EQ(row.code, 200) << row.body;
  tfs::PredictResponse grpc_response;
  grpc::Status s = daemon->prediction().Predict(ContextWithDeadline().get(), grpc_request, &grpc_response);
  ASSERT_TRUE(s.ok()) << s.error_message();

  const json outputs = Body(columnar)["outputs"];
  const json predictions = Body(row)["predictions"];
  const double atol = c["atol"].get<double>();
  const bool single = c["outputs"].size() == 1;
  for (const auto& [alias, want] : c["outputs"].items()) {
    const std::vector<float> from_grpc = Floats(grpc_response.outputs().at(alias));
    const json column = single ? outputs : outputs[alias];
    std::vector<float> flat_columnar, flat_row;
    for (const json& r : column) for (const json& v : r) flat_columnar.push_back(v.get<float>());
    for (const json& p : predictions) {
      for (const json& v : single ? p : p[alias]) flat_row.push_back(v.get<float>());
    }
    ASSERT_EQ(flat_columnar.size(), want["values"].size()) << alias << ": " << column.dump();
    for (size_t i = 0; i < flat_columnar.size(); ++i) {
      EXPECT_NEAR(flat_columnar[i], want["values"][i].get<double>(), atol) << alias << "[" << i << "]";
    }
    // Floats travel shortest-round-trip, so REST gives gRPC's values exactly.
    EXPECT_EQ(flat_columnar, from_grpc) << alias;
    EXPECT_EQ(flat_row, from_grpc) << alias;
  }
}

TEST(ServerRestTest, ExpectedHalfPlusTwoTf1) { CheckExpectedOverRestAndGrpc("saved_model_half_plus_two_cpu.json"); }
TEST(ServerRestTest, ExpectedHalfPlusTwoTf2) { CheckExpectedOverRestAndGrpc("saved_model_half_plus_two_tf2_cpu.json"); }
TEST(ServerRestTest, ExpectedHalfPlusThree) { CheckExpectedOverRestAndGrpc("saved_model_half_plus_three.json"); }
TEST(ServerRestTest, ExpectedKerasSonar) { CheckExpectedOverRestAndGrpc("keras_saved_model_sonar.json"); }
TEST(ServerRestTest, ExpectedKerasH5) { CheckExpectedOverRestAndGrpc("keras_h5_bank_churn.json"); }
TEST(ServerRestTest, ExpectedSeedMlpFromCheckpoint) {
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  TempDir ckpt;
  MakeSeedCheckpointDir(prefix, ckpt.path());
  CheckExpectedOverRestAndGrpc("keras_seed_mlp.json", {"--checkpoint_dir=" + ckpt.path()});
}

// GET .../metadata is TF Serving's recorded answer, as JSON.
void CheckMetadata(const std::string& recorded, const std::string& model_dir,
                   const std::string& name, const std::string& path) {
  SS_REQUIRE_FIXTURE(want_path, recorded);
  SS_REQUIRE_FIXTURE(base, model_dir);
  TempDir dir;
  WriteFileOrDie(dir.Join("models.config"),
                 "model_config_list { config { name: '" + name + "' base_path: '" + base +
                     "' model_platform: 'tensorflow' model_version_policy { all {} } "
                     "version_labels { key: 'stable' value: 123 } } }");
  auto daemon = Daemon::Start({"--model_config_file=" + dir.Join("models.config")}, true);
  ASSERT_NE(daemon, nullptr);
  Reply got = Get(*daemon, path);
  EXPECT_EQ(got.code, 200) << got.body;
  EXPECT_EQ(Body(got), ReadJson(want_path));
}

TEST(ServerRestTest, MetadataEqualsTfServing) {
  CheckMetadata("tf_serving/half_plus_two_model_metadata.json",
                "tf_serving/saved_model_half_plus_two_cpu", "default", "/v1/models/default/metadata");
}

TEST(ServerRestTest, MetadataEqualsTfServingTwoVersionsByLabel) {
  CheckMetadata("tf_serving/saved_model_half_plus_two_2_versions_metadata.json",
                "tf_serving/saved_model_half_plus_two_2_versions",
                "saved_model_half_plus_two_2_versions",
                "/v1/models/saved_model_half_plus_two_2_versions/labels/stable/metadata");
}

TEST(ServerRestTest, StatusOfVersionsAndLabels) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_2_versions");
  TempDir dir;
  WriteFileOrDie(dir.Join("models.config"),
                 "model_config_list { config { name: 'two words' base_path: '" + base +
                     "' model_platform: 'tensorflow' model_version_policy { all {} } "
                     "version_labels { key: 'can ary' value: 124 } } }");
  auto daemon = Daemon::Start({"--model_config_file=" + dir.Join("models.config")}, true);
  ASSERT_NE(daemon, nullptr);
  // Names and labels are percent-decoded.
  const json all = Body(Get(*daemon, "/v1/models/two%20words"));
  ASSERT_EQ(all["model_version_status"].size(), 2u) << all.dump();
  EXPECT_EQ(all["model_version_status"][0]["version"], "123");
  EXPECT_EQ(all["model_version_status"][1]["version"], "124");
  const json labelled = Body(Get(*daemon, "/v1/models/two%20words/labels/can%20ary"));
  ASSERT_EQ(labelled["model_version_status"].size(), 1u) << labelled.dump();
  EXPECT_EQ(labelled["model_version_status"][0]["version"], "124");
  // Predict by label answers from version 124, and says which weights.
  Reply by_label = Post(*daemon, "/v1/models/two%20words/labels/can%20ary:predict",
                        R"({"instances": [[1.0]]})");
  EXPECT_EQ(by_label.code, 200) << by_label.body;
  EXPECT_EQ(HeaderValue(by_label, "swapserve-checkpoint"), "saved_model");

  Reply unknown_version = Get(*daemon, "/v1/models/two%20words/versions/7");
  EXPECT_EQ(unknown_version.code, 404);
  EXPECT_EQ(Body(unknown_version)["error"], "Could not find version 7 of model two words");
  Reply unknown_label = Get(*daemon, "/v1/models/two%20words/labels/nope");
  EXPECT_EQ(unknown_label.code, 400);
  EXPECT_EQ(Body(unknown_label)["error"], "Unrecognized servable version label: nope");
  Reply both = Get(*daemon, "/v1/models/two%20words/versions/123/labels/can%20ary");
  EXPECT_EQ(both.code, 400);
  EXPECT_EQ(Body(both)["error"],
            "Both model version (123) and model version label (can ary) cannot be supplied.");
}

// Each error class: its HTTP code, {"error": message}, and the message the gRPC
// path gives for the same request.
TEST(ServerRestTest, ErrorsCarryTfServingCodesAndTheGrpcMessages) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto daemon = HalfPlusTwo();
  ASSERT_NE(daemon, nullptr);
  auto grpc_error = [&](const std::string& model, const std::string& signature,
                        const std::string& alias) {
    tfs::PredictRequest request = FloatRequest(model, alias, {1, 1}, {1.0f});
    request.mutable_model_spec()->set_signature_name(signature);
    tfs::PredictResponse response;
    return daemon->prediction().Predict(ContextWithDeadline().get(), request, &response).error_message();
  };
  struct Case {
    std::string path, body;
    int code;
    std::string grpc_message;  // empty: REST-only error, checked by substring below
    std::string contains;
  };
  const std::vector<Case> cases = {
      {"/v1/models/nope:predict", R"({"instances": [[1.0]]})", 404, grpc_error("nope", "", "x"), ""},
      {"/v1/models/half_plus_two:predict", R"({"signature_name": "zzz", "instances": [[1.0]]})", 400,
       grpc_error("half_plus_two", "zzz", "x"), ""},
      {"/v1/models/half_plus_two:predict", R"({"inputs": {"q": [[1.0]]}})", 400, "",
       "Missing named input: x"},
      {"/v1/models/half_plus_two:predict", R"({"instances": [[1.0]], "inputs": [[1.0]]})", 400, "",
       "expecting only one of 'inputs' or 'instances'"},
      {"/v1/models/half_plus_two:predict", R"({"instances": [[1.0], [2.0, 3.0]]})", 400, "", ""},
      {"/v1/models/half_plus_two:predict", R"({"instances": [["a"]]})", 400, "", ""},
      {"/v1/models/half_plus_two:predict", R"({"instances": )", 400, "", "JSON Parse error"},
      {"/v1/models/half_plus_two:predict", "{}", 400, "", ""},
      {"/v1/models/half_plus_two/versions/99:predict", R"({"instances": [[1.0]]})", 404,
       "Servable not found for request: Specific(half_plus_two, 99)", ""},
      {"/v1/models/half_plus_two:classify", R"({"examples": [{"x": 1.0}]})", 400, "",
       "Expected signature method_name to be tensorflow/serving/classify"},
      {"/v1/models/half_plus_two:explode", "{}", 400,
       "Malformed request: POST /v1/models/half_plus_two:explode", ""},
      {"/v1/models/half_plus_two/checkpoints:pin", R"({"prefix": "x"})", 400,
       "model half_plus_two does not follow a checkpoint directory", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path + " " + c.body);
    Reply r = Post(*daemon, c.path, c.body);
    EXPECT_EQ(r.code, c.code) << r.body;
    EXPECT_EQ(HeaderValue(r, "Content-Type"), "application/json");
    const json body = Body(r);
    ASSERT_TRUE(body.is_object() && body.contains("error") && body.size() == 1) << r.body;
    const std::string message = body["error"];
    EXPECT_FALSE(message.empty());
    if (!c.grpc_message.empty()) {
      EXPECT_EQ(message, c.grpc_message);
    }
    if (!c.contains.empty()) {
      EXPECT_TRUE(absl::StrContains(message, c.contains)) << message;
    }
  }
  Reply get_predict = Get(*daemon, "/v1/models/half_plus_two:predict");
  EXPECT_EQ(get_predict.code, 400) << get_predict.body;
  Reply outside = Get(*daemon, "/healthz");
  EXPECT_EQ(outside.code, 404);
  EXPECT_TRUE(Body(outside).contains("error"));
  Reply no_name = Get(*daemon, "/v1/models");
  EXPECT_EQ(no_name.code, 400);
  EXPECT_EQ(Body(no_name)["error"], "Missing model name in request.");
  Reply put = Curl("-X PUT " + daemon->Url("/v1/models/half_plus_two"));
  EXPECT_EQ(put.code, 405);
  // After all of that, a good request still succeeds.
  EXPECT_EQ(Post(*daemon, "/v1/models/half_plus_two:predict", R"({"instances": [1.0]})").code, 200);
}

// The checkpoint admin over REST: list, pin, unpin, rollback — and the weights
// headers name what each response ran on.
TEST(ServerRestTest, CheckpointAdminRoutes) {
  SS_REQUIRE_FIXTURE(prefix, "keras_seed_mlp/training_2/cp-0000.ckpt");
  SS_REQUIRE_FIXTURE(model, "keras_seed_mlp/saved_model");
  TempDir ckpt;
  MakeSeedCheckpointDir(prefix, ckpt.path());
  auto daemon = Daemon::Start({"--model_name=mlp", "--model_base_path=" + model,
                               "--checkpoint_dir=" + ckpt.path()},
                              true);
  ASSERT_NE(daemon, nullptr);
  const json list = Body(Get(*daemon, "/v1/models/mlp/checkpoints"));
  ASSERT_TRUE(list.contains("state")) << list.dump();
  EXPECT_EQ(list["state"]["serving_prefix"].get<std::string>().find("cp-0000.ckpt") !=
                std::string::npos,
            true)
      << list.dump();
  ASSERT_FALSE(list["on_disk"].empty()) << list.dump();

  const std::string input = json{{"instances", json::array({std::vector<float>(784, 0.5f)})}}.dump();
  Reply predicted = Post(*daemon, "/v1/models/mlp:predict", input);
  EXPECT_EQ(predicted.code, 200) << predicted.body;
  EXPECT_EQ(HeaderValue(predicted, "swapserve-checkpoint"), "cp-0000.ckpt");
  EXPECT_EQ(HeaderValue(predicted, "swapserve-weights-version"), "1");

  Reply early_rollback = Post(*daemon, "/v1/models/mlp/checkpoints:rollback", "");
  // Nothing to roll back to yet: the follower's own error, as over gRPC.
  EXPECT_EQ(early_rollback.code, 400) << early_rollback.body;
  EXPECT_EQ(Body(early_rollback)["error"], "no previous weights to roll back to");

  // Pinning reloads the checkpoint: a new generation of the same weights.
  Reply pinned = Post(*daemon, "/v1/models/mlp/checkpoints:pin",
                      json{{"prefix", ckpt.Join("cp-0000.ckpt")}}.dump());
  EXPECT_EQ(pinned.code, 200) << pinned.body;
  EXPECT_EQ(Body(pinned)["pinned"], true) << pinned.body;
  EXPECT_EQ(Body(pinned)["weights_version"], "2") << "int64 as a JSON string, proto JSON's rule";
  EXPECT_EQ(HeaderValue(Post(*daemon, "/v1/models/mlp:predict", input), "swapserve-weights-version"),
            "2");
  Reply bad_pin = Post(*daemon, "/v1/models/mlp/checkpoints:pin", R"({"prefix": "/no/such"})");
  EXPECT_EQ(bad_pin.code / 100, 4) << bad_pin.body;
  Reply no_prefix = Post(*daemon, "/v1/models/mlp/checkpoints:pin", "{}");
  EXPECT_EQ(no_prefix.code, 400);
  EXPECT_EQ(Body(no_prefix)["error"], "Pin needs a checkpoint prefix");
  Reply not_json = Post(*daemon, "/v1/models/mlp/checkpoints:pin", "{prefix");
  EXPECT_EQ(not_json.code, 400);
  Reply unpinned = Post(*daemon, "/v1/models/mlp/checkpoints:unpin", "");
  EXPECT_EQ(unpinned.code, 200) << unpinned.body;
  EXPECT_EQ(Body(unpinned)["pinned"], false) << unpinned.body;
  Reply rollback = Post(*daemon, "/v1/models/mlp/checkpoints:rollback", "");
  EXPECT_EQ(rollback.code, 200) << rollback.body;
  EXPECT_EQ(Body(rollback)["weights_version"], "3") << rollback.body;
  EXPECT_EQ(Body(rollback)["pinned"], true) << "a rollback pins what it rolled back to";
  Reply versioned = Get(*daemon, "/v1/models/mlp/versions/1/checkpoints");
  EXPECT_EQ(versioned.code, 400);
}

}  // namespace
}  // namespace swapserve::testing
