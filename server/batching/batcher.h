// Batcher: TF Serving's dynamic batching for swapserve. Concurrent calls that
// run the same Plan (model version + signature) on the same weights snapshot,
// with inputs that agree in dtype and in every dimension but the first, are
// stacked along dimension 0, run once, and cut back into each call's rows.
// With pad_variable_length_inputs, inputs need only agree in dtype and rank:
// each is padded at the end of its later dimensions to the batch's largest
// (with its first element, as TF Serving pads), and each call's outputs are its
// rows of the padded batch's.
//
// One batch, one weights snapshot: calls are queued by the snapshot they took
// when they arrived, so a batch never mixes WeightSets and every response can
// name the weights that computed it. A swap closes nothing: calls queued before
// it finish on the old snapshot, calls after it queue for the new one.
//
// Scheduling follows TF Serving's parameters, without its dedicated threads:
// the calling threads run the batches themselves. A queue is ready when
// max_execution_batch_size rows wait or its oldest call has waited
// batch_timeout (0: at once); then one of its waiting callers, while fewer
// than num_batch_threads batches are running, takes the batch (its own call
// and the ones queued behind it), runs it on its own thread and answers the
// others. So a lone call runs on its own thread with no hand-off, and calls
// merge exactly while the running batches keep others waiting. A batch is
// padded (by repeating its first row) up to the next allowed_batch_sizes
// entry. A queue holds at most max_enqueued_batches full batches; a call beyond
// that is UNAVAILABLE at once (clients retry), never an unbounded wait. A call
// with more rows than max_batch_size is refused with INVALID_ARGUMENT; with
// enable_large_batch_splitting, one with more than max_execution_batch_size
// is split into pieces that batch like calls and are joined back. A call whose
// deadline passed or whose client cancelled is dropped when its batch forms,
// before it runs.
//
// Calls that cannot merge run alone, on the calling thread: inputs without a
// dimension 0 (scalars), disagreeing first dimensions, zero rows, or a plan
// whose inputs fix their first dimension.
//
// Thread safety: Run() may be called from any number of threads at once; it
// blocks until its call is answered. The destructor answers queued calls with
// UNAVAILABLE and waits for the callers inside Run() to leave; no Run() may
// start after it begins.
#ifndef SWAPSERVE_SERVER_BATCHING_BATCHER_H_
#define SWAPSERVE_SERVER_BATCHING_BATCHER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/graph/plan.h"
#include "model/tensor.h"

namespace swapserve::server::batching {

// What the scheduler does; TF Serving's BatchingParameters after defaults and
// checks (batching_parameters.h makes one from the text proto).
struct BatchingOptions {
  int64_t max_batch_size = 1000;
  absl::Duration batch_timeout = absl::ZeroDuration();
  int64_t max_enqueued_batches = 10;
  int num_batch_threads = 1;
  // Increasing; the last is max_execution_batch_size. Empty: no padding.
  std::vector<int64_t> allowed_batch_sizes;
  bool enable_large_batch_splitting = false;
  // The most rows one run takes (= max_batch_size unless splitting).
  int64_t max_execution_batch_size = 1000;
  bool pad_variable_length_inputs = false;
};

// What a call brings besides its inputs.
struct CallInfo {
  absl::Time deadline = absl::InfiniteFuture();
  // True once the client has gone; may be empty. Asked only of calls that
  // waited kAskCancelledAfter or more in their queue: a call that runs at once
  // has nothing to win by asking, and asking may cost (gRPC's synchronous API
  // polls the call's completion queue: ~60 µs a call measured here, a quarter
  // of a batch-1 Predict). The deadline is checked for every call.
  std::function<bool()> cancelled;
};
inline constexpr absl::Duration kAskCancelledAfter = absl::Milliseconds(1);

// Runs one plan on one input set; the Batcher calls it for every batch (and for
// calls that run alone), so the caller's error context stays the same.
using RunFn = std::function<absl::StatusOr<std::vector<Tensor>>(
    const Plan& plan, const WeightSet& weights, const std::vector<Tensor>& inputs)>;

// Told of every batch run: the callers' rows, the calls, the padding rows.
using BatchObserver = std::function<void(int64_t rows, int64_t calls, int64_t padding)>;

class Batcher {
 public:
  Batcher(BatchingOptions options, RunFn run, BatchObserver observer = nullptr);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  const BatchingOptions& options() const { return options_; }

  // Runs `plan` on `inputs` (in plan order) with `weights`, merged with other
  // calls as described above; the outputs are this call's rows only.
  absl::StatusOr<std::vector<Tensor>> Run(const Plan& plan, const WeightSet& weights,
                                          std::vector<Tensor> inputs, const CallInfo& call);

  // Batches run and calls they answered, since construction (for tests and
  // benchmarks).
  struct Stats {
    int64_t batches = 0;
    int64_t calls = 0;        // Calls (or split pieces) those batches answered.
    int64_t padded_rows = 0;  // Rows added to reach an allowed batch size.
    int64_t queued_rows = 0;  // Rows waiting now.
  };
  Stats stats() const;

 private:
  struct Call;
  struct Queue;
  using QueueKey = std::tuple<const Plan*, const WeightSet*, std::string>;

  // Queues `call` (at most max_execution_batch_size rows); UNAVAILABLE when its
  // queue is full or the batcher is stopping.
  absl::Status Enqueue(Call* call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Until every call in `mine` is answered: leads the batches of their queues
  // when they are ready and a batch may run, else waits.
  void Await(const std::vector<Call*>& mine) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the batch at the front of `call`'s queue when it is ready; else
  // empty, and *due is when it will be.
  std::vector<Call*> TakeReadyBatch(const Call& call, absl::Time now, absl::Time* due)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the front caller of every queue (one of them may lead now).
  void WakeLeaders() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Answer(Call* call, absl::StatusOr<std::vector<Tensor>> result) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs calls alone, on this thread.
  void RunAlone(const std::vector<Call*>& calls) ABSL_LOCKS_EXCLUDED(mu_);
  void RunBatch(std::vector<Call*> batch) ABSL_LOCKS_EXCLUDED(mu_);
  int64_t PaddedRows(int64_t rows) const;

  const BatchingOptions options_;
  const RunFn run_;
  const BatchObserver observer_;
  mutable absl::Mutex mu_;
  std::map<QueueKey, std::unique_ptr<Queue>> queues_ ABSL_GUARDED_BY(mu_);
  // Plans whose outputs turned out not to have a batch dimension: their calls
  // run alone from then on.
  std::set<const Plan*> unbatchable_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;  // batches running now
  int inside_ ABSL_GUARDED_BY(mu_) = 0;   // callers inside Run()'s queueing
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swapserve::server::batching

#endif  // SWAPSERVE_SERVER_BATCHING_BATCHER_H_
