// A gtest fixture owning a fresh temporary directory per test.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace hl::geo::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "hl-geo-test-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // The path of `name` inside the directory.
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes `contents` to `name` inside the directory; returns its path.
  std::string WriteText(const std::string& name, const std::string& contents) {
    const std::string path = Path(name);
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

 private:
  std::string dir_;
};

}  // namespace hl::geo::testing
