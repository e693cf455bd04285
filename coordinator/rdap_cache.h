// rdap::RdapCache over the store's `rdap_cache` family, so that RDAP
// answers outlive the process and serve the whole fleet.
//
// Keys: "u" + URL for answers by URL, "n" + rdap::AddressKey(last address)
// for network ranges. Values: the expiry (8 bytes, big-endian ms), for a
// range the length (1 byte) and AddressKey of its first address, then the
// body. Expired entries are ignored, and overwritten when asked again.
// Store errors count as misses (the answer is asked again).
#pragma once

#include "common/rdap_client.h"
#include "coordinator/store.h"

namespace hl::coordinator {

class StoreRdapCache : public rdap::RdapCache {
 public:
  explicit StoreRdapCache(Store* store) : store_(store) {}

  std::optional<std::string> Get(const std::string& key,
                                 int64_t now_ms) override;
  void Put(const std::string& key, const std::string& body,
           int64_t expires_ms) override;
  std::optional<std::string> FindNetwork(const net::IpAddress& ip,
                                         int64_t now_ms) override;
  void PutNetwork(const net::IpAddress& first, const net::IpAddress& last,
                  const std::string& body, int64_t expires_ms) override;

 private:
  Store* store_;
};

}  // namespace hl::coordinator
