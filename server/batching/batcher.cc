// The batch scheduler (see batcher.h): per-key FIFO queues under one mutex;
// the waiting callers lead the batches, at most num_batch_threads at a time.
#include "server/batching/batcher.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "glog/logging.h"
#include "absl/strings/str_cat.h"
#include "model/util/status_macros.h"
#include "server/batching/batch_tensors.h"

namespace swapserve::server::batching {

// The thread waiting in Run() for its calls (one, or a split call's pieces).
struct Waiter {
  absl::CondVar cv;
};

struct Batcher::Call {
  const Plan* plan = nullptr;
  const WeightSet* weights = nullptr;
  std::vector<Tensor> inputs;
  int64_t rows = 0;
  const CallInfo* info = nullptr;
  Waiter* waiter = nullptr;
  QueueKey key;
  absl::Time enqueued;
  bool queued = false;  // In its queue, not yet taken into a batch.
  bool done = false;
  absl::StatusOr<std::vector<Tensor>> result;
};

struct Batcher::Queue {
  std::deque<Call*> calls;
  int64_t rows = 0;
};

Batcher::Batcher(BatchingOptions options, RunFn run, BatchObserver observer)
    : options_(std::move(options)), run_(std::move(run)), observer_(std::move(observer)) {}

Batcher::~Batcher() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  for (auto& [key, queue] : queues_) {
    for (Call* call : queue->calls) {
      call->queued = false;
      call->done = true;
      call->result = absl::UnavailableError("the batcher is shutting down");
      call->waiter->cv.Signal();
    }
  }
  queues_.clear();
  mu_.Await(absl::Condition(
      +[](int* inside) { return *inside == 0; }, &inside_));
}

Batcher::Stats Batcher::stats() const {
  absl::MutexLock lock(&mu_);
  Stats stats = stats_;
  for (const auto& [key, queue] : queues_) stats.queued_rows += queue->rows;
  return stats;
}

int64_t Batcher::PaddedRows(int64_t rows) const {
  for (int64_t size : options_.allowed_batch_sizes) {
    if (size >= rows) return size;
  }
  return rows;
}

absl::StatusOr<std::vector<Tensor>> Batcher::Run(const Plan& plan, const WeightSet& weights,
                                                 std::vector<Tensor> inputs,
                                                 const CallInfo& info) {
  // Can these inputs be stacked with others'?
  int64_t rows = -1;
  bool batchable = !inputs.empty() && inputs.size() == plan.inputs().size();
  std::string row_key;
  for (size_t i = 0; batchable && i < inputs.size(); ++i) {
    const PlanTensor& declared = plan.inputs()[i];
    if (!HasRows(inputs[i]) ||
        (declared.shape_known && !declared.shape.empty() && declared.shape[0] >= 0)) {
      batchable = false;
      break;
    }
    const int64_t n = inputs[i].shape().dim(0);
    if (rows >= 0 && n != rows) batchable = false;
    rows = n;
    absl::StrAppend(&row_key,
                    options_.pad_variable_length_inputs ? RankKey(inputs[i]) : RowKey(inputs[i]),
                    ";");
  }
  // An output declared with a fixed first dimension is not per row.
  for (const PlanTensor& declared : plan.outputs()) {
    if (declared.shape_known && (declared.shape.empty() || declared.shape[0] >= 0)) {
      batchable = false;
    }
  }
  if (batchable && rows > 0) {
    absl::MutexLock lock(&mu_);
    batchable = unbatchable_.count(&plan) == 0;
  }
  if (!batchable || rows <= 0) return run_(plan, weights, inputs);
  if (rows > options_.max_batch_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("Task size ", rows, " is larger than maximum input batch size ",
                     options_.max_batch_size));
  }

  // Pieces of at most max_execution_batch_size rows (one unless splitting).
  const int64_t limit = options_.max_execution_batch_size;
  Waiter waiter;
  std::vector<std::unique_ptr<Call>> pieces;
  for (int64_t begin = 0; begin < rows; begin += limit) {
    auto piece = std::make_unique<Call>();
    piece->plan = &plan;
    piece->weights = &weights;
    piece->info = &info;
    piece->waiter = &waiter;
    piece->key = QueueKey(&plan, &weights, row_key);
    piece->rows = std::min(limit, rows - begin);
    if (piece->rows == rows) {
      piece->inputs = std::move(inputs);
    } else {
      for (const Tensor& t : inputs) {
        ASSIGN_OR_RETURN(Tensor slice, SliceRows(t, begin, piece->rows));
        piece->inputs.push_back(std::move(slice));
      }
    }
    pieces.push_back(std::move(piece));
  }
  absl::Status queued = absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    ++inside_;
    std::vector<Call*> mine;
    for (const auto& piece : pieces) {
      queued = Enqueue(piece.get());
      if (!queued.ok()) break;
      mine.push_back(piece.get());
    }
    // Pieces already queued run anyway: wait for them before returning.
    Await(mine);
    --inside_;
  }
  RETURN_IF_ERROR(queued);
  if (pieces.size() == 1) return std::move(pieces[0]->result);

  // Join the pieces' outputs back into one answer.
  for (const auto& piece : pieces) RETURN_IF_ERROR(piece->result.status());
  std::vector<Tensor> outputs;
  for (size_t o = 0; o < pieces[0]->result->size(); ++o) {
    std::vector<const Tensor*> parts;
    for (const auto& piece : pieces) parts.push_back(&(*piece->result)[o]);
    ASSIGN_OR_RETURN(Tensor joined, StackRows(parts, rows));
    outputs.push_back(std::move(joined));
  }
  return outputs;
}

