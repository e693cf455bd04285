#include "common/geo/geo.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

#include "common/digest.h"

namespace hl::geo {
namespace {

constexpr char kFetchHint[] =
    "run scripts/fetch-geodata.sh to download the default databases, or "
    "correct the path in the [geo] section of the configuration";

// The entry data at `path` (a NULL-terminated key list), if present.
std::optional<MMDB_entry_data_s> Get(MMDB_entry_s* entry,
                                     const char* const* path) {
  MMDB_entry_data_s data;
  if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data) {
    return std::nullopt;
  }
  return data;
}

// The first non-empty string among `paths`.
std::string GetString(MMDB_entry_s* entry,
                      std::initializer_list<const char* const*> paths) {
  for (const char* const* path : paths) {
    auto d = Get(entry, path);
    if (d && d->type == MMDB_DATA_TYPE_UTF8_STRING && d->data_size > 0) {
      return std::string(d->utf8_string, d->data_size);
    }
  }
  return "";
}

// An unsigned integer of any MMDB integer type that fits 32 bits.
std::optional<uint32_t> GetUint32(MMDB_entry_s* entry,
                                  const char* const* path) {
  auto d = Get(entry, path);
  if (!d) return std::nullopt;
  uint64_t v;
  switch (d->type) {
    case MMDB_DATA_TYPE_UINT16:
      v = d->uint16;
      break;
    case MMDB_DATA_TYPE_UINT32:
      v = d->uint32;
      break;
    case MMDB_DATA_TYPE_UINT64:
      v = d->uint64;
      break;
    case MMDB_DATA_TYPE_INT32:
      if (d->int32 < 0) return std::nullopt;
      v = static_cast<uint64_t>(d->int32);
      break;
    default:
      return std::nullopt;
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

// The first value among `paths` that is an ISO 3166-1 alpha-2 code (two
// ASCII letters), upper-cased; "" when none is. Anything else is not a
// country: the code names report files (by-country/CC.csv) and goes into
// proto3 `string` fields, which must be valid UTF-8.
std::string GetCountryCode(MMDB_entry_s* entry,
                           std::initializer_list<const char* const*> paths) {
  const auto letter = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  for (const char* const* path : paths) {
    auto d = Get(entry, path);
    if (!d || d->type != MMDB_DATA_TYPE_UTF8_STRING || d->data_size != 2 ||
        !letter(d->utf8_string[0]) || !letter(d->utf8_string[1])) {
      continue;
    }
    std::string code(d->utf8_string, 2);
    for (char& c : code) c = static_cast<char>(c & ~0x20);  // upper case
    return code;
  }
  return "";
}

std::string ToLower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Fills the fields of `to` that are empty from `from`.
void FillEmpty(const GeoFields& from, GeoFields* to) {
  if (to->country.empty()) to->country = from.country;
  if (to->city.empty()) to->city = from.city;
  if (to->asn == 0) to->asn = from.asn;
  if (to->as_org.empty()) to->as_org = from.as_org;
  if (to->network.empty()) to->network = from.network;
}

// The first file of a role that has the address; false if none has.
bool LookupRole(const std::vector<std::unique_ptr<MmdbFile>>& files,
                const net::IpAddress& ip, GeoFields* out) {
  for (const auto& f : files) {
    if (f->Lookup(ip, out)) return true;
  }
  return false;
}

}  // namespace

struct MmdbFile::Impl {
  MMDB_s mmdb{};
  bool open = false;  // MMDB_open succeeded; MMDB_close is due
  ~Impl() {
    if (open) MMDB_close(&mmdb);
  }
};

MmdbFile::~MmdbFile() = default;

Result<std::unique_ptr<MmdbFile>> MmdbFile::Open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  errno = 0;
  const int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &impl->mmdb);
  const int open_errno = errno;
  if (rc != MMDB_SUCCESS) {
    const std::string what = "geolocation database \"" + path + "\"";
    switch (rc) {
      case MMDB_FILE_OPEN_ERROR: {
        const std::string msg = "cannot open " + what + ": " +
                                std::strerror(open_errno) + "; " + kFetchHint;
        if (open_errno == ENOENT) return NotFound(msg);
        if (open_errno == EACCES) {
          return Status(StatusCode::kPermissionDenied, msg);
        }
        return FailedPrecondition(msg);
      }
      case MMDB_IO_ERROR:
      case MMDB_OUT_OF_MEMORY_ERROR:
        return Unavailable("cannot read " + what + ": " + MMDB_strerror(rc));
      default:
        return DataLoss(what + " is not a valid MaxMind DB file (" +
                        MMDB_strerror(rc) + "); " + kFetchHint);
    }
  }
  impl->open = true;
  std::unique_ptr<MmdbFile> file(new MmdbFile());
  const MMDB_metadata_s& m = impl->mmdb.metadata;
  MmdbMetadata& md = file->metadata_;
  md.database_type = m.database_type != nullptr ? m.database_type : "";
  // Past 9999-12-31 (or past int64) the value is corrupt, not a date; 0
  // reads as unknown, and later arithmetic in milliseconds cannot overflow.
  constexpr uint64_t kMaxBuildEpoch = 253402300799;
  md.build_epoch =
      m.build_epoch <= kMaxBuildEpoch ? static_cast<int64_t>(m.build_epoch) : 0;
  md.ip_version = m.ip_version;
  md.node_count = m.node_count;
  md.record_size = m.record_size;
  md.format_major = m.binary_format_major_version;
  md.format_minor = m.binary_format_minor_version;
  for (size_t i = 0; i < m.languages.count; ++i) {
    md.languages.emplace_back(m.languages.names[i]);
  }
  for (size_t i = 0; i < m.description.count; ++i) {
    const MMDB_description_s* d = m.description.descriptions[i];
    if (d->description == nullptr) continue;
    const bool en =
        d->language != nullptr && std::strcmp(d->language, "en") == 0;
    if (en || md.description.empty()) md.description = d->description;
    if (en) break;
  }
  file->impl_ = std::move(impl);
  file->path_ = path;
  return file;
}

