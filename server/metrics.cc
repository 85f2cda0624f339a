#include "server/metrics.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace swapserve::server {
namespace {

using prometheus::Histogram;

// TF Serving's request/runtime latency buckets: 10 µs × 1.8^i.
Histogram::BucketBoundaries LatencyBucketsMicros() {
  Histogram::BucketBoundaries b;
  for (int i = 0; i < 32; ++i) b.push_back(10.0 * std::pow(1.8, i));
  return b;
}

// Checkpoint swaps: 1 ms to ~2 minutes.
Histogram::BucketBoundaries SwapBucketsSeconds() {
  Histogram::BucketBoundaries b;
  for (double s = 0.001; s < 200; s *= 2) b.push_back(s);
  return b;
}

const Histogram::BucketBoundaries& Buckets(bool latency) {
  static const Histogram::BucketBoundaries kLatency = LatencyBucketsMicros();
  static const Histogram::BucketBoundaries kSwap = SwapBucketsSeconds();
  return latency ? kLatency : kSwap;
}

}  // namespace

Metrics::Metrics(std::function<int()> in_flight)
    : registry_(std::make_shared<prometheus::Registry>()),
      in_flight_(std::move(in_flight)),
      request_count_(prometheus::BuildCounter()
                         .Name(":tensorflow:serving:request_count")
                         .Help("The total number of requests.")
                         .Register(*registry_)),
      request_latency_(prometheus::BuildHistogram()
                           .Name(":tensorflow:serving:request_latency")
                           .Help("Distribution of wall time (in microseconds) for Tensorflow "
                                 "Serving request.")
                           .Register(*registry_)),
      runtime_latency_(prometheus::BuildHistogram()
                           .Name(":tensorflow:serving:runtime_latency")
                           .Help("Distribution of wall time (in microseconds) for the runtime "
                                 "(swapserve's engine).")
                           .Register(*registry_)),
      load_attempts_(prometheus::BuildCounter()
                         .Name(":tensorflow:cc:saved_model:load_attempt_count")
                         .Help("The number of times a model version load was attempted.")
                         .Register(*registry_)),
      load_latency_(prometheus::BuildCounter()
                        .Name(":tensorflow:cc:saved_model:load_latency")
                        .Help("Total microseconds spent loading model versions.")
                        .Register(*registry_)),
      swaps_(prometheus::BuildCounter()
                 .Name("swapserve_checkpoint_swaps_total")
                 .Help("Checkpoints swapped in to serve (followed, pinned or rolled back to).")
                 .Register(*registry_)),
      rejections_(prometheus::BuildCounter()
                      .Name("swapserve_checkpoint_rejections_total")
                      .Help("Checkpoints rejected by validation; the old weights kept serving.")
                      .Register(*registry_)),
      swap_seconds_(prometheus::BuildHistogram()
                        .Name("swapserve_checkpoint_swap_seconds")
                        .Help("From a new checkpoint seen to it serving: read, validated, warmed "
                              "up, swapped.")
                        .Register(*registry_)),
      step_(prometheus::BuildGauge()
                .Name("swapserve_checkpoint_step")
                .Help("The training step of the checkpoint serving (-1: the model's own weights).")
                .Register(*registry_)),
      weights_version_(prometheus::BuildGauge()
                           .Name("swapserve_weights_version")
                           .Help("The weights version serving (1 at load, +1 per swap).")
                           .Register(*registry_)),
      load_seconds_(prometheus::BuildGauge()
                        .Name("swapserve_model_load_seconds")
                        .Help("How long the version took to load, warm-up included.")
                        .Register(*registry_)),
      in_flight_gauge_(prometheus::BuildGauge()
                           .Name("swapserve_requests_in_flight")
                           .Help("Requests inside a handler now (gRPC and REST).")
                           .Register(*registry_)
                           .Add({})),
      batches_(prometheus::BuildCounter()
                   .Name("swapserve_batches_total")
                   .Help("Batches run by --enable_batching's batcher.")
                   .Register(*registry_)
                   .Add({})),
      batched_calls_(prometheus::BuildCounter()
                         .Name("swapserve_batched_calls_total")
                         .Help("Calls (or pieces of split calls) answered by those batches.")
                         .Register(*registry_)
                         .Add({})),
      batch_padding_(prometheus::BuildCounter()
                         .Name("swapserve_batch_padding_rows_total")
                         .Help("Rows added to reach an allowed batch size.")
                         .Register(*registry_)
                         .Add({})),
      batch_rows_(prometheus::BuildHistogram()
                      .Name("swapserve_batch_rows")
                      .Help("Callers' rows per batch, before padding.")
                      .Register(*registry_)
                      .Add({}, prometheus::Histogram::BucketBoundaries{
                                   1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096})) {}

