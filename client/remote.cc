#include "client/remote.h"

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/args.h"
#include "client/example_json.h"
#include "client/tensor_json.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "model/tensor_proto.h"
#include "model/util/status_macros.h"
#include "swapserve/admin/v1/admin.grpc.pb.h"
#include "tensorflow_serving/apis/model_service.grpc.pb.h"
#include "tensorflow_serving/apis/prediction_service.grpc.pb.h"

namespace swapserve::cli {

const char kRemoteUsage[] =
    "remote commands (--server HOST:PORT, default localhost:8500; --timeout SECONDS;\n"
    "  --admin_token_file F sends F's token as 'authorization: Bearer', which a daemon\n"
    "  started with --admin_token_file needs for reload-config and checkpoints\n"
    "  pin|unpin|rollback; --ssl_ca_file CA.pem speaks TLS to a daemon started with\n"
    "  --ssl_config_file, trusting CA.pem, and --ssl_cert_file/--ssl_key_file present\n"
    "  a client certificate for its client_verify):\n"
    "  predict --model M [--version N | --label L] [--signature S] --input F.json\n"
    "       [--output F]    Predict; input/output JSON as for `run`\n"
    "  classify|regress --model M [...] --input F.json\n"
    "                       F.json: {\"examples\": [{\"x\": 1.0}, ...], \"context\": {...}}\n"
    "  metadata --model M [--version N | --label L]   GetModelMetadata\n"
    "  status --model M [--version N]                  GetModelStatus\n"
    "  health [--service NAME]   grpc.health.v1 Check; exit 0 only when SERVING\n"
    "  reload-config FILE        HandleReloadConfigRequest with a text ModelServerConfig\n"
    "  checkpoints list|pin PREFIX|unpin|rollback|watch --model M [--count N]\n"
    "                       a followed checkpoint directory: history and files, pin a\n"
    "                       checkpoint, follow again, roll back, stream events (JSON\n"
    "                       lines; --count N stops after N)\n";

namespace {

namespace tfs = tensorflow::serving;

int Fail(const std::string& message, int code = 1) {
  std::cerr << "swapserve-cli: " << message << "\n";
  return code;
}

int FailRpc(const grpc::Status& s) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int code = s.error_code();
  const std::string name = code >= 0 && code <= 16 ? kNames[code] : absl::StrCat("CODE_", code);
  return Fail(absl::StrCat(name, ": ", s.error_message()));
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<nlohmann::json> ReadJson(const std::string& path) {
  absl::StatusOr<std::string> text = ReadText(path);
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(path + " is not valid JSON");
  return j;
}

int Print(const nlohmann::json& j, const Args& args) {
  const std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  if (auto out = args.Get("output")) {
    std::ofstream f(*out);
    f << text << "\n";
    if (!f) return Fail("cannot write " + *out);
  } else {
    std::cout << text << "\n";
  }
  return 0;
}

nlohmann::json ProtoJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(m, &text, options).ok()) return nullptr;
  return nlohmann::json::parse(text, nullptr, false);
}

// One remote call's setting: the channel, deadline and the model spec flags.
struct Call {
  std::shared_ptr<grpc::Channel> channel;
  int timeout_seconds = 30;
  std::string authorization;  // "Bearer <token>" with --admin_token_file

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds));
    if (!authorization.empty()) context->AddMetadata("authorization", authorization);
    return context;
  }
};

// Plaintext, or TLS with --ssl_ca_file (and a client certificate with
// --ssl_cert_file + --ssl_key_file): the server's name is checked against its
// certificate as gRPC does, from --server's host.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const Args& args) {
  const auto ca = args.Get("ssl_ca_file");
  const auto cert = args.Get("ssl_cert_file");
  const auto key = args.Get("ssl_key_file");
  if (!ca && !cert && !key) return grpc::InsecureChannelCredentials();
  if (!ca) return absl::InvalidArgumentError("--ssl_cert_file/--ssl_key_file need --ssl_ca_file");
  if (cert.has_value() != key.has_value()) {
    return absl::InvalidArgumentError("--ssl_cert_file and --ssl_key_file go together");
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> text = ReadText(*ca);
  if (!text.ok()) return text.status();
  ssl.pem_root_certs = *std::move(text);
  if (cert) {
    text = ReadText(*cert);
    if (!text.ok()) return text.status();
    ssl.pem_cert_chain = *std::move(text);
    text = ReadText(*key);
    if (!text.ok()) return text.status();
    ssl.pem_private_key = *std::move(text);
  }
  return grpc::SslCredentials(ssl);
}

