// swapserve-cli bench (see bench.h): gRPC clients with their own channels,
// driven asynchronously from one thread per core; REST clients on a thread
// each; per-client samples merged at the end.
#include "client/bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/args.h"
#include "client/http_connection.h"
#include "client/remote.h"
#include "client/tensor_json.h"
#include "model/tensor_proto.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "swapserve/bench/v1/echo.grpc.pb.h"
#include "tensorflow_serving/apis/prediction_service.grpc.pb.h"

namespace swapserve::cli {

const char kBenchUsage[] =
    "  bench --model M [--signature S] --input F.json [--concurrency N] [--rate QPS]\n"
    "       [--duration SECONDS] [--warmup SECONDS] [--floor] [--rest HOST:PORT] [--json]\n"
    "       [--samples FILE.csv]\n"
    "                       load generator: closed loop (N clients) or open loop\n"
    "                       (Poisson arrivals at QPS); latency percentiles, calls/s,\n"
    "                       errors, responses per checkpoint per second; --floor also\n"
    "                       runs the same load against Echo (swapserve --enable_echo);\n"
    "                       --rest sends the calls to the REST API instead of gRPC\n";

namespace {

namespace tfs = tensorflow::serving;

struct Settings {
  std::string server = "localhost:8500";
  std::string rest;  // HOST:PORT of the REST API; empty: gRPC
  int concurrency = 1;
  double rate = 0;  // calls/s; 0: closed loop
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration timeout = absl::Seconds(30);
};

// What one client thread saw after the warm-up.
struct Samples {
  std::vector<double> latency_us;  // successful calls
  std::map<std::string, int64_t> errors;  // by gRPC code name, or "HTTP 503", "transport"
  std::map<int64_t, std::map<std::string, int64_t>> weights;  // second -> checkpoint -> calls
};

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    default: return "OTHER";
  }
}

// Poisson arrival times shared by the open-loop clients.
class Arrivals {
 public:
  Arrivals(double rate, absl::Time start) : gap_(rate), next_(start) {}
  absl::Time Next() {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time t = next_;
    next_ += absl::Seconds(gap_(gen_));
    return t;
  }

 private:
  std::mutex mu_;
  std::mt19937_64 gen_{42};
  std::exponential_distribution<double> gap_;
  absl::Time next_;
};

// `flat` (row-major values) as nested JSON arrays of `dims`.
nlohmann::json Nest(const nlohmann::json& flat, const std::vector<int64_t>& dims, size_t dim,
                    size_t* at) {
  if (dim == dims.size()) return flat[(*at)++];
  nlohmann::json out = nlohmann::json::array();
  for (int64_t i = 0; i < dims[dim]; ++i) out.push_back(Nest(flat, dims, dim + 1, at));
  return out;
}

// The REST call equal to `request`: TF Serving's predict URL for its model
// spec, and a columnar body ({"inputs": {alias: nested values}}).
struct RestCall {
  std::string path, body;
};

absl::StatusOr<RestCall> ToRestCall(const tfs::PredictRequest& request) {
  const tfs::ModelSpec& spec = request.model_spec();
  RestCall call{absl::StrCat("/v1/models/", spec.name()), ""};
  if (spec.has_version()) absl::StrAppend(&call.path, "/versions/", spec.version().value());
  if (!spec.version_label().empty()) absl::StrAppend(&call.path, "/labels/", spec.version_label());
  absl::StrAppend(&call.path, ":predict");
  nlohmann::json body = {{"inputs", nlohmann::json::object()}};
  if (!spec.signature_name().empty()) body["signature_name"] = spec.signature_name();
  for (const auto& [alias, proto] : request.inputs()) {
    absl::StatusOr<Tensor> t = TensorFromProto(proto);
    if (!t.ok()) return t.status();
    const nlohmann::json flat = TensorToJson(*t);
    if (flat["values"].is_null()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", alias, "': ",
                                                     DataTypeName(t->dtype()),
                                                     " has no REST JSON form here"));
    }
    size_t at = 0;
    body["inputs"][alias] = Nest(flat["values"], t->shape().dims(), 0, &at);
  }
  call.body = body.dump();
  return call;
}