bool MmdbFile::Lookup(const net::IpAddress& address, GeoFields* out) const {
  const net::IpAddress ip = address.EmbeddedV4().value_or(address);
  sockaddr_storage ss{};
  if (ip.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, ip.bytes(), 4);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, ip.bytes(), 16);
  }
  int mmdb_error = MMDB_SUCCESS;
  MMDB_lookup_result_s r = MMDB_lookup_sockaddr(
      &impl_->mmdb, reinterpret_cast<const sockaddr*>(&ss), &mmdb_error);
  if (mmdb_error != MMDB_SUCCESS || !r.found_entry) return false;

  static constexpr const char* kCountryIso[] = {"country", "iso_code", nullptr};
  static constexpr const char* kRegisteredIso[] = {"registered_country",
                                                   "iso_code", nullptr};
  static constexpr const char* kCountryCode[] = {"country_code", nullptr};
  static constexpr const char* kCityEn[] = {"city", "names", "en", nullptr};
  static constexpr const char* kCity[] = {"city", nullptr};
  static constexpr const char* kAsn[] = {"autonomous_system_number", nullptr};
  static constexpr const char* kAsOrg[] = {"autonomous_system_organization",
                                           nullptr};

  std::string country =
      GetCountryCode(&r.entry, {kCountryIso, kRegisteredIso, kCountryCode});
  if (!country.empty()) out->country = std::move(country);
  std::string city = GetString(&r.entry, {kCityEn, kCity});
  if (!city.empty()) out->city = std::move(city);
  if (auto asn = GetUint32(&r.entry, kAsn)) out->asn = *asn;
  std::string org = GetString(&r.entry, {kAsOrg});
  if (!org.empty()) out->as_org = std::move(org);

  // The netmask counts tree bits; IPv4 in an IPv6 tree starts at bit 96 (a
  // record above the IPv4 subtree covers all of IPv4).
  int prefix = r.netmask;
  if (ip.is_v4() && metadata_.ip_version == 6)
    prefix = std::max(0, prefix - 96);
  out->network = net::Cidr(ip, std::min<int>(prefix, ip.size() * 8)).ToString();
  return true;
}

Result<std::unique_ptr<GeoLocator>> GeoLocator::Open(const GeoConfig& config) {
  std::unique_ptr<GeoLocator> g(new GeoLocator());
  const struct {
    const char* role;
    const std::vector<std::string>* paths;
    std::vector<std::unique_ptr<MmdbFile>>* files;
  } roles[] = {{"country", &config.country, &g->country_},
               {"asn", &config.asn, &g->asn_},
               {"city", &config.city, &g->city_}};
  for (const auto& role : roles) {
    for (const std::string& path : *role.paths) {
      Result<std::unique_ptr<MmdbFile>> f = MmdbFile::Open(path);
      if (!f.ok()) {
        return Status(f.error().code(), std::string("geo.") + role.role + ": " +
                                            f.error().message());
      }
      SourceInfo info;
      info.role = role.role;
      info.path = path;
      info.database_type = (*f)->database_type();
      info.build_epoch = (*f)->build_epoch();
      info.attribution = AttributionFor(info.database_type, path);
      Result<std::string> sha256 = Sha256FileHex(path);
      if (!sha256.ok()) return sha256.status();
      info.sha256 = std::move(sha256).value();
      g->sources_.push_back(std::move(info));
      role.files->push_back(std::move(f).value());
    }
  }
  return g;
}

GeoFields GeoLocator::Locate(const net::IpAddress& ip) const {
  GeoFields country, asn, city;
  LookupRole(country_, ip, &country);
  LookupRole(asn_, ip, &asn);
  LookupRole(city_, ip, &city);
  GeoFields out;
  out.country = country.country;
  out.network = country.network;
  out.asn = asn.asn;
  out.as_org = asn.as_org;
  out.city = city.city;
  FillEmpty(country, &out);
  FillEmpty(asn, &out);
  FillEmpty(city, &out);
  return out;
}

std::string AttributionFor(const std::string& database_type,
                           const std::string& path) {
  const std::string type = ToLower(database_type);
  const std::string file = ToLower(Basename(path));
  if (StartsWith(type, "hostlocator-sandbox") ||
      StartsWith(type, "hostlocator-test")) {
    return "synthetic test data, not real geolocation";
  }
  if (StartsWith(type, "hostlocator-asn")) {
    return "ASN data from @ip-location-db/asn: IP to AS Number by RouteViews "
           "(https://www.routeviews.org), RIR statistics by the NRO "
           "(https://www.nro.net) and IP to ASN Lite by DB-IP "
           "(https://db-ip.com); CC BY 4.0";
  }
  if (StartsWith(type, "geolite2") ||
      file.find("geolite2") != std::string::npos) {
    return "This product includes GeoLite2 data created by MaxMind, "
           "available from https://www.maxmind.com";
  }
  if (StartsWith(type, "geoip2")) {
    return "GeoIP2 data by MaxMind (https://www.maxmind.com)";
  }
  if (StartsWith(type, "dbip") || file.find("dbip") != std::string::npos) {
    return "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0";
  }
  return "unknown source (database_type \"" + database_type +
         "\"): check its licence before sharing results";
}

}  // namespace hl::geo
