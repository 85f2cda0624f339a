// AspiredVersions: TF Serving's version policies applied to what is on disk.
#include "server/version_policy.h"

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace swapserve::server {
namespace {

VersionPolicy Policy(const std::string& text) {
  VersionPolicy p;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &p)) << text;
  return p;
}

TEST(VersionPolicyTest, UnsetMeansLatestOne) {
  EXPECT_EQ(AspiredVersions(VersionPolicy(), {123, 124, 7}), (std::set<int64_t>{124}));
  EXPECT_EQ(PolicyDebugString(VersionPolicy()), "latest(1)");
}

TEST(VersionPolicyTest, LatestN) {
  EXPECT_EQ(AspiredVersions(Policy("latest { num_versions: 2 }"), {1, 5, 3}),
            (std::set<int64_t>{3, 5}));
  EXPECT_EQ(AspiredVersions(Policy("latest { num_versions: 9 }"), {1, 5}),
            (std::set<int64_t>{1, 5}));
  EXPECT_EQ(AspiredVersions(Policy("latest { }"), {1, 5}), (std::set<int64_t>{5}));
}

TEST(VersionPolicyTest, All) {
  EXPECT_EQ(AspiredVersions(Policy("all { }"), {123, 124}), (std::set<int64_t>{123, 124}));
  EXPECT_EQ(PolicyDebugString(Policy("all { }")), "all");
}

TEST(VersionPolicyTest, SpecificOnlyWhatIsOnDisk) {
  EXPECT_EQ(AspiredVersions(Policy("specific { versions: 123 versions: 200 }"), {123, 124}),
            (std::set<int64_t>{123}));
  EXPECT_EQ(PolicyDebugString(Policy("specific { versions: 123 versions: 200 }")),
            "specific(123,200)");
}

TEST(VersionPolicyTest, NothingOnDisk) {
  EXPECT_TRUE(AspiredVersions(VersionPolicy(), {}).empty());
  EXPECT_TRUE(AspiredVersions(Policy("all { }"), {}).empty());
}

}  // namespace
}  // namespace swapserve::server