// One REST Predict on `connection`: the status ("" when OK) and the checkpoint
// that answered.
std::string RestPredict(HttpConnection& connection, const RestCall& call, std::string* checkpoint) {
  absl::StatusOr<HttpResponse> r = connection.PostJson(call.path, call.body);
  if (!r.ok()) return "transport";
  if (r->status != 200) return absl::StrCat("HTTP ", r->status);
  auto it = r->headers.find("swapserve-checkpoint");
  *checkpoint = it == r->headers.end() ? "(none)" : it->second;
  return "";
}

// Records one answered call (nothing that was sent before the warm-up ended):
// its latency and checkpoint, or its error.
void Record(Samples& mine, absl::Time measure_from, absl::Time sent, absl::Time done,
            const std::string& error, const std::string& checkpoint) {
  if (sent < measure_from) return;
  if (!error.empty()) {
    ++mine.errors[error];
    return;
  }
  mine.latency_us.push_back(absl::ToDoubleMicroseconds(done - sent));
  ++mine.weights[(done - measure_from) / absl::Seconds(1)][checkpoint];
}

// One phase's clock: warm-up, then the measured part.
struct Phase {
  absl::Time measure_from, end;
};

// REST clients: one thread each, blocking calls on a keep-alive connection.
void RunRestClients(const Settings& s, const RestCall& rest, const Phase& phase,
                    Arrivals& arrivals, std::vector<Samples>& samples) {
  std::vector<std::thread> threads;
  for (int i = 0; i < s.concurrency; ++i) {
    threads.emplace_back([&, i] {
      HttpConnection http(s.rest, s.timeout);
      for (;;) {
        absl::Time sent = absl::Now();
        if (s.rate > 0) {
          sent = arrivals.Next();
          if (sent >= phase.end) break;
          absl::SleepFor(sent - absl::Now());
        } else if (sent >= phase.end) {
          break;
        }
        std::string checkpoint;
        const std::string error = RestPredict(http, rest, &checkpoint);
        Record(samples[i], phase.measure_from, sent, absl::Now(), error, checkpoint);
      }
    });
  }
  for (auto& t : threads) t.join();
}

// A gRPC client of the asynchronous driver: its own connection, at most one
// call in flight (the call's state lives here until it is answered).
struct GrpcClient {
  std::unique_ptr<tfs::PredictionService::Stub> predict;
  std::unique_ptr<swapserve::bench::v1::Echo::Stub> echo;
  Samples* samples = nullptr;
  absl::Time next;  // when its next call is due
  bool busy = false;
  bool done = false;
  absl::Time sent;
  std::unique_ptr<grpc::ClientContext> context;
  grpc::Status status;
  tfs::PredictResponse predict_response;
  swapserve::bench::v1::EchoResponse echo_response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<tfs::PredictResponse>> predict_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<swapserve::bench::v1::EchoResponse>> echo_reader;
};

