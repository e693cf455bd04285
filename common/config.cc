#include "common/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "common/digest.h"
#include "common/jurisdiction.h"
#include "common/request_context.h"
#include "common/toml_reader.h"

namespace hl {
namespace {

using toml_reader::Field;
using toml_reader::Join;
using toml_reader::Quoted;
using toml_reader::Reader;

// Firefox ESR on Windows: the most ordinary desktop browser string, so a
// probe does not stand out from the traffic a hosting provider sees.
constexpr std::string_view kDefaultUserAgent =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:153.0) Gecko/20100101 "
    "Firefox/153.0";

constexpr uint32_t kMaxTimeoutMs = 600000;

// "address:port" with an IP address literal; IPv6 in brackets. Returns the
// canonical form, or nothing when `text` is not of that form.
std::optional<std::string> CanonicalServer(std::string_view text) {
  std::string_view address;
  std::string_view port;
  bool v6 = false;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return std::nullopt;
    }
    address = text.substr(1, close - 1);
    port = text.substr(close + 2);
    v6 = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    address = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  std::optional<net::IpAddress> ip = net::IpAddress::Parse(address);
  if (!ip || ip->is_v4() == v6) return std::nullopt;
  if (port.empty() || port.size() > 5) return std::nullopt;
  uint32_t number = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    number = number * 10 + static_cast<uint32_t>(c - '0');
  }
  if (number == 0 || number > 65535) return std::nullopt;
  std::string host = ip->ToString();
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(number);
}

// "http://IP:PORT" or "socks5://IP:PORT" (scheme in lower case, IPv6 in
// brackets); returns the canonical form. A name is not accepted: the
// proxy's address would have to come from some resolver other than the
// configured ones.
std::optional<std::string> CanonicalProxy(std::string_view text) {
  for (std::string_view scheme : {"http://", "socks5://"}) {
    if (!text.starts_with(scheme)) continue;
    std::string_view rest = text.substr(scheme.size());
    if (rest.ends_with('/')) rest.remove_suffix(1);
    std::optional<std::string> server = CanonicalServer(rest);
    if (!server) return std::nullopt;
    return std::string(scheme) + *server;
  }
  return std::nullopt;
}

// The name of `mode` in the configuration file.
std::string_view ResolverModeName(ResolverMode mode) {
  return mode == ResolverMode::kAll ? "all" : "round_robin";
}

struct Section {
  std::string_view name;
  std::vector<Field> fields;
};

