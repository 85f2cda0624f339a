// Crash safety of swapserve-train's checkpoints: the trainer is killed (SIGKILL)
// at random moments, again and again, resuming each time; after every kill the
// `checkpoint` pointer resolves to a complete checkpoint whose every tensor reads
// back with a valid CRC32C.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "model/formats/bundle_reader.h"
#include "model/formats/checkpoint_state.h"
#include "model/util/file.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

TEST(TrainerCrashTest, PointerAlwaysResolvesToACompleteCheckpoint) {
  const std::string data = "/usr/share/datasets/fashion-mnist";
  if (!PathExists(data + "/train-images-idx3-ubyte.gz")) {
    if (InCi()) FAIL() << "dataset-fashion-mnist is not installed";
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  TempDir dir;
  std::string train = BuiltProgram("trainer/swapserve-train");
  std::vector<std::string> args = {train, "--model=mlp", "--train_examples=3000",
                                   "--test_examples=200", "--epochs=1000", "--save_freq=4",
                                   "--max_to_keep=2", "--save_weights_only=false", "--resume",
                                   "--quiet", "--checkpoint_path=" + dir.Join("cp-{epoch:04d}-{batch:04d}.ckpt")};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::mt19937 rng(42);
  int checked = 0;
  for (int round = 0; round < 12; ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (round == 0) {
      // The first kill comes after the first checkpoint, however slow the start
      // (the sanitizer build reads the dataset several times slower).
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      while (!PathExists(dir.Join("checkpoint")) && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ASSERT_TRUE(PathExists(dir.Join("checkpoint"))) << "no checkpoint within 120 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 600));
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the trainer ended on its own: " << status;
    absl::StatusOr<std::string> latest = LatestCheckpoint(dir.path());
    if (!latest.ok()) continue;  // killed before its first checkpoint
    auto reader = BundleReader::Open(*latest);
    ASSERT_TRUE(reader.ok()) << "round " << round << ": " << reader.status();
    for (const BundleEntry& e : (*reader)->entries()) {
      EXPECT_TRUE((*reader)->Read(e).ok()) << "round " << round << ": " << e.key;
    }
    ++checked;
  }
  EXPECT_GT(checked, 5);
}

}  // namespace
}  // namespace swapserve::testing
