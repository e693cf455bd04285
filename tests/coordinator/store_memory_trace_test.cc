#include "coordinator/store_memory_trace.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/store.h"

namespace hl::coordinator {
namespace {

namespace fs = std::filesystem;

class StoreMemoryTraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hl-memtrace-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    ::unsetenv(kStoreMemoryTraceEnv);
    fs::remove_all(dir_);
  }

  // Opens a store in dir_/data, writes one run, closes it.
  void OpenWriteClose() {
    auto store = Store::Open((dir_ / "data").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->BeginRun(pb::RunRecord(), 1000).ok());
  }

  fs::path dir_;
};

std::vector<std::string> ReadLines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::map<std::string, long long> Fields(const std::string& line) {
  std::map<std::string, long long> fields;
  std::istringstream in(line);
  for (std::string field; in >> field;) {
    auto eq = field.find('=');
    if (eq == std::string::npos) continue;
    fields[field.substr(0, eq)] = std::stoll(field.substr(eq + 1));
  }
  return fields;
}

TEST_F(StoreMemoryTraceTest, UnsetWritesNothing) {
  ::unsetenv(kStoreMemoryTraceEnv);
  OpenWriteClose();
  EXPECT_FALSE(fs::exists(dir_ / "trace.txt"));
}

TEST_F(StoreMemoryTraceTest, WritesAFirstAndALastSampleOfEveryField) {
  const fs::path trace = dir_ / "trace.txt";
  ASSERT_EQ(::setenv(kStoreMemoryTraceEnv, trace.c_str(), 1), 0);
  OpenWriteClose();
  OpenWriteClose();  // appends
  auto lines = ReadLines(trace);
  ASSERT_GE(lines.size(), 6u);  // per store: header, first and last sample
  EXPECT_EQ(lines[0], "# pid=" + std::to_string(::getpid()));
  int headers = 0;
  for (const auto& line : lines) {
    if (line.starts_with("#")) {
      ++headers;
      continue;
    }
    auto fields = Fields(line);
    for (const char* key :
         {"t_ms", "rss_kb", "memtables", "table_readers", "block_cache",
          "block_cache_pinned", "sst_files", "flushes", "compactions",
          "je_allocated", "je_resident", "je_retained", "immutable_memtables",
          "write_stopped", "delayed_write_rate"}) {
      EXPECT_TRUE(fields.contains(key)) << key << " missing in " << line;
    }
    EXPECT_GT(fields["rss_kb"], 0) << line;
    EXPECT_GT(fields["memtables"], 0) << line;  // a memtable is allocated
    EXPECT_GE(fields["t_ms"], 0) << line;
  }
  EXPECT_EQ(headers, 2);
}

TEST_F(StoreMemoryTraceTest, UnopenableFileLeavesTheStoreWorking) {
  ASSERT_EQ(::setenv(kStoreMemoryTraceEnv,
                     (dir_ / "missing" / "trace.txt").c_str(), 1),
            0);
  OpenWriteClose();
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
}

}  // namespace
}  // namespace hl::coordinator