// The schema: every section and key, in the order of config.h, each bound
// to the field of *c it fills.
std::vector<Section> Schema(const Reader& r, Config* c) {
  auto timeout = [&r](uint32_t* out) {
    return [&r, out](const toml::node& n, const std::string& path) {
      return r.Uint(n, path, 1, kMaxTimeoutMs, "milliseconds", out);
    };
  };
  auto count = [&r](uint32_t min, uint32_t max, uint32_t* out) {
    return [&r, min, max, out](const toml::node& n, const std::string& path) {
      return r.Uint(n, path, min, max, "", out);
    };
  };
  auto days = [&r](uint32_t* out) {
    return [&r, out](const toml::node& n, const std::string& path) {
      return r.Uint(n, path, 1, 100000, "days", out);
    };
  };
  auto non_empty = [&r](std::string* out) {
    return [&r, out](const toml::node& n, const std::string& path) {
      return r.String(
          n, path, "a non-empty string",
          [](std::string_view s) { return !s.empty(); }, out);
    };
  };
  auto path = [&r](std::string* out) {
    return [&r, out](const toml::node& n, const std::string& p) {
      return r.Path(n, p, /*allow_empty=*/true, out);
    };
  };
  auto boolean = [&r](bool* out) {
    return [&r, out](const toml::node& n, const std::string& p) {
      return r.Bool(n, p, out);
    };
  };
  auto paths = [&r](bool allow_empty, std::vector<std::string>* out) {
    return
        [&r, allow_empty, out](const toml::node& n, const std::string& path) {
          return r.PathList(n, path, allow_empty, out);
        };
  };

  return {
      {"resolver",
       {{"servers",
         [&r, c](const toml::node& n, const std::string& path) {
           std::vector<std::string> servers;
           HL_RETURN_IF_ERROR(r.Array(
               n, path, "an array of \"address:port\" strings",
               [&](const toml::node& item, const std::string& item_path) {
                 constexpr std::string_view kExpected =
                     "\"address:port\" with an IP address, e.g. "
                     "\"192.0.2.53:53\" or \"[2001:db8::53]:53\"";
                 std::string text;
                 HL_RETURN_IF_ERROR(r.String(
                     item, item_path, kExpected,
                     [](std::string_view s) {
                       return CanonicalServer(s).has_value();
                     },
                     &text));
                 servers.push_back(*CanonicalServer(text));
                 return Status::Ok();
               }));
           c->resolver.servers = std::move(servers);
           return Status::Ok();
         }},
        {"timeout_ms", timeout(&c->resolver.timeout_ms)},
        {"tries", count(1, 10, &c->resolver.tries)},
        {"mode",
         [&r, c](const toml::node& n, const std::string& path) {
           std::string mode;
           HL_RETURN_IF_ERROR(r.String(
               n, path, "\"round_robin\" or \"all\"",
               [](std::string_view s) {
                 return s == ResolverModeName(ResolverMode::kRoundRobin) ||
                        s == ResolverModeName(ResolverMode::kAll);
               },
               &mode));
           c->resolver.mode = mode == ResolverModeName(ResolverMode::kAll)
                                  ? ResolverMode::kAll
                                  : ResolverMode::kRoundRobin;
           return Status::Ok();
         }},
        {"max_in_flight", count(1, 10000, &c->resolver.max_in_flight)}}},
      {"http",
       {{"connect_timeout_ms", timeout(&c->http.connect_timeout_ms)},
        {"timeout_ms", timeout(&c->http.timeout_ms)},
        {"user_agent",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.String(n, path,
                           "a non-empty string of at most 1024 bytes "
                           "without control characters",
                           IsValidUserAgent, &c->http.user_agent);
         }},
        {"max_redirects",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, 50, "redirects", &c->http.max_redirects);
         }},
        {"max_header_bytes",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 1024, 1048576, "bytes",
                         &c->http.max_header_bytes);
         }},
        {"ca_file",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Path(n, path, true, &c->http.ca_file);
         }},
        {"max_in_flight", count(1, 20000, &c->http.max_in_flight)},
        {"proxy",
         [&r, c](const toml::node& n, const std::string& path) {
           std::string proxy;
           HL_RETURN_IF_ERROR(r.String(
               n, path,
               "\"\" or \"http://IP:PORT\" or \"socks5://IP:PORT\" with an "
               "IP address (IPv6 in brackets)",
               [](std::string_view s) {
                 return s.empty() || CanonicalProxy(s).has_value();
               },
               &proxy));
           c->http.proxy = proxy.empty() ? "" : *CanonicalProxy(proxy);
           return Status::Ok();
         }},
        {"require_proxy",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Bool(n, path, &c->http.require_proxy);
         }}}},
      {"safety",
       {{"allow_cidrs",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.CidrList(n, path, &c->safety.allow_cidrs);
         }}}},
      {"politeness",
       {{"max_per_host", count(1, 1000, &c->politeness.max_per_host)},
        {"max_per_address", count(1, 10000, &c->politeness.max_per_address)},
        {"min_host_interval_ms",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, kMaxTimeoutMs, "milliseconds",
                         &c->politeness.min_host_interval_ms);
         }},
        {"fleet_max_per_host",
         count(0, 100000, &c->politeness.fleet_max_per_host)},
        {"fleet_max_per_domain",
         count(0, 100000, &c->politeness.fleet_max_per_domain)},
        {"fleet_max_per_address",
         count(0, 100000, &c->politeness.fleet_max_per_address)}}},
      {"geo",
       {{"country", paths(false, &c->geo.country)},
        {"asn", paths(true, &c->geo.asn)},
        {"city", paths(true, &c->geo.city)}}},
      {"providers",
       {{"file",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Path(n, path, false, &c->providers.file);
         }}}},
      {"referral",
       {{"directory",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Path(n, path, false, &c->referral.directory);
         }},
        {"home_country",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.String(
               n, path,
               "an ISO 3166-1 alpha-2 code in upper case (\"DE\"), or \"\"",
               [](std::string_view s) { return s.empty() || IsCountryCode(s); },
               &c->referral.home_country);
         }}}},
      {"rdap",
       {{"enabled", boolean(&c->rdap.enabled)},
        {"bootstrap_dir",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Path(n, path, false, &c->rdap.bootstrap_dir);
         }},
        {"cache_ttl_s",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 1, 30 * 86400, "seconds",
                         &c->rdap.cache_ttl_s);
         }},
        {"negative_cache_ttl_s",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 1, 30 * 86400, "seconds",
                         &c->rdap.negative_cache_ttl_s);
         }},
        {"timeout_ms", timeout(&c->rdap.timeout_ms)},
        {"min_interval_ms",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, 3600000, "milliseconds",
                         &c->rdap.min_interval_ms);
         }},
        {"max_wait_s",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, 86400, "seconds", &c->rdap.max_wait_s);
         }}}},
      {"coordinator",
       {{"lease_timeout_ms",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 1000, 3600000, "milliseconds",
                         &c->coordinator.lease_timeout_ms);
         }},
        {"heartbeat_interval_ms",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 10, 60000, "milliseconds",
                         &c->coordinator.heartbeat_interval_ms);
         }},
        {"heartbeat_liveness",
         count(1, 100, &c->coordinator.heartbeat_liveness)},
        {"max_attempts", count(1, 100, &c->coordinator.max_attempts)},
        {"listen",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.String(
               n, path, "a ZeroMQ endpoint such as \"tcp://127.0.0.1:5555\"",
               [](std::string_view s) {
                 return s.starts_with("tcp://") || s.starts_with("ipc://") ||
                        s.starts_with("inproc://");
               },
               &c->coordinator.listen);
         }},
        {"secret_key_file", path(&c->coordinator.secret_key_file)},
        {"authorized_keys", paths(true, &c->coordinator.authorized_keys)},
        {"allow_plaintext", boolean(&c->coordinator.allow_plaintext)},
        {"max_result_age_s",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, UINT32_MAX, "seconds",
                         &c->coordinator.max_result_age_s);
         }},
        {"recheck_interval_s",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, UINT32_MAX, "seconds",
                         &c->coordinator.recheck_interval_s);
         }},
        {"retention_days",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, 100000, "days",
                         &c->coordinator.retention_days);
         }},
        {"signing_key_file", path(&c->coordinator.signing_key_file)}}},
      {"history",
       {{"flux_min_addresses",
         count(1, 100000, &c->history.flux_min_addresses)},
        {"flux_min_answer_addresses",
         count(1, 100000, &c->history.flux_min_answer_addresses)},
        {"flux_max_ttl_s",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, 86400, "seconds",
                         &c->history.flux_max_ttl_s);
         }},
        {"flux_min_networks", count(1, 100000, &c->history.flux_min_networks)},
        {"flux_min_countries", count(1, 1000, &c->history.flux_min_countries)},
        {"geo_max_age_days", days(&c->history.geo_max_age_days)},
        {"asn_max_age_days", days(&c->history.asn_max_age_days)},
        {"providers_max_age_days", days(&c->history.providers_max_age_days)}}},
      {"worker",
       {{"threads", count(0, 256, &c->worker.threads)},
        {"max_in_flight", count(1, 20000, &c->worker.max_in_flight)},
        {"lease_ahead_ms",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 0, 60000, "milliseconds",
                         &c->worker.lease_ahead_ms);
         }},
        {"dns_only",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Bool(n, path, &c->worker.dns_only);
         }},
        {"probe_timeout_ms",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 1, 3600000, "milliseconds",
                         &c->worker.probe_timeout_ms);
         }},
        {"secret_key_file", path(&c->worker.secret_key_file)},
        {"coordinator_public_key_file",
         path(&c->worker.coordinator_public_key_file)},
        {"allow_plaintext", boolean(&c->worker.allow_plaintext)}}},
      {"api",
       {{"address", non_empty(&c->api.address)},
        {"port", count(1, 65535, &c->api.port)},
        {"tokens_file", path(&c->api.tokens_file)},
        {"tls_cert_file", path(&c->api.tls_cert_file)},
        {"tls_key_file", path(&c->api.tls_key_file)},
        {"max_request_mb", count(1, 4096, &c->api.max_request_mb)},
        {"threads", count(1, 256, &c->api.threads)}}},
      {"run",
       {{"data_dir", non_empty(&c->run.data_dir)},
        {"output_dir", non_empty(&c->run.output_dir)}}},
  };
}

