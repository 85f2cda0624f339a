// Dynamic batching on the real seed MLP: merged calls get exactly the rows an
// unbatched run gives them (within batch-size rounding), padding and splitting
// are invisible to callers, a full queue refuses at once, late and cancelled
// calls are dropped, a batch never mixes weight sets, variable-length inputs
// are padded only when asked; and BatchingParameters' defaults and checks.
#include "server/batching/batcher.h"

#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "model/loaded_model.h"
#include "server/batching/batch_tensors.h"
#include "server/batching/batching_options.h"
#include "tests/kernel_test_util.h"
#include "tests/test_support.h"

namespace swapserve::server::batching {
namespace {

using ::swapserve::testing::Fixture;
using ::swapserve::testing::Floats;

constexpr int kFeatures = 784;

absl::StatusOr<std::vector<Tensor>> RunDirect(const Plan& plan, const WeightSet& weights,
                                              const std::vector<Tensor>& inputs) {
  return plan.Run(weights, inputs);
}

// The seed MLP with cp-0000's weights, and a second weight set: the same
// with every float halved (outputs differ by up to ~1).
struct Mlp {
  std::unique_ptr<const LoadedModel> model;
  std::unique_ptr<const WeightSet> later;
  const Plan* plan = nullptr;
};

Mlp LoadMlp() {
  Mlp m;
  LoadOptions options;
  options.checkpoint = Fixture("keras_seed_mlp/training_2/cp-0000.ckpt");
  auto model = LoadModel(Fixture("keras_seed_mlp/saved_model"), options);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return m;
  m.model = *std::move(model);
  std::vector<Tensor> halved;
  for (int i = 0; i < m.model->weights->size(); ++i) {
    const Tensor& w = m.model->weights->slot(i);
    Tensor h = *Tensor::Allocate(w.dtype(), w.shape());
    for (int64_t e = 0; e < w.num_elements(); ++e) h.data<float>()[e] = w.data<float>()[e] / 2;
    halved.push_back(std::move(h));
  }
  m.later = std::make_unique<WeightSet>(std::move(halved), "halved");
  auto plan = m.model->FindPlan("");
  EXPECT_TRUE(plan.ok());
  if (plan.ok()) m.plan = *plan;
  return m;
}

// `rows` rows of pseudo-random pixels, seeded.
Tensor Rows(int rows, int seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(rows) * kFeatures);
  for (float& x : v) x = u(gen);
  return Floats({rows, kFeatures}, v);
}

// Outputs equal within batch-size rounding (GEMV vs GEMM sum in other orders).
void ExpectNear(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape()) << got[i].DebugString();
    for (int64_t e = 0; e < got[i].num_elements(); ++e) {
      ASSERT_NEAR(got[i].data<float>()[e], want[i].data<float>()[e], 1e-5f) << "element " << e;
    }
  }
}

#define SS_REQUIRE_MLP(m)                                  \
  SS_REQUIRE_FIXTURE(mlp_dir_, "keras_seed_mlp/saved_model"); \
  const Mlp m = LoadMlp();                                 \
  ASSERT_NE(m.plan, nullptr);                              \
  ASSERT_NE(m.later, nullptr)

