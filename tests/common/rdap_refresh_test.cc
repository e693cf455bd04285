// `hostlocator rdap refresh` (rdap::RefreshBootstrap) against a loopback
// server of bootstrap files: good files, 404, malformed, partial.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/rdap_client.h"

namespace hl::rdap {
namespace {

using ::testing::HasSubstr;

std::string Registry(const std::string& publication,
                     const std::string& services) {
  return R"({"description": "test", "publication": ")" + publication +
         R"(", "services": )" + services + R"(, "version": "1.0"})";
}

std::string Read(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class RdapRefreshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_ = {
        {"/rdap/ipv4.json",
         Registry("2026-11-01T00:00:00Z",
                  R"([[["193.0.0.0/8"], ["https://rdap.db.ripe.net/"]]])")},
        {"/rdap/ipv6.json",
         Registry("2026-11-02T00:00:00Z",
                  R"([[["2a00::/12"], ["https://rdap.db.ripe.net/"]]])")},
        {"/rdap/asn.json",
         Registry("2026-11-03T00:00:00Z",
                  R"([[["3154-3353"], ["https://rdap.db.ripe.net/"]]])")},
        {"/rdap/dns.json",
         Registry("2026-11-04T00:00:00Z",
                  R"([[["com"], ["https://rdap.verisign.com/com/v1/"]]])")},
    };
    server_.Get(R"(/rdap/(.*))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  auto it = files_.find(req.path);
                  if (it == files_.end()) {
                    res.status = 404;
                    return;
                  }
                  res.set_content(it->second, "application/json");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() only stops a server that runs.
    while (!server_.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-rdap-refresh-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // The files a failed refresh must leave as they are.
    for (const char* name : {"ipv4", "ipv6", "asn", "dns"}) {
      std::ofstream(dir_ / (std::string(name) + ".json")) << "old " << name;
    }
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
    std::filesystem::remove_all(dir_);
  }

  Result<std::vector<FetchedRegistry>> Refresh() {
    return RefreshBootstrap(
        "http://127.0.0.1:" + std::to_string(port_) + "/rdap", dir_.string(),
        5000, 1'800'000'000'000);
  }
  void ExpectUnchanged() {
    for (const char* name : {"ipv4", "ipv6", "asn", "dns"}) {
      EXPECT_EQ(Read(dir_ / (std::string(name) + ".json")),
                "old " + std::string(name));
    }
    EXPECT_FALSE(std::filesystem::exists(dir_ / "SOURCES.md"));
  }

  std::map<std::string, std::string> files_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::filesystem::path dir_;
};

TEST_F(RdapRefreshTest, GoodFilesReplaceTheOldOnesWithTheirDates) {
  auto fetched = Refresh();
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  ASSERT_EQ(fetched->size(), 4u);
  EXPECT_EQ((*fetched)[0].publication, "2026-11-01T00:00:00Z");
  EXPECT_EQ((*fetched)[3].publication, "2026-11-04T00:00:00Z");
  EXPECT_EQ(Read(dir_ / "asn.json"), files_["/rdap/asn.json"]);
  const std::string sources = Read(dir_ / "SOURCES.md");
  EXPECT_THAT(sources, HasSubstr("/rdap/ on 2027-01-15T08:00:00.000Z"));
  EXPECT_THAT(sources, HasSubstr("dns.json: publication 2026-11-04T00:00:00Z"));
  auto loaded = Bootstrap::Load(dir_.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->ForAsn(3333), "https://rdap.db.ripe.net/");
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_FALSE(entry.path().string().ends_with(".tmp")) << entry.path();
  }
}

TEST_F(RdapRefreshTest, AMissingFileChangesNothing) {
  files_.erase("/rdap/dns.json");
  auto fetched = Refresh();
  ASSERT_FALSE(fetched.ok());
  EXPECT_THAT(fetched.status().message(),
              HasSubstr("dns.json answered HTTP 404"));
  ExpectUnchanged();
}

TEST_F(RdapRefreshTest, AMalformedFileChangesNothing) {
  files_["/rdap/ipv6.json"] = "<html>maintenance</html>";
  auto fetched = Refresh();
  ASSERT_FALSE(fetched.ok());
  EXPECT_THAT(fetched.status().message(), HasSubstr("ipv6.json: not JSON"));
  ExpectUnchanged();
}

TEST_F(RdapRefreshTest, APartialFileChangesNothing) {
  // Cut short: valid JSON up to where the transfer stopped is not.
  const std::string& full = files_["/rdap/asn.json"];
  files_["/rdap/asn.json"] = full.substr(0, full.size() / 2);
  EXPECT_FALSE(Refresh().ok());
  ExpectUnchanged();
  // Complete JSON that is not IANA's format either.
  files_["/rdap/asn.json"] = R"({"publication": "x", "services": [["1"]]})";
  auto fetched = Refresh();
  ASSERT_FALSE(fetched.ok());
  EXPECT_THAT(fetched.status().message(), HasSubstr("services[0]: not a pair"));
  ExpectUnchanged();
}

TEST_F(RdapRefreshTest, NoServerChangesNothing) {
  server_.stop();
  auto fetched = Refresh();
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kUnavailable);
  ExpectUnchanged();
}

}  // namespace
}  // namespace hl::rdap
