// The geolocation database of the worker tests: country and AS records of
// loopback networks, written as one MMDB (type
// "hostlocator-test-country-asn", build epoch 1,750,000,000) into a
// temporary folder that lives as long as the TestGeo, and opened as both
// the country and the ASN database.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/geo/geo.h"
#include "common/geo/mmdb_writer.h"
#include "common/status.h"

namespace hl::worker::testing {

struct TestNetwork {
  std::string cidr;
  std::string country;
  uint32_t asn = 0;  // 0: no AS fields
  std::string as_org;
};

class TestGeo {
 public:
  explicit TestGeo(const std::vector<TestNetwork>& networks) {
    std::string dir =
        (std::filesystem::temp_directory_path() / "hl-worker-geo-XXXXXX")
            .string();
    if (mkdtemp(dir.data()) == nullptr) {
      status_ = Internal("cannot create a temporary folder");
      return;
    }
    dir_ = dir;
    geo::MmdbWriterOptions options;
    options.database_type = "hostlocator-test-country-asn";
    options.build_epoch = 1'750'000'000;
    geo::MmdbWriter writer(options);
    for (const TestNetwork& network : networks) {
      auto cidr = net::Cidr::Parse(network.cidr);
      if (!cidr.ok()) {
        status_ = cidr.status();
        return;
      }
      geo::MmdbValue::Map record = {{"country_code", network.country}};
      if (network.asn != 0) {
        record.emplace("autonomous_system_number", network.asn);
        record.emplace("autonomous_system_organization", network.as_org);
      }
      status_ = writer.Insert(*cidr, geo::MmdbValue(std::move(record)));
      if (!status_.ok()) return;
    }
    const std::string path = dir_ + "/test.mmdb";
    status_ = writer.WriteFile(path);
    if (!status_.ok()) return;
    geo::GeoConfig config;
    config.country = {path};
    config.asn = {path};
    auto opened = geo::GeoLocator::Open(config);
    if (!opened.ok()) {
      status_ = opened.status();
      return;
    }
    locator_ = std::move(opened).value();
  }

  ~TestGeo() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  TestGeo(const TestGeo&) = delete;
  TestGeo& operator=(const TestGeo&) = delete;

  const Status& status() const { return status_; }
  std::shared_ptr<const geo::GeoLocator> locator() const { return locator_; }

 private:
  std::string dir_;
  Status status_;
  std::shared_ptr<const geo::GeoLocator> locator_;
};

}  // namespace hl::worker::testing