absl::Status Batcher::Enqueue(Call* call) {
  if (stopping_) return absl::UnavailableError("the batcher is shutting down");
  std::unique_ptr<Queue>& queue = queues_[call->key];
  if (queue == nullptr) queue = std::make_unique<Queue>();
  if (queue->rows + call->rows >
      options_.max_enqueued_batches * options_.max_execution_batch_size) {
    const int64_t waiting = queue->rows;
    if (queue->calls.empty()) queues_.erase(call->key);
    return absl::UnavailableError(absl::StrCat(
        "The batch scheduling queue to which this task was submitted is full; ", waiting,
        " rows are queued and max_enqueued_batches is ", options_.max_enqueued_batches,
        " batches of ", options_.max_execution_batch_size));
  }
  call->enqueued = absl::Now();
  call->queued = true;
  queue->calls.push_back(call);
  queue->rows += call->rows;
  return absl::OkStatus();
}

void Batcher::Await(const std::vector<Call*>& mine) {
  for (;;) {
    Call* pending = nullptr;  // One of mine still waiting in its queue.
    bool all_done = true;
    for (Call* call : mine) {
      all_done &= call->done;
      if (pending == nullptr && call->queued) pending = call;
    }
    if (all_done) return;
    absl::Time due = absl::InfiniteFuture();
    if (pending != nullptr) {
      std::vector<Call*> batch = TakeReadyBatch(*pending, absl::Now(), &due);
      if (!batch.empty()) {
        ++running_;
        mu_.Unlock();
        RunBatch(std::move(batch));
        mu_.Lock();
        --running_;
        WakeLeaders();
        continue;
      }
    }
    mine[0]->waiter->cv.WaitWithDeadline(&mu_, due);
  }
}

std::vector<Batcher::Call*> Batcher::TakeReadyBatch(const Call& call, absl::Time now,
                                                    absl::Time* due) {
  std::vector<Call*> batch;
  if (running_ >= std::max(1, options_.num_batch_threads)) return batch;  // Woken when one ends.
  auto it = queues_.find(call.key);
  if (it == queues_.end()) return batch;
  Queue& q = *it->second;
  const int64_t limit = options_.max_execution_batch_size;
  const absl::Time ready_at = q.calls.front()->enqueued + options_.batch_timeout;
  if (q.rows < limit && ready_at > now) {
    *due = ready_at;
    return batch;
  }
  int64_t rows = 0;
  while (!q.calls.empty() && rows + q.calls.front()->rows <= limit) {
    Call* next = q.calls.front();
    q.calls.pop_front();
    next->queued = false;
    rows += next->rows;
    batch.push_back(next);
  }
  q.rows -= rows;
  if (q.calls.empty()) queues_.erase(it);
  return batch;
}