// Rules that relate several keys; a message names every key involved and
// points at the first of them that the file sets.
Status CheckRelations(const Reader& r, const toml::table& root,
                      const Config& c) {
  auto where = [&](std::initializer_list<std::string_view> paths) {
    for (std::string_view p : paths) {
      toml::node_view<const toml::node> node = root.at_path(p);
      if (node) return r.Where(node.node()->source());
    }
    return r.Where(toml::source_region{});
  };
  if (c.http.connect_timeout_ms > c.http.timeout_ms) {
    return InvalidArgument(
        where({"http.connect_timeout_ms", "http.timeout_ms"}) +
        "\"http.connect_timeout_ms\" (" +
        std::to_string(c.http.connect_timeout_ms) +
        ") must not exceed \"http.timeout_ms\" (" +
        std::to_string(c.http.timeout_ms) + ")");
  }
  if (c.http.require_proxy && c.http.proxy.empty()) {
    return InvalidArgument(
        where({"http.require_proxy", "http.proxy"}) +
        "\"http.require_proxy\" is true but \"http.proxy\" is empty: set "
        "the proxy (\"http://IP:PORT\" or \"socks5://IP:PORT\") or turn "
        "require_proxy off");
  }
  // One request's slowest case must fit in a probe, and a probe in a lease:
  // a lease that expires under a slow probe re-leases the job forever.
  const uint64_t request_ms = SlowestRequestMs(c);
  if (c.worker.probe_timeout_ms < request_ms) {
    return InvalidArgument(
        where({"worker.probe_timeout_ms", "http.timeout_ms",
               "resolver.timeout_ms", "resolver.tries"}) +
        "\"worker.probe_timeout_ms\" (" +
        std::to_string(c.worker.probe_timeout_ms) +
        ") must be at least one request's slowest case: 2 x "
        "\"resolver.timeout_ms\" x \"resolver.tries\" + \"http.timeout_ms\" "
        "(x 2 with a proxy that may be passed by) = " +
        std::to_string(request_ms));
  }
  if (c.coordinator.lease_timeout_ms <= c.worker.probe_timeout_ms) {
    return InvalidArgument(
        where({"coordinator.lease_timeout_ms", "worker.probe_timeout_ms"}) +
        "\"coordinator.lease_timeout_ms\" (" +
        std::to_string(c.coordinator.lease_timeout_ms) +
        ") must be greater than \"worker.probe_timeout_ms\" (" +
        std::to_string(c.worker.probe_timeout_ms) + ")");
  }
  if (c.worker.secret_key_file.empty() !=
      c.worker.coordinator_public_key_file.empty()) {
    return InvalidArgument(
        where(
            {"worker.secret_key_file", "worker.coordinator_public_key_file"}) +
        "CURVE needs both \"worker.secret_key_file\" and "
        "\"worker.coordinator_public_key_file\" (or neither): set the "
        "missing one (`hostlocator keys generate` writes key files)");
  }
  return Status::Ok();
}

