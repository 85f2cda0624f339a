// REST against gRPC on the real daemon (not a test): serves the seed MLP from
// its checkpoint with --rest_api_port and measures, in one run and for the
// same rows,
//   1. latency: sequential Predict calls at batch 1 and 32, gRPC (the
//      generated stub) and REST (libcurl, one keep-alive connection, row
//      format), p50/p99 and the REST/gRPC ratio of the p50s;
//   2. saturated throughput: --clients closed-loop clients per front at batch
//      1 for --seconds each, calls/s and the REST/gRPC ratio;
//   3. the JSON codec alone, in this process: a batch-32 predict body decoded
//      and a [32,784] float tensor encoded, in MB of JSON per second.
// Every REST answer is checked against gRPC's for the same rows (exit 1 when
// one differs or a call fails).
// Usage: swapserve_rest_bench [--calls=2000] [--clients=8] [--seconds=5]
// (needs the fixtures: keras_seed_mlp/saved_model and training_2/cp-0000).
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "server/rest/json_tensor.h"
#include "tests/daemon_harness.h"

namespace swapserve::bench {
namespace {

using json = nlohmann::json;
using swapserve::testing::Daemon;
namespace tfs = tensorflow::serving;

constexpr int kFeatures = 784;

int Flag(int argc, char** argv, const std::string& name, int fallback) {
  const std::string lead = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    int v;
    if (std::string(argv[i]).rfind(lead, 0) == 0 && absl::SimpleAtoi(argv[i] + lead.size(), &v)) {
      return v;
    }
  }
  return fallback;
}

// One keep-alive HTTP connection (a libcurl easy handle).
class RestClient {
 public:
  explicit RestClient(const std::string& url) : curl_(curl_easy_init()), url_(url) {
    curl_easy_setopt(curl_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &RestClient::Append);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &body_);
    headers_ = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
  }
  ~RestClient() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  // POSTs `request`; the response body, or "" when the call failed.
  const std::string& Post(const std::string& request) {
    body_.clear();
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, request.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.size()));
    long code = 0;
    if (curl_easy_perform(curl_) != CURLE_OK ||
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
      body_.clear();
    }
    return body_;
  }

 private:
  static size_t Append(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  }
  CURL* curl_;
  std::string url_;
  curl_slist* headers_ = nullptr;
  std::string body_;
};

std::vector<float> Rows(int batch) {
  std::vector<float> v(static_cast<size_t>(batch) * kFeatures);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 255) / 255.0f;
  return v;
}

std::string RowBody(const std::vector<float>& values, int batch) {
  json instances = json::array();
  for (int b = 0; b < batch; ++b) {
    instances.push_back(std::vector<float>(values.begin() + b * kFeatures,
                                           values.begin() + (b + 1) * kFeatures));
  }
  return json{{"instances", instances}}.dump();
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// The logits of a REST answer, flattened.
std::vector<float> Predictions(const std::string& body) {
  std::vector<float> out;
  const json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("predictions")) return out;
  for (const json& row : parsed["predictions"]) for (const json& v : row) out.push_back(v.get<float>());
  return out;
}

// Codec throughput: MB of JSON per second through `run`, repeated ~1 s.
template <typename Run>
double MegabytesPerSecond(size_t bytes, Run run) {
  int n = 0;
  const absl::Time start = absl::Now();
  while (absl::Now() - start < absl::Seconds(1)) {
    run();
    ++n;
  }
  return bytes * n / 1e6 / absl::ToDoubleSeconds(absl::Now() - start);
}