void Batcher::WakeLeaders() {
  for (auto& [key, queue] : queues_) queue->calls.front()->waiter->cv.Signal();
}

void Batcher::Answer(Call* call, absl::StatusOr<std::vector<Tensor>> result) {
  absl::MutexLock lock(&mu_);
  call->result = std::move(result);
  call->done = true;
  call->waiter->cv.Signal();
}

void Batcher::RunAlone(const std::vector<Call*>& calls) {
  for (Call* call : calls) Answer(call, run_(*call->plan, *call->weights, call->inputs));
}

void Batcher::RunBatch(std::vector<Call*> batch) {
  // Drop calls nobody waits for any more.
  const absl::Time now = absl::Now();
  std::vector<Call*> live;
  for (Call* call : batch) {
    if (now > call->info->deadline) {
      Answer(call, absl::DeadlineExceededError("the deadline passed before the batch ran"));
    } else if (call->info->cancelled && now - call->enqueued >= kAskCancelledAfter &&
               call->info->cancelled()) {
      Answer(call, absl::CancelledError("the client cancelled before the batch ran"));
    } else {
      live.push_back(call);
    }
  }
  if (live.empty()) return;
  const Plan& plan = *live[0]->plan;
  int64_t rows = 0;
  for (const Call* call : live) rows += call->rows;
  const int64_t padded = PaddedRows(rows);
  {
    absl::MutexLock lock(&mu_);
    ++stats_.batches;
    stats_.calls += static_cast<int64_t>(live.size());
    stats_.padded_rows += padded - rows;
  }
  if (observer_) observer_(rows, static_cast<int64_t>(live.size()), padded - rows);
  if (live.size() == 1 && padded == rows) return RunAlone(live);

  auto fail_all = [&](const absl::Status& status) {
    for (Call* call : live) Answer(call, status);
  };
  std::vector<Tensor> stacked;
  for (size_t i = 0; i < live[0]->inputs.size(); ++i) {
    std::vector<const Tensor*> parts;
    for (const Call* call : live) parts.push_back(&call->inputs[i]);
    std::vector<Tensor> evened;  // with pad_variable_length_inputs
    if (options_.pad_variable_length_inputs) {
      std::vector<int64_t> dims = parts[0]->shape().dims();
      for (const Tensor* p : parts) {
        for (size_t d = 1; d < dims.size(); ++d) dims[d] = std::max(dims[d], p->shape().dim(d));
      }
      for (const Tensor* p : parts) {
        absl::StatusOr<Tensor> even = PadToDims(*p, dims);
        if (!even.ok()) return fail_all(even.status());
        evened.push_back(*std::move(even));
      }
      for (size_t c = 0; c < parts.size(); ++c) parts[c] = &evened[c];
    }
    absl::StatusOr<Tensor> t = StackRows(parts, padded);
    if (!t.ok()) return fail_all(t.status());
    stacked.push_back(*std::move(t));
  }
  absl::StatusOr<std::vector<Tensor>> out = run_(plan, *live[0]->weights, stacked);
  if (!out.ok()) return fail_all(out.status());
  for (const Tensor& t : *out) {
    if (HasRows(t) && t.shape().dim(0) == padded) continue;
    // An output without a batch dimension (a reduction over the batch, say)
    // cannot be cut into rows: such a plan is answered call by call.
    LOG(WARNING) << "signature '" << plan.signature() << "' gives an output of shape "
                 << t.shape().DebugString() << " for a batch of " << padded
                 << " rows; its calls are no longer batched";
    {
      absl::MutexLock lock(&mu_);
      unbatchable_.insert(&plan);
    }
    return RunAlone(live);
  }
  int64_t begin = 0;
  for (Call* call : live) {
    std::vector<Tensor> mine;
    absl::Status status = absl::OkStatus();
    for (const Tensor& t : *out) {
      absl::StatusOr<Tensor> slice = SliceRows(t, begin, call->rows);
      if (!slice.ok()) {
        status = slice.status();
        break;
      }
      mine.push_back(*std::move(slice));
    }
    begin += call->rows;
    if (status.ok()) {
      Answer(call, std::move(mine));
    } else {
      Answer(call, status);
    }
  }
}

}  // namespace swapserve::server::batching