absl::StatusOr<Call> Connect(const Args& args) {
  Call call;
  if (auto t = args.Get("timeout")) {
    if (!absl::SimpleAtoi(*t, &call.timeout_seconds) || call.timeout_seconds <= 0) {
      return absl::InvalidArgumentError("--timeout must be a positive number of seconds");
    }
  }
  if (auto file = args.Get("admin_token_file")) {
    absl::StatusOr<std::string> token = ReadText(*file);
    if (!token.ok()) return token.status();
    call.authorization = absl::StrCat("Bearer ", absl::StripAsciiWhitespace(*token));
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = Credentials(args);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(-1);
  call.channel = grpc::CreateCustomChannel(args.Get("server").value_or("localhost:8500"),
                                           *credentials, channel_args);
  return call;
}

absl::StatusOr<tfs::ModelSpec> SpecFromArgs(const Args& args, bool allow_label) {
  tfs::ModelSpec spec;
  auto model = args.Get("model");
  if (!model) return absl::InvalidArgumentError("--model is required");
  spec.set_name(*model);
  if (args.Has("version") && args.Has("label")) {
    return absl::InvalidArgumentError("give --version or --label, not both");
  }
  if (auto v = args.Get("version")) {
    int64_t version;
    if (!absl::SimpleAtoi(*v, &version)) return absl::InvalidArgumentError("--version must be a number");
    spec.mutable_version()->set_value(version);
  }
  if (auto l = args.Get("label")) {
    if (!allow_label) return absl::InvalidArgumentError("--label is not accepted here");
    spec.set_version_label(*l);
  }
  spec.set_signature_name(args.Get("signature").value_or(""));
  return spec;
}

nlohmann::json SpecJson(const tfs::ModelSpec& spec) {
  return {{"name", spec.name()},
          {"version", spec.has_version() ? spec.version().value() : 0},
          {"signature_name", spec.signature_name()}};
}

// The trailers naming the weights that answered.
nlohmann::json WeightsJson(const grpc::ClientContext& context) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    const std::string k(key.data(), key.size()), v(value.data(), value.size());
    if (k == "swapserve-checkpoint") j["checkpoint"] = v;
    if (k == "swapserve-weights-version") j["weights_version"] = v;
  }
  return j;
}

}  // namespace

absl::StatusOr<tfs::PredictRequest> PredictRequestFromArgs(const Args& args) {
  ASSIGN_OR_RETURN(tfs::ModelSpec spec, SpecFromArgs(args, true));
  if (!args.Has("input")) return absl::InvalidArgumentError("--input FILE.json is required");
  ASSIGN_OR_RETURN(nlohmann::json input, ReadJson(*args.Get("input")));
  if (!input.contains("inputs") || !input["inputs"].is_object()) {
    return absl::InvalidArgumentError("the input JSON needs an \"inputs\" object");
  }
  tfs::PredictRequest request;
  *request.mutable_model_spec() = spec;
  for (const auto& [alias, value] : input["inputs"].items()) {
    ASSIGN_OR_RETURN(Tensor tensor, TensorFromJson(value, absl::StrCat("input '", alias, "'")));
    TensorToProto(tensor, &(*request.mutable_inputs())[alias]);
  }
  return request;
}