// The gRPC calls of `clients` (Predict, or Echo when `floor`) from one thread
// and one completion queue: a client sends when its call is due — at once in
// a closed loop, at its Poisson arrival in an open one — and records the
// answer when it comes. Threads of their own per client would compete with
// the daemon for the machine's cores; a driver per core keeps the load
// generator's own cost small.
void DriveGrpcClients(const Settings& s, const tfs::PredictRequest& request, bool floor,
                      const Phase& phase, Arrivals& arrivals, std::vector<GrpcClient*> clients) {
  grpc::CompletionQueue cq;
  auto due = [&] { return s.rate > 0 ? arrivals.Next() : absl::Now(); };
  for (GrpcClient* c : clients) c->next = due();
  int in_flight = 0;
  for (;;) {
    const absl::Time now = absl::Now();
    absl::Time wake = absl::InfiniteFuture();
    for (GrpcClient* c : clients) {
      if (c->busy || c->done) continue;
      if (c->next >= phase.end) {
        c->done = true;
      } else if (c->next > now) {
        wake = std::min(wake, c->next);
      } else {
        c->sent = s.rate > 0 ? c->next : now;
        c->context = std::make_unique<grpc::ClientContext>();
        c->context->set_deadline(absl::ToChronoTime(now + s.timeout));
        if (floor) {
          c->echo_reader = c->echo->PrepareAsyncEcho(c->context.get(), request, &cq);
          c->echo_reader->StartCall();
          c->echo_reader->Finish(&c->echo_response, &c->status, c);
        } else {
          c->predict_reader = c->predict->PrepareAsyncPredict(c->context.get(), request, &cq);
          c->predict_reader->StartCall();
          c->predict_reader->Finish(&c->predict_response, &c->status, c);
        }
        c->busy = true;
        ++in_flight;
      }
    }
    if (in_flight == 0 && wake == absl::InfiniteFuture()) break;
    void* tag = nullptr;
    bool ok = false;
    const absl::Time until = wake == absl::InfiniteFuture() ? now + absl::Seconds(1) : wake;
    if (cq.AsyncNext(&tag, &ok, absl::ToChronoTime(until)) !=
        grpc::CompletionQueue::GOT_EVENT) {
      continue;
    }
    GrpcClient& c = *static_cast<GrpcClient*>(tag);
    const absl::Time done = absl::Now();
    --in_flight;
    c.busy = false;
    std::string error, checkpoint = floor ? "echo" : "(none)";
    if (!c.status.ok()) {
      error = CodeName(c.status.error_code());
    } else if (!floor) {
      for (const auto& [key, value] : c.context->GetServerTrailingMetadata()) {
        if (key == "swapserve-checkpoint") checkpoint.assign(value.data(), value.size());
      }
    }
    Record(*c.samples, phase.measure_from, c.sent, done, error, checkpoint);
    c.next = due();
  }
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

// gRPC clients, spread over one driver thread per core.
void RunGrpcClients(const Settings& s, const tfs::PredictRequest& request, bool floor,
                    const Phase& phase, Arrivals& arrivals, std::vector<Samples>& samples) {
  std::vector<GrpcClient> clients(s.concurrency);
  for (int i = 0; i < s.concurrency; ++i) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per client
    args.SetInt("swapserve.bench.client", i);
    auto channel = grpc::CreateCustomChannel(s.server, grpc::InsecureChannelCredentials(), args);
    clients[i].predict = tfs::PredictionService::NewStub(channel);
    clients[i].echo = swapserve::bench::v1::Echo::NewStub(channel);
    clients[i].samples = &samples[i];
  }
  const int drivers =
      std::min(s.concurrency, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  std::vector<std::thread> threads;
  for (int d = 0; d < drivers; ++d) {
    std::vector<GrpcClient*> mine;
    for (int i = d; i < s.concurrency; i += drivers) mine.push_back(&clients[i]);
    threads.emplace_back([&, mine] {
      DriveGrpcClients(s, request, floor, phase, arrivals, mine);
    });
  }
  for (auto& t : threads) t.join();
}

// One phase: `settings`' load of Predict (floor = false) or Echo calls.
std::vector<Samples> RunPhase(const Settings& s, const tfs::PredictRequest& request,
                              const RestCall& rest, bool floor) {
  const absl::Time start = absl::Now();
  const Phase phase{start + s.warmup, start + s.warmup + s.duration};
  Arrivals arrivals(s.rate > 0 ? s.rate : 1, start);
  std::vector<Samples> samples(s.concurrency);
  if (!s.rest.empty() && !floor) {
    RunRestClients(s, rest, phase, arrivals, samples);
  } else {
    RunGrpcClients(s, request, floor, phase, arrivals, samples);
  }
  return samples;
}

struct Summary {
  int64_t calls = 0;
  double qps = 0;
  std::map<std::string, double> latency_us;  // p50 ... max
  std::map<std::string, int64_t> errors;
  std::map<int64_t, std::map<std::string, int64_t>> weights;
};

Summary Summarize(const std::vector<Samples>& all, absl::Duration duration) {
  Summary sum;
  std::vector<double> latency;
  for (const Samples& s : all) {
    latency.insert(latency.end(), s.latency_us.begin(), s.latency_us.end());
    for (const auto& [code, n] : s.errors) sum.errors[code] += n;
    for (const auto& [second, by] : s.weights) {
      for (const auto& [checkpoint, n] : by) sum.weights[second][checkpoint] += n;
    }
  }
  std::sort(latency.begin(), latency.end());
  sum.calls = static_cast<int64_t>(latency.size());
  sum.qps = static_cast<double>(sum.calls) / absl::ToDoubleSeconds(duration);
  if (latency.empty()) return sum;
  auto at = [&](double q) {
    return latency[std::min(latency.size() - 1, static_cast<size_t>(q * latency.size()))];
  };
  sum.latency_us = {{"p50", at(0.50)},   {"p90", at(0.90)}, {"p99", at(0.99)},
                    {"p99.9", at(0.999)}, {"max", latency.back()}};
  return sum;
}

nlohmann::json ToJson(const Summary& s) {
  nlohmann::json j = {{"calls", s.calls}, {"qps", s.qps}, {"latency_us", s.latency_us},
                      {"errors", s.errors}};
  nlohmann::json seconds = nlohmann::json::array();
  for (const auto& [second, by] : s.weights) seconds.push_back({{"second", second}, {"calls", by}});
  j["weights_by_second"] = seconds;
  return j;
}

void Print(const char* what, const Summary& s) {
  std::printf("%s: %lld calls, %.1f calls/s\n", what, static_cast<long long>(s.calls), s.qps);
  if (!s.latency_us.empty()) {
    std::printf("  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
                s.latency_us.at("p50"), s.latency_us.at("p90"), s.latency_us.at("p99"),
                s.latency_us.at("p99.9"), s.latency_us.at("max"));
  }
  for (const auto& [code, n] : s.errors) std::printf("  errors %s: %lld\n", code.c_str(), static_cast<long long>(n));
  for (const auto& [second, by] : s.weights) {
    std::string line = absl::StrFormat("  second %lld:", static_cast<long long>(second));
    for (const auto& [checkpoint, n] : by) absl::StrAppend(&line, " ", checkpoint, " ", n);
    std::printf("%s\n", line.c_str());
  }
}

// --samples: every measured latency, Predict's then the floor's.
bool WriteSamples(const std::string& path, const std::vector<Samples>& predict,
                  const std::vector<Samples>& floor) {
  std::ofstream out(path);
  out << "call,latency_us\n";
  for (const auto& [name, phase] : {std::pair{"predict", &predict}, std::pair{"floor", &floor}}) {
    for (const Samples& client : *phase) {
      for (double us : client.latency_us) out << name << ',' << us << '\n';
    }
  }
  out.close();
  if (!out) std::cerr << "swapserve-cli bench: cannot write " << path << "\n";
  return static_cast<bool>(out);
}

int Usage(const std::string& message) {
  std::cerr << "swapserve-cli bench: " << message << "\n";
  return 2;
}

}  // namespace