void Metrics::RecordBatch(int64_t rows, int64_t calls, int64_t padding) {
  batches_.Increment();
  batched_calls_.Increment(static_cast<double>(calls));
  batch_padding_.Increment(static_cast<double>(padding));
  batch_rows_.Observe(static_cast<double>(rows));
}

void Metrics::RecordRequest(absl::string_view model, absl::string_view api,
                            absl::string_view entrypoint, const absl::Status& status,
                            absl::Duration latency, absl::Duration runtime) {
  const std::string name(model);
  request_count_
      .Add({{"model_name", name}, {"status", absl::StatusCodeToString(status.code())}})
      .Increment();
  request_latency_
      .Add({{"model_name", name}, {"API", std::string(api)}, {"entrypoint", std::string(entrypoint)}},
           Buckets(true))
      .Observe(absl::ToDoubleMicroseconds(latency));
  if (runtime > absl::ZeroDuration()) {
    runtime_latency_
        .Add({{"model_name", name}, {"API", std::string(api)}, {"runtime", "swapserve"}},
             Buckets(true))
        .Observe(absl::ToDoubleMicroseconds(runtime));
  }
}

void Metrics::RecordLoad(absl::string_view model, int64_t version, absl::string_view path,
                         const absl::Status& status, absl::Duration took) {
  const std::string where(path);
  load_attempts_.Add({{"model_path", where}, {"status", status.ok() ? "success" : "fail"}})
      .Increment();
  load_latency_.Add({{"model_path", where}}).Increment(absl::ToDoubleMicroseconds(took));
  if (status.ok()) {
    load_seconds_.Add({{"model_name", std::string(model)}, {"version", absl::StrCat(version)}})
        .Set(absl::ToDoubleSeconds(took));
  }
}

void Metrics::RecordCheckpointEvent(const CheckpointEvent& event) {
  const prometheus::Labels model = {{"model_name", event.model()}};
  const prometheus::Labels version = {{"model_name", event.model()},
                                      {"version", absl::StrCat(event.model_version())}};
  switch (event.kind()) {
    case CheckpointEvent::REJECTED:
      rejections_.Add({{"model_name", event.model()}, {"reason", event.reason_code()}}).Increment();
      return;
    case CheckpointEvent::SWAPPED:
    case CheckpointEvent::PINNED:
    case CheckpointEvent::ROLLED_BACK:
      swaps_.Add(model).Increment();
      if (event.kind() == CheckpointEvent::SWAPPED) {
        swap_seconds_.Add(model, Buckets(false)).Observe(event.load_ms() / 1000.0);
      }
      [[fallthrough]];
    case CheckpointEvent::LOADED:
      // The swap counter exists (at 0) from the first load: Prometheus's increase()
      // does not count a series' first sample, so a counter born at 1 would hide
      // the first swap from the dashboard.
      swaps_.Add(model);
      step_.Add(version).Set(static_cast<double>(event.prefix().empty() ? -1 : event.step()));
      weights_version_.Add(version).Set(static_cast<double>(event.weights_version()));
      return;
    default:
      return;
  }
}

std::string Metrics::Scrape() const {
  in_flight_gauge_.Set(in_flight_());
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace swapserve::server
