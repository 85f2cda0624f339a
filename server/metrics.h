// Metrics: the daemon's Prometheus metrics (prometheus-cpp's registry, text
// format), served on the REST port when --monitoring_config_file enables them.
//
// TF Serving's names and labels, so that existing dashboards and alerts work:
//   :tensorflow:serving:request_count{model_name,status}        counter
//   :tensorflow:serving:request_latency{model_name,API,entrypoint}  histogram, µs
//   :tensorflow:serving:runtime_latency{model_name,API,runtime}     histogram, µs
//   :tensorflow:cc:saved_model:load_attempt_count{model_path,status} counter
//   :tensorflow:cc:saved_model:load_latency{model_path}          counter, µs total
// API is "Predict", "Classify", "Regress", "GetModelMetadata" over gRPC
// (entrypoint "GRPC") and the REST method ("predict", ..., "" for status and
// metadata; entrypoint "REST"), as TF Serving labels them. The latency buckets
// are TF Serving's: 10 µs × 1.8^i, i < 32.
//
// swapserve's own, for what only it does:
//   swapserve_checkpoint_swaps_total{model_name}                  counter
//   swapserve_checkpoint_rejections_total{model_name,reason}     counter
//     (reason: the failure's status code name, e.g. DATA_LOSS)
//   swapserve_checkpoint_swap_seconds{model_name}                histogram:
//     a followed checkpoint seen -> read, validated, warmed up and serving
//   swapserve_checkpoint_step{model_name,version}                gauge: the step
//     of the checkpoint serving (-1: the model's own weights)
//   swapserve_weights_version{model_name,version}                gauge
//   swapserve_model_load_seconds{model_name,version}             gauge: the
//     version's load, warm-up included
//   swapserve_requests_in_flight                                 gauge
//
// Callers pass model "" for a model the server does not have, so that clients
// cannot grow the label sets without bound.
//
// Thread safety: thread-safe (prometheus-cpp's families lock).
#ifndef SWAPSERVE_SERVER_METRICS_H_
#define SWAPSERVE_SERVER_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/event_log.h"

namespace swapserve::server {

inline constexpr char kGrpcEntrypoint[] = "GRPC";
inline constexpr char kRestEntrypoint[] = "REST";

class Metrics {
 public:
  // `in_flight` is read at each scrape.
  explicit Metrics(std::function<int()> in_flight);

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One request. `runtime`: the time inside the weights snapshot (zero when no
  // version ran it, which records no runtime sample).
  void RecordRequest(absl::string_view model, absl::string_view api, absl::string_view entrypoint,
                     const absl::Status& status, absl::Duration latency, absl::Duration runtime);

  // One attempt to load a model version from `path`.
  void RecordLoad(absl::string_view model, int64_t version, absl::string_view path,
                  const absl::Status& status, absl::Duration took);

  // A checkpoint event (EventLog's): swaps, rejections, the step serving.
  void RecordCheckpointEvent(const CheckpointEvent& event);

  // One batch the batcher ran: `rows` of the callers' (before padding) from
  // `calls` calls, `padding` rows added.
  void RecordBatch(int64_t rows, int64_t calls, int64_t padding);

  // Every metric, in Prometheus's text exposition format.
  std::string Scrape() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::function<int()> in_flight_;
  prometheus::Family<prometheus::Counter>& request_count_;
  prometheus::Family<prometheus::Histogram>& request_latency_;
  prometheus::Family<prometheus::Histogram>& runtime_latency_;
  prometheus::Family<prometheus::Counter>& load_attempts_;
  prometheus::Family<prometheus::Counter>& load_latency_;
  prometheus::Family<prometheus::Counter>& swaps_;
  prometheus::Family<prometheus::Counter>& rejections_;
  prometheus::Family<prometheus::Histogram>& swap_seconds_;
  prometheus::Family<prometheus::Gauge>& step_;
  prometheus::Family<prometheus::Gauge>& weights_version_;
  prometheus::Family<prometheus::Gauge>& load_seconds_;
  prometheus::Gauge& in_flight_gauge_;
  prometheus::Counter& batches_;
  prometheus::Counter& batched_calls_;
  prometheus::Counter& batch_padding_;
  prometheus::Histogram& batch_rows_;
};

}  // namespace swapserve::server

#endif  // SWAPSERVE_SERVER_METRICS_H_