// Canonical text of a value: strings quoted with '"', '\\' and bytes
// outside printable ASCII escaped as \xHH, so any byte string has exactly
// one form.
void AppendQuoted(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  *out += '"';
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
      *out += "\\x";
      *out += kHex[ch >> 4];
      *out += kHex[ch & 0xf];
    } else {
      *out += static_cast<char>(ch);
    }
  }
  *out += '"';
}

void AppendLine(std::string_view key, uint32_t value, std::string* out) {
  *out += key;
  *out += '=';
  *out += std::to_string(value);
  *out += '\n';
}

void AppendLine(std::string_view key, bool value, std::string* out) {
  *out += key;
  *out += value ? "=true\n" : "=false\n";
}

void AppendLine(std::string_view key, std::string_view value,
                std::string* out) {
  *out += key;
  *out += '=';
  AppendQuoted(value, out);
  *out += '\n';
}

void AppendLine(std::string_view key, const std::vector<std::string>& values,
                std::string* out) {
  *out += key;
  *out += "=[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) *out += ',';
    AppendQuoted(values[i], out);
  }
  *out += "]\n";
}

// One "dotted.key=value" line per field, in the order of config.h, after a
// format version line.
std::string CanonicalText(const Config& c) {
  std::string out = "hostlocator-config/1\n";
  AppendLine("resolver.servers", c.resolver.servers, &out);
  AppendLine("resolver.timeout_ms", c.resolver.timeout_ms, &out);
  AppendLine("resolver.tries", c.resolver.tries, &out);
  AppendLine("resolver.mode", ResolverModeName(c.resolver.mode), &out);
  AppendLine("resolver.max_in_flight", c.resolver.max_in_flight, &out);
  AppendLine("http.connect_timeout_ms", c.http.connect_timeout_ms, &out);
  AppendLine("http.timeout_ms", c.http.timeout_ms, &out);
  AppendLine("http.user_agent", c.http.user_agent, &out);
  AppendLine("http.max_header_bytes", c.http.max_header_bytes, &out);
  AppendLine("http.max_redirects", c.http.max_redirects, &out);
  AppendLine("http.ca_file", c.http.ca_file, &out);
  AppendLine("http.max_in_flight", c.http.max_in_flight, &out);
  AppendLine("http.proxy", c.http.proxy, &out);
  AppendLine("http.require_proxy", c.http.require_proxy, &out);
  std::vector<std::string> cidrs;
  for (const net::Cidr& cidr : c.safety.allow_cidrs) {
    cidrs.push_back(cidr.ToString());
  }
  AppendLine("safety.allow_cidrs", cidrs, &out);
  AppendLine("politeness.max_per_host", c.politeness.max_per_host, &out);
  AppendLine("politeness.max_per_address", c.politeness.max_per_address, &out);
  AppendLine("politeness.min_host_interval_ms",
             c.politeness.min_host_interval_ms, &out);
  AppendLine("politeness.fleet_max_per_host", c.politeness.fleet_max_per_host,
             &out);
  AppendLine("politeness.fleet_max_per_domain",
             c.politeness.fleet_max_per_domain, &out);
  AppendLine("politeness.fleet_max_per_address",
             c.politeness.fleet_max_per_address, &out);
  AppendLine("geo.country", c.geo.country, &out);
  AppendLine("geo.asn", c.geo.asn, &out);
  AppendLine("geo.city", c.geo.city, &out);
  AppendLine("providers.file", c.providers.file, &out);
  AppendLine("referral.directory", c.referral.directory, &out);
  AppendLine("referral.home_country", c.referral.home_country, &out);
  AppendLine("rdap.enabled", c.rdap.enabled, &out);
  AppendLine("rdap.bootstrap_dir", c.rdap.bootstrap_dir, &out);
  AppendLine("rdap.cache_ttl_s", c.rdap.cache_ttl_s, &out);
  AppendLine("rdap.negative_cache_ttl_s", c.rdap.negative_cache_ttl_s, &out);
  AppendLine("rdap.timeout_ms", c.rdap.timeout_ms, &out);
  AppendLine("rdap.min_interval_ms", c.rdap.min_interval_ms, &out);
  AppendLine("rdap.max_wait_s", c.rdap.max_wait_s, &out);
  AppendLine("coordinator.lease_timeout_ms", c.coordinator.lease_timeout_ms,
             &out);
  AppendLine("coordinator.heartbeat_interval_ms",
             c.coordinator.heartbeat_interval_ms, &out);
  AppendLine("coordinator.heartbeat_liveness", c.coordinator.heartbeat_liveness,
             &out);
  AppendLine("coordinator.max_attempts", c.coordinator.max_attempts, &out);
  AppendLine("coordinator.listen", c.coordinator.listen, &out);
  AppendLine("coordinator.secret_key_file", c.coordinator.secret_key_file,
             &out);
  AppendLine("coordinator.authorized_keys", c.coordinator.authorized_keys,
             &out);
  AppendLine("coordinator.allow_plaintext", c.coordinator.allow_plaintext,
             &out);
  AppendLine("coordinator.max_result_age_s", c.coordinator.max_result_age_s,
             &out);
  AppendLine("coordinator.recheck_interval_s", c.coordinator.recheck_interval_s,
             &out);
  AppendLine("coordinator.retention_days", c.coordinator.retention_days, &out);
  AppendLine("coordinator.signing_key_file", c.coordinator.signing_key_file,
             &out);
  AppendLine("history.flux_min_addresses", c.history.flux_min_addresses, &out);
  AppendLine("history.flux_min_answer_addresses",
             c.history.flux_min_answer_addresses, &out);
  AppendLine("history.flux_max_ttl_s", c.history.flux_max_ttl_s, &out);
  AppendLine("history.flux_min_networks", c.history.flux_min_networks, &out);
  AppendLine("history.flux_min_countries", c.history.flux_min_countries, &out);
  AppendLine("history.geo_max_age_days", c.history.geo_max_age_days, &out);
  AppendLine("history.asn_max_age_days", c.history.asn_max_age_days, &out);
  AppendLine("history.providers_max_age_days", c.history.providers_max_age_days,
             &out);
  AppendLine("worker.threads", c.worker.threads, &out);
  AppendLine("worker.max_in_flight", c.worker.max_in_flight, &out);
  AppendLine("worker.lease_ahead_ms", c.worker.lease_ahead_ms, &out);
  AppendLine("worker.dns_only", c.worker.dns_only, &out);
  AppendLine("worker.probe_timeout_ms", c.worker.probe_timeout_ms, &out);
  AppendLine("worker.secret_key_file", c.worker.secret_key_file, &out);
  AppendLine("worker.coordinator_public_key_file",
             c.worker.coordinator_public_key_file, &out);
  AppendLine("worker.allow_plaintext", c.worker.allow_plaintext, &out);
  AppendLine("api.address", c.api.address, &out);
  AppendLine("api.port", c.api.port, &out);
  AppendLine("api.tokens_file", c.api.tokens_file, &out);
  AppendLine("api.tls_cert_file", c.api.tls_cert_file, &out);
  AppendLine("api.tls_key_file", c.api.tls_key_file, &out);
  AppendLine("api.max_request_mb", c.api.max_request_mb, &out);
  AppendLine("api.threads", c.api.threads, &out);
  AppendLine("run.data_dir", c.run.data_dir, &out);
  AppendLine("run.output_dir", c.run.output_dir, &out);
  return out;
}

}  // namespace