int Main(int argc, char** argv) {
  const int calls = Flag(argc, argv, "calls", 2000);
  const int clients = Flag(argc, argv, "clients", 8);
  const int seconds = Flag(argc, argv, "seconds", 5);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  testing::TempDir ckpt;
  testing::MakeSeedCheckpointDir(testing::Fixture("keras_seed_mlp/training_2/cp-0000.ckpt"),
                                 ckpt.path());
  auto daemon = Daemon::Start({"--model_name=mlp",
                               "--model_base_path=" + testing::Fixture("keras_seed_mlp/saved_model"),
                               "--checkpoint_dir=" + ckpt.path()},
                              true);
  if (daemon == nullptr) return 1;
  const std::string url = absl::StrCat("http://127.0.0.1:", daemon->rest_port(), "/v1/models/mlp:predict");
  int failures = 0;

  std::printf("latency, %d sequential calls each (us)\n", calls);
  std::printf("%-6s %10s %10s %10s %10s %12s\n", "batch", "gRPC p50", "gRPC p99", "REST p50", "REST p99",
              "REST/gRPC p50");
  for (int batch : {1, 32}) {
    const std::vector<float> rows = Rows(batch);
    const tfs::PredictRequest request = testing::FloatRequest("mlp", "dense_10_input", {batch, kFeatures}, rows);
    const std::string body = RowBody(rows, batch);
    RestClient rest(url);
    tfs::PredictResponse reference;
    if (!daemon->prediction().Predict(testing::ContextWithDeadline().get(), request, &reference).ok()) return 1;
    const std::vector<float> want = testing::Floats(reference.outputs().at("dense_11"));
    std::vector<double> grpc_us, rest_us;
    for (int i = 0; i < calls; ++i) {
      tfs::PredictResponse response;
      absl::Time t = absl::Now();
      grpc::ClientContext context;
      if (!daemon->prediction().Predict(&context, request, &response).ok()) ++failures;
      grpc_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
      t = absl::Now();
      const std::string& answer = rest.Post(body);
      rest_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
      if (i == 0 && Predictions(answer) != want) {
        std::fprintf(stderr, "REST and gRPC disagree at batch %d\n", batch);
        ++failures;
      }
      if (answer.empty()) ++failures;
    }
    std::printf("%-6d %10.1f %10.1f %10.1f %10.1f %12.2f\n", batch, Percentile(grpc_us, 0.5),
                Percentile(grpc_us, 0.99), Percentile(rest_us, 0.5), Percentile(rest_us, 0.99),
                Percentile(rest_us, 0.5) / Percentile(grpc_us, 0.5));
  }

  // Saturated: `clients` closed loops per front, batch 1.
  const std::vector<float> one = Rows(1);
  const tfs::PredictRequest request = testing::FloatRequest("mlp", "dense_10_input", {1, kFeatures}, one);
  const std::string body = RowBody(one, 1);
  double qps[2];
  for (int front = 0; front < 2; ++front) {
    std::atomic<long> done{0}, failed{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, front] {
        auto stub = tfs::PredictionService::NewStub(
            grpc::CreateChannel(daemon->address(), grpc::InsecureChannelCredentials()));
        RestClient rest(url);
        while (!stop) {
          bool ok;
          if (front == 0) {
            tfs::PredictResponse response;
            grpc::ClientContext context;
            ok = stub->Predict(&context, request, &response).ok();
          } else {
            ok = !rest.Post(body).empty();
          }
          ++(ok ? done : failed);
        }
      });
    }
    const absl::Time start = absl::Now();
    absl::SleepFor(absl::Seconds(seconds));
    stop = true;
    for (auto& t : threads) t.join();
    qps[front] = done / absl::ToDoubleSeconds(absl::Now() - start);
    failures += failed;
  }
  std::printf("\nsaturated, batch 1, %d clients per front, %d s each\n", clients, seconds);
  std::printf("gRPC %.0f calls/s, REST %.0f calls/s, REST/gRPC %.2f\n", qps[0], qps[1], qps[1] / qps[0]);

  // The codec alone.
  const std::vector<float> rows = Rows(32);
  const std::string decode_body = RowBody(rows, 32);
  tfs::PredictRequest decoded;
  server::rest::JsonFormat format;
  const server::rest::InputDtypes dtypes = [](const std::string&) {
    return absl::StatusOr<std::map<std::string, tensorflow::DataType>>(
        std::map<std::string, tensorflow::DataType>{{"dense_10_input", tensorflow::DT_FLOAT}});
  };
  const double decode = MegabytesPerSecond(decode_body.size(), [&] {
    if (!server::rest::FillPredictRequestFromJson(decode_body, dtypes, &decoded, &format).ok()) ++failures;
  });
  const tfs::PredictRequest as_tensor = testing::FloatRequest("m", "x", {32, kFeatures}, rows);
  auto first = server::rest::MakeJsonFromTensors(as_tensor.inputs(), server::rest::JsonFormat::kRow);
  const size_t encoded_bytes = first.ok() ? first->size() : 0;
  const double encode = MegabytesPerSecond(encoded_bytes, [&] {
    if (!server::rest::MakeJsonFromTensors(as_tensor.inputs(), server::rest::JsonFormat::kRow).ok()) {
      ++failures;
    }
  });
  std::printf("\nJSON codec, batch 32 x %d floats (%zu bytes): decode %.1f MB/s, encode %.1f MB/s "
              "(%zu bytes out)\n",
              kFeatures, decode_body.size(), decode, encode, encoded_bytes);
  if (failures > 0) std::fprintf(stderr, "%d failures\n", failures);
  return failures > 0 ? 1 : 0;
}

}  // namespace
}  // namespace swapserve::bench

int main(int argc, char** argv) { return swapserve::bench::Main(argc, argv); }