// Waits until `rows` rows are queued (the calling threads have enqueued).
void AwaitQueued(const Batcher& b, int64_t rows) {
  for (int i = 0; i < 2000 && b.stats().queued_rows < rows; ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(b.stats().queued_rows, rows);
}

TEST(BatcherTest, MergedCallsGetTheirOwnRows) {
  SS_REQUIRE_MLP(m);
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 8;
  options.batch_timeout = absl::Seconds(60);  // Only a full batch runs.
  const WeightSet& weights = *m.model->weights;
  Batcher batcher(options, RunDirect);
  std::vector<std::vector<Tensor>> got(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto out = batcher.Run(*m.plan, weights, {Rows(1, i)}, CallInfo{});
      ASSERT_TRUE(out.ok()) << out.status();
      got[i] = *std::move(out);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(batcher.stats().batches, 1);
  EXPECT_EQ(batcher.stats().calls, 8);
  for (int i = 0; i < 8; ++i) {
    auto want = m.plan->Run(weights, {Rows(1, i)});
    ASSERT_TRUE(want.ok());
    ExpectNear(got[i], *want);
  }
}

TEST(BatcherTest, MixedSizesFromManyThreadsMatchUnbatched) {
  SS_REQUIRE_MLP(m);
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 16;
  options.allowed_batch_sizes = {4, 8, 16};
  options.batch_timeout = absl::Milliseconds(2);
  options.num_batch_threads = 2;
  options.max_enqueued_batches = 1000;
  const WeightSet& weights = *m.model->weights;
  Batcher batcher(options, RunDirect);
  std::atomic<int> checked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 20; ++k) {
        const int rows = 1 + (t + k) % 5;
        const Tensor in = Rows(rows, t * 100 + k);
        auto out = batcher.Run(*m.plan, weights, {in}, CallInfo{});
        ASSERT_TRUE(out.ok()) << out.status();
        auto want = m.plan->Run(weights, {in});
        ASSERT_TRUE(want.ok());
        ExpectNear(*out, *want);
        ++checked;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(checked, 120);
  EXPECT_EQ(batcher.stats().calls, 120);
}

TEST(BatcherTest, PadsToAnAllowedSizeInvisibly) {
  SS_REQUIRE_MLP(m);
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 8;
  options.allowed_batch_sizes = {4, 8};
  const WeightSet& weights = *m.model->weights;
  Batcher batcher(options, RunDirect);
  const Tensor in = Rows(3, 7);
  auto out = batcher.Run(*m.plan, weights, {in}, CallInfo{});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape().dim(0), 3);
  EXPECT_EQ(batcher.stats().padded_rows, 1);
  auto want = m.plan->Run(weights, {in});
  ASSERT_TRUE(want.ok());
  ExpectNear(*out, *want);
}

TEST(BatcherTest, OversizedCallsAreRefusedOrSplit) {
  SS_REQUIRE_MLP(m);
  const WeightSet& weights = *m.model->weights;
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 8;
  {
    Batcher batcher(options, RunDirect);
    auto out = batcher.Run(*m.plan, weights, {Rows(9, 1)}, CallInfo{});
    ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(out.status().message(), "Task size 9 is larger than maximum input batch size 8");
  }
  options.max_batch_size = 32;
  options.max_execution_batch_size = 4;
  options.enable_large_batch_splitting = true;
  Batcher batcher(options, RunDirect);
  const Tensor in = Rows(11, 2);
  auto out = batcher.Run(*m.plan, weights, {in}, CallInfo{});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(batcher.stats().calls, 3);  // 4 + 4 + 3 rows.
  auto want = m.plan->Run(weights, {in});
  ASSERT_TRUE(want.ok());
  ExpectNear(*out, *want);
}

TEST(BatcherTest, AFullQueueRefusesAtOnce) {
  SS_REQUIRE_MLP(m);
  const WeightSet& weights = *m.model->weights;
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 4;
  options.max_enqueued_batches = 1;
  options.batch_timeout = absl::Seconds(60);
  Batcher batcher(options, RunDirect);
  std::thread waiting([&] {
    auto out = batcher.Run(*m.plan, weights, {Rows(3, 1)}, CallInfo{});
    EXPECT_TRUE(out.ok()) << out.status();
  });
  AwaitQueued(batcher, 3);
  const absl::Time start = absl::Now();
  auto refused = batcher.Run(*m.plan, weights, {Rows(2, 2)}, CallInfo{});
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // Not the batch timeout.
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "The batch scheduling queue to which this task was submitted is full"))
      << refused.status();
  // One more row fills the batch, which then runs both.
  auto fits = batcher.Run(*m.plan, weights, {Rows(1, 3)}, CallInfo{});
  EXPECT_TRUE(fits.ok()) << fits.status();
  waiting.join();
  EXPECT_EQ(batcher.stats().batches, 1);
}

TEST(BatcherTest, LateAndCancelledCallsAreDroppedBeforeRunning) {
  SS_REQUIRE_MLP(m);
  const WeightSet& weights = *m.model->weights;
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 8;
  std::atomic<int> runs{0};
  Batcher batcher(options, [&](const Plan& p, const WeightSet& w, const std::vector<Tensor>& in) {
    ++runs;
    return p.Run(w, in);
  });
  CallInfo late;
  late.deadline = absl::Now() - absl::Seconds(1);
  auto out = batcher.Run(*m.plan, weights, {Rows(1, 1)}, late);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded) << out.status();
  EXPECT_EQ(runs, 0);
}