namespace {

int Predict(const Args& args, const Call& call) {
  if (auto spec = SpecFromArgs(args, true); !spec.ok()) {
    return Fail(std::string(spec.status().message()), 2);
  }
  if (!args.Has("input")) return Fail("--input FILE.json is required", 2);
  absl::StatusOr<tfs::PredictRequest> built = PredictRequestFromArgs(args);
  if (!built.ok()) return Fail(std::string(built.status().message()));
  const tfs::PredictRequest& request = *built;
  tfs::PredictResponse response;
  auto context = call.Context();
  grpc::Status s = tfs::PredictionService::NewStub(call.channel)->Predict(context.get(), request, &response);
  if (!s.ok()) return FailRpc(s);
  nlohmann::json out = {{"model_spec", SpecJson(response.model_spec())},
                        {"weights", WeightsJson(*context)},
                        {"outputs", nlohmann::json::object()}};
  for (const auto& [alias, proto] : response.outputs()) {
    auto tensor = TensorFromProto(proto);
    if (!tensor.ok()) return Fail(absl::StrCat("output '", alias, "': ", tensor.status().message()));
    out["outputs"][alias] = TensorToJson(*tensor);
  }
  return Print(out, args);
}

absl::StatusOr<tfs::Input> ExamplesFromJson(const nlohmann::json& j) {
  if (!j.contains("examples") || !j["examples"].is_array()) {
    return absl::InvalidArgumentError("the input JSON needs an \"examples\" array");
  }
  tfs::Input input;
  google::protobuf::RepeatedPtrField<tensorflow::Example>* examples;
  if (j.contains("context")) {
    auto context = ExampleFromJson(j["context"]);
    if (!context.ok()) return context.status();
    *input.mutable_example_list_with_context()->mutable_context() = *context;
    examples = input.mutable_example_list_with_context()->mutable_examples();
  } else {
    examples = input.mutable_example_list()->mutable_examples();
  }
  for (const auto& e : j["examples"]) {
    auto example = ExampleFromJson(e);
    if (!example.ok()) return example.status();
    *examples->Add() = *example;
  }
  return input;
}

int ClassifyOrRegress(const std::string& command, const Args& args, const Call& call) {
  auto spec = SpecFromArgs(args, true);
  if (!spec.ok()) return Fail(std::string(spec.status().message()), 2);
  if (!args.Has("input")) return Fail("--input FILE.json is required", 2);
  auto json = ReadJson(*args.Get("input"));
  if (!json.ok()) return Fail(std::string(json.status().message()));
  auto input = ExamplesFromJson(*json);
  if (!input.ok()) return Fail(std::string(input.status().message()));
  auto stub = tfs::PredictionService::NewStub(call.channel);
  auto context = call.Context();
  nlohmann::json result = nlohmann::json::array();
  tfs::ModelSpec answered;
  grpc::Status s;
  if (command == "classify") {
    tfs::ClassificationRequest request;
    *request.mutable_model_spec() = *spec;
    *request.mutable_input() = *input;
    tfs::ClassificationResponse response;
    s = stub->Classify(context.get(), request, &response);
    for (const auto& c : response.result().classifications()) {
      nlohmann::json classes = nlohmann::json::array();
      for (const auto& cls : c.classes()) classes.push_back({{"label", cls.label()}, {"score", cls.score()}});
      result.push_back(classes);
    }
    answered = response.model_spec();
  } else {
    tfs::RegressionRequest request;
    *request.mutable_model_spec() = *spec;
    *request.mutable_input() = *input;
    tfs::RegressionResponse response;
    s = stub->Regress(context.get(), request, &response);
    for (const auto& r : response.result().regressions()) result.push_back(r.value());
    answered = response.model_spec();
  }
  if (!s.ok()) return FailRpc(s);
  return Print({{"model_spec", SpecJson(answered)}, {"weights", WeightsJson(*context)},
                {"result", result}},
               args);
}

int Metadata(const Args& args, const Call& call) {
  auto spec = SpecFromArgs(args, true);
  if (!spec.ok()) return Fail(std::string(spec.status().message()), 2);
  tfs::GetModelMetadataRequest request;
  *request.mutable_model_spec() = *spec;
  request.add_metadata_field("signature_def");
  tfs::GetModelMetadataResponse response;
  auto context = call.Context();
  grpc::Status s = tfs::PredictionService::NewStub(call.channel)
                       ->GetModelMetadata(context.get(), request, &response);
  if (!s.ok()) return FailRpc(s);
  return Print(ProtoJson(response), args);
}

int Status(const Args& args, const Call& call) {
  auto spec = SpecFromArgs(args, false);
  if (!spec.ok()) return Fail(std::string(spec.status().message()), 2);
  tfs::GetModelStatusRequest request;
  *request.mutable_model_spec() = *spec;
  tfs::GetModelStatusResponse response;
  auto context = call.Context();
  grpc::Status s =
      tfs::ModelService::NewStub(call.channel)->GetModelStatus(context.get(), request, &response);
  if (!s.ok()) return FailRpc(s);
  return Print(ProtoJson(response), args);
}

int Health(const Args& args, const Call& call) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(args.Get("service").value_or(""));
  grpc::health::v1::HealthCheckResponse response;
  auto context = call.Context();
  grpc::Status s = grpc::health::v1::Health::NewStub(call.channel)->Check(context.get(), request, &response);
  if (!s.ok()) return FailRpc(s);
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()) << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

int ReloadConfig(const Args& args, const Call& call) {
  if (args.positional().size() != 1) return Fail("usage: reload-config FILE --server HOST:PORT", 2);
  auto text = ReadText(args.positional()[0]);
  if (!text.ok()) return Fail(std::string(text.status().message()));
  tfs::ReloadConfigRequest request;
  if (!google::protobuf::TextFormat::ParseFromString(*text, request.mutable_config())) {
    return Fail(args.positional()[0] + " is not a text-format ModelServerConfig");
  }
  tfs::ReloadConfigResponse response;
  auto context = call.Context();
  grpc::Status s = tfs::ModelService::NewStub(call.channel)
                       ->HandleReloadConfigRequest(context.get(), request, &response);
  if (!s.ok()) return FailRpc(s);
  return Print(ProtoJson(response), args);
}

