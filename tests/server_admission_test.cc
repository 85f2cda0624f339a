// Admission control (--max_concurrent_requests): with the bound's worth of
// inference calls in progress (held inside the daemon by --testing_hooks), a
// flood of further calls — gRPC and REST, each carrying a 1 MB tensor — is
// refused with RESOURCE_EXHAUSTED / HTTP 429 while the held calls are still
// held, the daemon's memory does not keep what the flood sent, status calls
// stay open, the admitted calls succeed, and once they are answered new calls
// are admitted again.
#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

TEST(ServerAdmissionTest, CallsBeyondTheBoundAreRefusedAtOnce) {
  SS_REQUIRE_FIXTURE(base, "tf_serving/saved_model_half_plus_two_cpu");
  auto d = Daemon::StartForMemory({"--model_name=hp2", "--model_base_path=" + base,
                                   "--testing_hooks", "--max_concurrent_requests=2"},
                                  /*rest=*/true);
  ASSERT_NE(d, nullptr);
  const tfs::PredictRequest small = FloatRequest("hp2", "x", {3}, {1, 2, 5});

  // Two calls fill the bound and stay inside until released by the clock.
  std::atomic<int> held_ok{0};
  std::atomic<bool> held_done{false};
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([&] {
      auto context = ContextWithDeadline();
      context->AddMetadata("swapserve-testing-hold-ms", "8000");
      tfs::PredictResponse response;
      grpc::Status s = d->prediction().Predict(context.get(), small, &response);
      if (s.ok() && Floats(response.outputs().at("y")) == std::vector<float>{2.5, 3, 4.5}) ++held_ok;
      held_done = true;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return Occurrences(d->Log(), "testing hook: holding a call") == 2; },
                      absl::Seconds(20)))
      << d->Log();
  const int64_t before_kib = d->ResidentKib();

  // The flood: 400 calls of 1 MB each from 8 threads.
  const tfs::PredictRequest big = FloatRequest("hp2", "x", {262144}, std::vector<float>(262144, 1));
  std::atomic<int> refused{0}, other{0};
  std::string other_error;
  std::vector<std::thread> flood;
  for (int t = 0; t < 8; ++t) {
    flood.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        tfs::PredictResponse response;
        grpc::Status s = d->prediction().Predict(ContextWithDeadline().get(), big, &response);
        if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
            absl::StrContains(s.error_message(), "--max_concurrent_requests")) {
          ++refused;
        } else if (other++ == 0) {
          other_error = s.error_message();
        }
      }
    });
  }
  for (auto& t : flood) t.join();
  EXPECT_EQ(refused, 400) << "first other answer: " << other_error;
  EXPECT_FALSE(held_done) << "the flood was refused only after the held calls ended";
  const int64_t grown_kib = d->ResidentKib() - before_kib;
  EXPECT_LT(grown_kib, 64 * 1024) << "400 MB were sent and refused; RSS grew " << grown_kib
                                  << " KiB";

  // REST is under the same bound; status is not.
  Reply rest = Curl("-X POST -d '{\"instances\": [1.0, 2.0]}' " + d->Url("/v1/models/hp2:predict"));
  EXPECT_EQ(rest.code, 429) << rest.head << rest.body;
  EXPECT_TRUE(absl::StrContains(rest.body, "--max_concurrent_requests")) << rest.body;
  Reply status = Curl(d->Url("/v1/models/hp2"));
  EXPECT_EQ(status.code, 200) << status.body;
  EXPECT_FALSE(held_done) << "the REST checks ran after the held calls ended";

  for (auto& t : holders) t.join();
  EXPECT_EQ(held_ok, 2) << d->Log();
  tfs::PredictResponse response;
  grpc::Status s = d->prediction().Predict(ContextWithDeadline().get(), small, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  rest = Curl("-X POST -d '{\"instances\": [1.0, 2.0]}' " + d->Url("/v1/models/hp2:predict"));
  EXPECT_EQ(rest.code, 200) << rest.body;
}

}  // namespace
}  // namespace swapserve::testing
