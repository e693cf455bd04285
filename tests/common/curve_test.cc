#include "common/curve.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hl {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CurveFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hl-curve-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CurveFilesTest, WritesKeyFilesThatReadBack) {
  auto pair = WriteCurveKeyFiles((dir_ / "keys").string(), "worker-1");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const fs::path key = dir_ / "keys" / "worker-1.key";
  const fs::path pub = dir_ / "keys" / "worker-1.pub";
  EXPECT_EQ(fs::status(key).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir_ / "keys").permissions() & fs::perms::all,
            fs::perms::owner_all);
  auto secret = ReadSecretKeyFile(key.string());
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->public_z85, pair->public_z85);
  EXPECT_EQ(secret->secret_z85, pair->secret_z85);
  auto pub_key = ReadPublicKeyFile(pub.string());
  ASSERT_TRUE(pub_key.ok());
  EXPECT_EQ(*pub_key, pair->public_z85);
  EXPECT_EQ(KeyFingerprint(pair->public_z85).size(), 16u);
}

TEST_F(CurveFilesTest, RefusesToReplaceKeysOrUseOddNames) {
  ASSERT_TRUE(WriteCurveKeyFiles(dir_.string(), "w").ok());
  auto again = WriteCurveKeyFiles(dir_.string(), "w");
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("exists"));
  for (const char* name : {"", "..", "a/b", "key name"}) {
    EXPECT_EQ(WriteCurveKeyFiles(dir_.string(), name).status().code(),
              StatusCode::kInvalidArgument)
        << name;
  }
}

TEST_F(CurveFilesTest, RefusesASecretKeyOthersCanRead) {
  ASSERT_TRUE(WriteCurveKeyFiles(dir_.string(), "c").ok());
  const std::string key = (dir_ / "c.key").string();
  ASSERT_EQ(::chmod(key.c_str(), 0640), 0);
  auto read = ReadSecretKeyFile(key);
  EXPECT_EQ(read.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(read.status().message(), HasSubstr("chmod 600"));
}

TEST_F(CurveFilesTest, RefusesFilesWithoutAKey) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "bad.pub") << "not a key\n";
  auto read = ReadPublicKeyFile((dir_ / "bad.pub").string());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(read.status().message(), HasSubstr("hostlocator keys generate"));
  EXPECT_EQ(ReadPublicKeyFile((dir_ / "missing.pub").string()).status().code(),
            StatusCode::kNotFound);
}

TEST_F(CurveFilesTest, AuthorizedKeysFromFilesAndDirectories) {
  auto a = WriteCurveKeyFiles((dir_ / "workers").string(), "a");
  auto b = WriteCurveKeyFiles((dir_ / "workers").string(), "b");
  ASSERT_TRUE(a.ok() && b.ok());
  std::ofstream(dir_ / "workers" / "notes.txt") << "not read\n";
  auto keys = ReadAuthorizedKeys(
      {(dir_ / "workers").string(), (dir_ / "workers" / "a.pub").string()});
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::vector<std::string>{a->public_z85, b->public_z85}));
}

TEST(CurveTest, HostLocalEndpoints) {
  struct Case {
    const char* endpoint;
    bool local;
  };
  const Case cases[] = {
      {"inproc://hostlocator", true},   {"ipc:///run/hl.sock", true},
      {"tcp://127.0.0.1:5555", true},   {"tcp://127.9.8.7:1", true},
      {"tcp://localhost:5555", true},   {"tcp://[::1]:5555", true},
      {"tcp://0.0.0.0:5555", false},    {"tcp://*:5555", false},
      {"tcp://10.0.0.5:5555", false},   {"tcp://[::]:5555", false},
      {"tcp://127.evil.test:1", false}, {"tcp://eth0:5555", false},
      {"udp://127.0.0.1:5", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsHostLocalEndpoint(c.endpoint), c.local) << c.endpoint;
  }
}

TEST(CurveTest, PlainTextLeavesTheHostOnlyWhenAllowed) {
  struct Case {
    const char* endpoint;
    bool keys;
    bool allow;
    bool ok;
  };
  const Case cases[] = {
      {"tcp://0.0.0.0:5555", false, false, false},
      {"tcp://0.0.0.0:5555", true, false, true},
      {"tcp://0.0.0.0:5555", false, true, true},
      {"tcp://127.0.0.1:5555", false, false, true},
      {"inproc://x", false, false, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.endpoint);
    Status s = CheckTransportSecurity(c.endpoint, c.keys, c.allow,
                                      "coordinator.allow_plaintext");
    EXPECT_EQ(s.ok(), c.ok) << s.ToString();
    if (!s.ok()) {
      EXPECT_THAT(s.message(), HasSubstr("coordinator.allow_plaintext"));
    }
  }
}

}  // namespace
}  // namespace hl