// Streams checkpoint events as JSON lines until --count events or the end.
int WatchCheckpoints(const Args& args, const Call& call,
                     swapserve::admin::v1::CheckpointAdmin::Stub& stub, const std::string& model) {
  namespace admin = swapserve::admin::v1;
  int64_t count = -1;
  if (auto c = args.Get("count"); c && (!absl::SimpleAtoi(*c, &count) || count <= 0)) {
    return Fail("--count must be a positive number", 2);
  }
  grpc::ClientContext context;  // no deadline unless --timeout is given
  if (args.Has("timeout")) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(call.timeout_seconds));
  }
  admin::WatchRequest request;
  request.set_model(model);
  auto reader = stub.Watch(&context, request);
  admin::CheckpointEvent event;
  while (count != 0 && reader->Read(&event)) {
    std::cout << ProtoJson(event).dump() << std::endl;
    if (count > 0) --count;
  }
  if (count == 0) {
    context.TryCancel();
    return 0;
  }
  grpc::Status s = reader->Finish();
  return s.ok() ? 0 : FailRpc(s);
}

int Checkpoints(const Args& args, const Call& call) {
  namespace admin = swapserve::admin::v1;
  const std::vector<std::string>& pos = args.positional();
  const std::string action = pos.empty() ? "" : pos[0];
  const bool pin = action == "pin";
  if (!(pos.size() == 1 || (pin && pos.size() == 2)) ||
      (action != "list" && action != "pin" && action != "unpin" && action != "rollback" &&
       action != "watch")) {
    return Fail("usage: checkpoints list|pin PREFIX|unpin|rollback|watch --model M", 2);
  }
  if (pin && pos.size() != 2) return Fail("usage: checkpoints pin PREFIX --model M", 2);
  const std::string model = args.Get("model").value_or("");
  if (model.empty() && action != "watch") return Fail("--model is required", 2);
  auto stub = admin::CheckpointAdmin::NewStub(call.channel);
  grpc::Status s;
  if (action == "watch") return WatchCheckpoints(args, call, *stub, model);
  auto context = call.Context();
  if (action == "list") {
    admin::ListCheckpointsRequest request;
    request.set_model(model);
    admin::ListCheckpointsResponse response;
    s = stub->ListCheckpoints(context.get(), request, &response);
    return s.ok() ? Print(ProtoJson(response), args) : FailRpc(s);
  }
  admin::ServingState state;
  if (pin) {
    admin::PinRequest request;
    request.set_model(model);
    request.set_prefix(pos[1]);
    s = stub->Pin(context.get(), request, &state);
  } else if (action == "unpin") {
    admin::UnpinRequest request;
    request.set_model(model);
    s = stub->Unpin(context.get(), request, &state);
  } else {
    admin::RollbackRequest request;
    request.set_model(model);
    s = stub->Rollback(context.get(), request, &state);
  }
  return s.ok() ? Print(ProtoJson(state), args) : FailRpc(s);
}

}  // namespace

bool IsRemoteCommand(const std::string& command) {
  return command == "predict" || command == "classify" || command == "regress" ||
         command == "metadata" || command == "status" || command == "health" ||
         command == "reload-config" || command == "checkpoints";
}

int RunRemoteCommand(const std::string& command, const std::vector<std::string>& words) {
  auto args = Args::Parse(words, {"server", "timeout", "model", "version", "label", "signature",
                                  "input", "output", "service", "count", "admin_token_file",
                                  "ssl_ca_file", "ssl_cert_file", "ssl_key_file"},
                          {});
  if (!args.ok()) return Fail(std::string(args.status().message()), 2);
  if (command != "reload-config" && command != "checkpoints" && !args->positional().empty()) {
    return Fail(absl::StrCat(command, " takes no positional arguments"), 2);
  }
  auto call = Connect(*args);
  if (!call.ok()) return Fail(std::string(call.status().message()), 2);
  if (command == "predict") return Predict(*args, *call);
  if (command == "classify" || command == "regress") return ClassifyOrRegress(command, *args, *call);
  if (command == "metadata") return Metadata(*args, *call);
  if (command == "status") return Status(*args, *call);
  if (command == "health") return Health(*args, *call);
  if (command == "checkpoints") return Checkpoints(*args, *call);
  return ReloadConfig(*args, *call);
}

}  // namespace swapserve::cli