const char kDefaultConfigDir[] = HL_CONFIG_DIR;

Config DefaultConfig() {
  Config c;
  c.http.user_agent = std::string(kDefaultUserAgent);
  c.geo.country = {"data/geo/dbip-country.mmdb"};
  c.geo.asn = {"data/geo/asn.mmdb"};
  c.providers.file =
      (std::filesystem::path(kDefaultConfigDir) / "providers.toml").string();
  c.referral.directory =
      (std::filesystem::path(kDefaultConfigDir) / "referral.toml").string();
  c.rdap.bootstrap_dir =
      (std::filesystem::path(kDefaultConfigDir) / "rdap").string();
  c.digest = ConfigDigest(c);
  return c;
}

uint64_t SlowestRequestMs(const Config& config) {
  const uint64_t dns =
      uint64_t{config.resolver.timeout_ms} * config.resolver.tries;
  const bool proxy_may_fail_over =
      !config.http.proxy.empty() && !config.http.require_proxy;
  const uint64_t http =
      uint64_t{config.http.timeout_ms} * (proxy_may_fail_over ? 2 : 1);
  return dns + std::max(dns, http);
}

std::string ConfigDigest(const Config& config) {
  return Sha256Hex(CanonicalText(config));
}

Result<Config> ParseConfig(std::string_view toml_text,
                           const std::string& origin,
                           const std::string& base_dir) {
  Result<toml::table> parsed = toml_reader::ParseText(toml_text, origin);
  if (!parsed.ok()) return parsed.status();
  const toml::table& root = *parsed;

  Reader reader(origin, base_dir);
  Config config = DefaultConfig();
  std::vector<Section> schema = Schema(reader, &config);
  std::vector<std::string_view> section_names;
  for (const Section& s : schema) section_names.push_back(s.name);

  for (const auto& [key, node] : root) {
    auto section =
        std::find_if(schema.begin(), schema.end(),
                     [&](const Section& s) { return s.name == key; });
    if (section == schema.end()) {
      return InvalidArgument(reader.Where(key.source()) + "unknown key " +
                             Quoted(key.str()) +
                             " (known sections: " + Join(section_names) + ")");
    }
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return reader.WrongType(node, key.str(),
                              "a table ([" + std::string(key.str()) + "])");
    }
    HL_RETURN_IF_ERROR(reader.Fields(*table, key.str(),
                                     "[" + std::string(key.str()) + "]",
                                     section->fields));
  }
  HL_RETURN_IF_ERROR(CheckRelations(reader, root, config));
  config.digest = ConfigDigest(config);
  return config;
}

Result<Config> LoadConfigFile(const std::string& path) {
  Result<std::string> text =
      toml_reader::ReadFile(path, "the configuration file");
  if (!text.ok()) return text.status();
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  return ParseConfig(*text, path, base_dir.empty() ? "." : base_dir);
}

Result<Config> LoadConfiguration(const std::string& path) {
  std::string chosen = path;
  if (chosen.empty()) {
    if (const char* env = std::getenv("HOSTLOCATOR_CONFIG"); env && *env) {
      chosen = env;
    }
  }
  if (chosen.empty()) return DefaultConfig();
  return LoadConfigFile(chosen);
}

}  // namespace hl