int RunBench(const std::vector<std::string>& words) {
  auto args = Args::Parse(words, {"server", "timeout", "model", "version", "signature", "input",
                                  "concurrency", "rate", "duration", "warmup", "samples",
                                  "rest"},
                          {"floor", "json"});
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (!args->positional().empty()) return Usage("takes no positional arguments");
#ifdef NDEBUG
  // As the daemon does (server/main.cc): Debian's Abseil checks every gRPC
  // lock against a global lock-order graph, a cost the load generator would
  // take from the daemon's cores.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  Settings s;
  s.server = args->Get("server").value_or(s.server);
  double seconds = 0;
  if (auto v = args->Get("concurrency");
      v && (!absl::SimpleAtoi(*v, &s.concurrency) || s.concurrency < 1 || s.concurrency > 4096)) {
    return Usage("--concurrency must be 1..4096");
  }
  if (auto v = args->Get("rate"); v && (!absl::SimpleAtod(*v, &s.rate) || !(s.rate > 0))) {
    return Usage("--rate must be a positive number of calls per second");
  }
  if (auto v = args->Get("duration")) {
    if (!absl::SimpleAtod(*v, &seconds) || !(seconds > 0)) return Usage("--duration must be > 0");
    s.duration = absl::Seconds(seconds);
  }
  if (auto v = args->Get("warmup")) {
    if (!absl::SimpleAtod(*v, &seconds) || !(seconds >= 0)) return Usage("--warmup must be >= 0");
    s.warmup = absl::Seconds(seconds);
  }
  if (auto v = args->Get("timeout")) {
    if (!absl::SimpleAtod(*v, &seconds) || !(seconds > 0)) return Usage("--timeout must be > 0");
    s.timeout = absl::Seconds(seconds);
  }
  if (!args->Has("model")) return Usage("--model is required");
  if (!args->Has("input")) return Usage("--input FILE.json is required");
  absl::StatusOr<tfs::PredictRequest> request = PredictRequestFromArgs(*args);
  if (!request.ok()) {
    std::cerr << "swapserve-cli bench: " << request.status().message() << "\n";
    return 1;
  }

  s.rest = args->Get("rest").value_or("");
  RestCall rest;
  if (!s.rest.empty()) {
    if (args->Has("floor")) {
      return Usage(
          "--floor is gRPC's (swapserve.bench.v1.Echo); REST has no echo route, so measure REST "
          "without --floor and compare it with the gRPC run");
    }
    absl::StatusOr<RestCall> call = ToRestCall(*request);
    if (!call.ok()) {
      std::cerr << "swapserve-cli bench: " << call.status().message() << "\n";
      return 1;
    }
    rest = *std::move(call);
  }
  const std::vector<Samples> predict_samples = RunPhase(s, *request, rest, false);
  std::vector<Samples> floor_samples;
  if (args->Has("floor")) floor_samples = RunPhase(s, *request, rest, true);
  if (auto path = args->Get("samples")) {
    if (!WriteSamples(*path, predict_samples, floor_samples)) return 1;
  }
  const Summary predict = Summarize(predict_samples, s.duration);
  std::optional<Summary> floor;
  if (args->Has("floor")) floor = Summarize(floor_samples, s.duration);

  nlohmann::json out = {{"server", s.rest.empty() ? s.server : s.rest},
                        {"api", s.rest.empty() ? "grpc" : "rest"},
                        {"model", request->model_spec().name()},
                        {"payload_bytes", s.rest.empty() ? request->ByteSizeLong() : rest.body.size()},
                        {"concurrency", s.concurrency},
                        {"mode", s.rate > 0 ? "open" : "closed"},
                        {"duration_s", absl::ToDoubleSeconds(s.duration)},
                        {"predict", ToJson(predict)}};
  if (s.rate > 0) out["rate"] = s.rate;
  if (floor) {
    out["floor"] = ToJson(*floor);
    nlohmann::json ratio = nlohmann::json::object();
    for (const auto& [q, v] : predict.latency_us) {
      if (floor->latency_us.count(q) && floor->latency_us.at(q) > 0) ratio[q] = v / floor->latency_us.at(q);
    }
    if (floor->qps > 0) ratio["qps"] = predict.qps / floor->qps;
    out["predict_over_floor"] = ratio;
  }
  if (args->Has("json")) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("bench: %s on %s (%s), %d clients, %s, %.1f s after %.1f s warm-up, payload %zu bytes\n",
                request->model_spec().name().c_str(),
                (s.rest.empty() ? s.server : s.rest).c_str(), s.rest.empty() ? "gRPC" : "REST",
                s.concurrency,
                s.rate > 0 ? absl::StrFormat("open loop at %.0f calls/s", s.rate).c_str()
                           : "closed loop",
                absl::ToDoubleSeconds(s.duration), absl::ToDoubleSeconds(s.warmup),
                s.rest.empty() ? request->ByteSizeLong() : rest.body.size());
    Print("Predict", predict);
    if (floor) {
      Print("floor (Echo)", *floor);
      std::printf("Predict / floor:");
      for (const auto& [q, v] : out["predict_over_floor"].items()) {
        std::printf(" %s %.2f", q.c_str(), v.get<double>());
      }
      std::printf("\n");
    }
  }
  return predict.calls > 0 ? 0 : 1;
}

}  // namespace swapserve::cli