// Whether the client has gone is asked only of calls that waited (the question
// costs a gRPC completion-queue poll): one that waited for its batch is dropped,
// one that ran at once is not asked at all.
TEST(BatcherTest, CancelledIsAskedOfCallsThatWaited) {
  SS_REQUIRE_MLP(m);
  const WeightSet& weights = *m.model->weights;
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 8;
  options.batch_timeout = 2 * kAskCancelledAfter;
  std::atomic<int> runs{0};
  Batcher waits(options, [&](const Plan& p, const WeightSet& w, const std::vector<Tensor>& in) {
    ++runs;
    return p.Run(w, in);
  });
  std::atomic<int> asked{0};
  CallInfo gone;
  gone.cancelled = [&] {
    ++asked;
    return true;
  };
  auto out = waits.Run(*m.plan, weights, {Rows(1, 1)}, gone);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kCancelled) << out.status();
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(asked, 1);

  options.batch_timeout = absl::ZeroDuration();
  Batcher at_once(options, RunDirect);
  out = at_once.Run(*m.plan, weights, {Rows(1, 1)}, gone);
  EXPECT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(asked, 1);
}

TEST(BatcherTest, ABatchNeverMixesWeightSets) {
  SS_REQUIRE_MLP(m);
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 4;
  options.batch_timeout = absl::Seconds(60);
  Batcher batcher(options, RunDirect);
  const WeightSet* sets[2] = {m.model->weights.get(), m.later.get()};
  std::vector<std::vector<Tensor>> got(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto out = batcher.Run(*m.plan, *sets[i % 2], {Rows(1, i)}, CallInfo{});
      ASSERT_TRUE(out.ok()) << out.status();
      got[i] = *std::move(out);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(batcher.stats().batches, 2);  // One full batch per weight set.
  for (int i = 0; i < 8; ++i) {
    auto want = m.plan->Run(*sets[i % 2], {Rows(1, i)});
    ASSERT_TRUE(want.ok());
    ExpectNear(got[i], *want);
  }
}

TEST(BatcherTest, ShutdownAnswersQueuedCalls) {
  SS_REQUIRE_MLP(m);
  BatchingOptions options;
  options.max_batch_size = options.max_execution_batch_size = 8;
  options.batch_timeout = absl::Seconds(60);
  auto batcher = std::make_unique<Batcher>(options, RunDirect);
  absl::Status status;
  std::thread waiting([&] {
    status = batcher->Run(*m.plan, *m.model->weights, {Rows(1, 1)}, CallInfo{}).status();
  });
  AwaitQueued(*batcher, 1);
  batcher.reset();
  waiting.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(BatchTensorsTest, StackPadAndSliceStrings) {
  Tensor a = *Tensor::Allocate(tensorflow::DT_STRING, TensorShape({2}));
  a.strings() = {"a", "b"};
  Tensor b = *Tensor::Allocate(tensorflow::DT_STRING, TensorShape({1}));
  b.strings() = {"c"};
  auto stacked = StackRows({&a, &b}, 4);
  ASSERT_TRUE(stacked.ok());
  EXPECT_EQ(stacked->strings(), (std::vector<std::string>{"a", "b", "c", "a"}));
  auto slice = SliceRows(*stacked, 1, 2);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->strings(), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(RowKey(a), RowKey(b));
  EXPECT_NE(RowKey(a), RowKey(Floats({2}, {1, 2})));
}

// TF Serving's padding: every dimension after the first grows at its end to
// the target, with the tensor's first element; an empty tensor cannot be padded.
TEST(BatchTensorsTest, PadToDimsWithTheFirstElement) {
  Tensor s = *Tensor::Allocate(tensorflow::DT_STRING, TensorShape({2, 1, 2}));
  s.strings() = {"a", "b", "c", "d"};
  auto padded = PadToDims(s, {7, 2, 3});  // dims[0] is ignored
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_EQ(padded->shape().dims(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(padded->strings(), (std::vector<std::string>{"a", "b", "a", "a", "a", "a",  //
                                                         "c", "d", "a", "a", "a", "a"}));
  Tensor f = Floats({1, 2}, {5, 6});
  auto grown = PadToDims(f, {1, 4});
  ASSERT_TRUE(grown.ok()) << grown.status();
  EXPECT_EQ(grown->shape().dims(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(std::vector<float>(grown->data<float>(), grown->data<float>() + 4),
            (std::vector<float>{5, 6, 5, 5}));
  EXPECT_EQ(RankKey(f), RankKey(Floats({3, 9}, std::vector<float>(27, 0))));
  EXPECT_NE(RankKey(f), RankKey(Floats({2}, {1, 2})));
  Tensor empty = *Tensor::Allocate(tensorflow::DT_FLOAT, TensorShape({1, 0}));
  EXPECT_EQ(PadToDims(empty, {1, 2}).status().message(),
            "Got empty tensor in batch of non-empty tensors.");
}

// With pad_variable_length_inputs, calls whose inputs differ after dimension 0
// share one batch and get their rows of the padded batch's outputs, as in TF
// Serving; without it they never merge and each gets its own shape.
TEST(BatcherTest, PadsVariableLengthInputsWhenAsked) {
  SS_REQUIRE_FIXTURE(hp2, "tf_serving/saved_model_half_plus_two_cpu");
  auto model = LoadModel(hp2, LoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto plan = (*model)->FindPlan("");
  ASSERT_TRUE(plan.ok()) << plan.status();
  const WeightSet& weights = *(*model)->weights;
  auto values = [](const absl::StatusOr<std::vector<Tensor>>& out) {
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return std::vector<float>{};
    const Tensor& y = (*out)[0];
    return std::vector<float>(y.data<float>(), y.data<float>() + y.num_elements());
  };
  for (bool pad : {true, false}) {
    BatchingOptions options;
    options.max_batch_size = options.max_execution_batch_size = 2;
    // Padded calls wait for each other (a batch of 2 runs at once); the others
    // cannot share a queue, so each runs when its timeout passes.
    options.batch_timeout = pad ? absl::Seconds(5) : absl::Milliseconds(1);
    options.pad_variable_length_inputs = pad;
    Batcher batcher(options, RunDirect);
    absl::StatusOr<std::vector<Tensor>> short_out, long_out;
    std::thread other(
        [&] { short_out = batcher.Run(**plan, weights, {Floats({1, 2}, {1, 2})}, CallInfo{}); });
    long_out = batcher.Run(**plan, weights, {Floats({1, 3}, {4, 5, 6})}, CallInfo{});
    other.join();
    // half_plus_two: y = x / 2 + 2.
    EXPECT_EQ(values(long_out), (std::vector<float>{4, 4.5, 5})) << pad;
    EXPECT_EQ(values(short_out), pad ? (std::vector<float>{2.5, 3, 2.5})  // padded with 1
                                     : (std::vector<float>{2.5, 3}));
    EXPECT_EQ(batcher.stats().batches, pad ? 1 : 2);
  }
}

TEST(BatchingOptionsTest, DefaultsAndChecks) {
  tensorflow::serving::BatchingParameters p;
  auto o = ToBatchingOptions(p, 2);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->max_batch_size, 1000);
  EXPECT_EQ(o->max_execution_batch_size, 1000);
  EXPECT_EQ(o->batch_timeout, absl::ZeroDuration());
  EXPECT_EQ(o->max_enqueued_batches, 10);
  EXPECT_EQ(o->num_batch_threads, 2);

  p.mutable_max_batch_size()->set_value(32);
  p.add_allowed_batch_sizes(8);
  p.add_allowed_batch_sizes(16);
  auto bad = ToBatchingOptions(p, 2);
  EXPECT_EQ(bad.status().message(),
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 16; "
            "expected 32");
  p.add_allowed_batch_sizes(32);
  EXPECT_TRUE(ToBatchingOptions(p, 2).ok());
  p.clear_allowed_batch_sizes();
  p.add_allowed_batch_sizes(16);
  p.add_allowed_batch_sizes(8);
  p.add_allowed_batch_sizes(32);
  EXPECT_TRUE(absl::StrContains(ToBatchingOptions(p, 2).status().message(), "increasing"));

  p.clear_allowed_batch_sizes();
  p.mutable_enable_large_batch_splitting()->set_value(true);
  p.mutable_max_execution_batch_size()->set_value(64);
  EXPECT_TRUE(absl::StrContains(ToBatchingOptions(p, 2).status().message(),
                                "must be greater than or equal to max_execution_batch_size"));
  p.mutable_max_execution_batch_size()->set_value(8);
  p.add_allowed_batch_sizes(4);
  p.add_allowed_batch_sizes(8);
  o = ToBatchingOptions(p, 2);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->max_execution_batch_size, 8);

  for (auto* field : {p.mutable_num_batch_threads(), p.mutable_max_enqueued_batches(),
                      p.mutable_max_batch_size()}) {
    field->set_value(0);
    EXPECT_EQ(ToBatchingOptions(p, 2).status().code(), absl::StatusCode::kInvalidArgument);
    field->set_value(8);
  }
  ASSERT_TRUE(ToBatchingOptions(p, 2).ok());
  EXPECT_FALSE(ToBatchingOptions(p, 2)->pad_variable_length_inputs);
  p.set_pad_variable_length_inputs(true);
  EXPECT_TRUE(ToBatchingOptions(p, 2)->pad_variable_length_inputs);
}

}  // namespace
}  // namespace swapserve::server::batching
