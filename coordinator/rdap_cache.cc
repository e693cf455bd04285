#include "coordinator/rdap_cache.h"

namespace hl::coordinator {
namespace {

void AppendExpiry(int64_t expires_ms, std::string* out) {
  const auto v = static_cast<uint64_t>(expires_ms);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

int64_t ReadExpiry(std::string_view value) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < value.size(); ++i) {
    v = (v << 8) | static_cast<uint8_t>(value[i]);
  }
  return static_cast<int64_t>(v);
}

}  // namespace

std::optional<std::string> StoreRdapCache::Get(const std::string& key,
                                               int64_t now_ms) {
  auto value = store_->GetRdapCache("u" + key);
  if (!value.ok() || !value->has_value() || (*value)->size() < 8 ||
      ReadExpiry(**value) <= now_ms) {
    return std::nullopt;
  }
  return (*value)->substr(8);
}

void StoreRdapCache::Put(const std::string& key, const std::string& body,
                         int64_t expires_ms) {
  std::string value;
  AppendExpiry(expires_ms, &value);
  value += body;
  (void)store_->PutRdapCache("u" + key, value);
}

std::optional<std::string> StoreRdapCache::FindNetwork(const net::IpAddress& ip,
                                                       int64_t now_ms) {
  const std::string key = rdap::AddressKey(ip);
  auto entry = store_->SeekRdapCache("n" + key, "n" + key.substr(0, 1));
  if (!entry.ok() || !entry->has_value()) return std::nullopt;
  const std::string& value = (*entry)->second;
  if (value.size() < 9) return std::nullopt;
  const size_t first_size = static_cast<uint8_t>(value[8]);
  if (value.size() < 9 + first_size || ReadExpiry(value) <= now_ms ||
      value.compare(9, first_size, key) > 0) {
    return std::nullopt;
  }
  return value.substr(9 + first_size);
}

void StoreRdapCache::PutNetwork(const net::IpAddress& first,
                                const net::IpAddress& last,
                                const std::string& body, int64_t expires_ms) {
  const std::string first_key = rdap::AddressKey(first);
  std::string value;
  AppendExpiry(expires_ms, &value);
  value.push_back(static_cast<char>(first_key.size()));
  value += first_key;
  value += body;
  (void)store_->PutRdapCache("n" + rdap::AddressKey(last), value);
}

}  // namespace hl::coordinator
