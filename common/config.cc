#include "common/config.h"

#include <openssl/evp.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>

namespace hl {
namespace {

// Firefox ESR on Windows: the most ordinary desktop browser string, so a
// probe does not stand out from the traffic a hosting provider sees.
constexpr std::string_view kDefaultUserAgent =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:153.0) Gecko/20100101 "
    "Firefox/153.0";

constexpr uint32_t kMaxTimeoutMs = 600000;
constexpr size_t kMaxUserAgentBytes = 1024;

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::string Join(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string_view TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

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

// Reads typed values out of TOML nodes; every failure is an
// InvalidArgument whose message starts with the node's position and names
// the dotted key.
class Reader {
 public:
  Reader(const std::string& origin, const std::string& base_dir)
      : origin_(origin), base_dir_(base_dir) {}

  std::string Where(const toml::source_region& region) const {
    if (region.begin.line == 0) return origin_ + ": ";
    return origin_ + ":" + std::to_string(region.begin.line) + ":" +
           std::to_string(region.begin.column) + ": ";
  }

  Status Bad(const toml::node& node, std::string_view path,
             std::string_view expected, std::string_view got) const {
    return InvalidArgument(Where(node.source()) + "bad value for " +
                           Quoted(path) + ": expected " +
                           std::string(expected) + "; got " + std::string(got));
  }

  Status WrongType(const toml::node& node, std::string_view path,
                   std::string_view expected) const {
    return Bad(node, path, expected, TypeName(node.type()));
  }

  Status Uint(const toml::node& node, std::string_view path, uint32_t min,
              uint32_t max, std::string_view unit, uint32_t* out) const {
    std::string expected =
        "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (!unit.empty()) expected += " (" + std::string(unit) + ")";
    const auto* value = node.as_integer();
    if (value == nullptr) return WrongType(node, path, expected);
    int64_t v = value->get();
    if (v < min || v > max) {
      return Bad(node, path, expected, std::to_string(v));
    }
    *out = static_cast<uint32_t>(v);
    return Status::Ok();
  }

  // A string that checks `valid`, described by `expected` when not.
  Status String(const toml::node& node, std::string_view path,
                std::string_view expected,
                const std::function<bool(std::string_view)>& valid,
                std::string* out) const {
    const auto* value = node.as_string();
    if (value == nullptr) return WrongType(node, path, expected);
    const std::string& v = value->get();
    if (!valid(v)) return Bad(node, path, expected, Quoted(v));
    *out = v;
    return Status::Ok();
  }

  // An array whose items are each read by `item(node, "path[i]")`.
  Status Array(
      const toml::node& node, std::string_view path, std::string_view expected,
      const std::function<Status(const toml::node&, const std::string&)>& item)
      const {
    const toml::array* array = node.as_array();
    if (array == nullptr) return WrongType(node, path, expected);
    for (size_t i = 0; i < array->size(); ++i) {
      HL_RETURN_IF_ERROR(
          item((*array)[i], std::string(path) + "[" + std::to_string(i) + "]"));
    }
    return Status::Ok();
  }

  Status PathList(const toml::node& node, std::string_view path,
                  bool allow_empty, std::vector<std::string>* out) const {
    std::string expected = "an array of file paths";
    if (!allow_empty) expected = "a non-empty array of file paths";
    std::vector<std::string> paths;
    HL_RETURN_IF_ERROR(
        Array(node, path, expected,
              [&](const toml::node& item, const std::string& item_path) {
                std::string p;
                HL_RETURN_IF_ERROR(String(
                    item, item_path, "a non-empty file path",
                    [](std::string_view s) { return !s.empty(); }, &p));
                paths.push_back(Resolve(p));
                return Status::Ok();
              }));
    if (paths.empty() && !allow_empty) {
      return Bad(node, path, expected, "an empty array");
    }
    *out = std::move(paths);
    return Status::Ok();
  }

 private:
  std::string Resolve(const std::string& path) const {
    std::filesystem::path p(path);
    if (base_dir_.empty() || p.is_absolute()) return path;
    return (std::filesystem::path(base_dir_) / p).lexically_normal().string();
  }

  const std::string& origin_;
  const std::string& base_dir_;
};

using FieldParser =
    std::function<Status(const toml::node&, const std::string& path)>;

struct Field {
  std::string_view key;
  FieldParser parse;
};

struct Section {
  std::string_view name;
  std::vector<Field> fields;
};

bool ValidUserAgent(std::string_view ua) {
  if (ua.empty() || ua.size() > kMaxUserAgentBytes) return false;
  for (unsigned char c : ua) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

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
  auto non_empty = [&r](std::string* out) {
    return [&r, out](const toml::node& n, const std::string& path) {
      return r.String(
          n, path, "a non-empty string",
          [](std::string_view s) { return !s.empty(); }, out);
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
        {"tries", count(1, 10, &c->resolver.tries)}}},
      {"http",
       {{"connect_timeout_ms", timeout(&c->http.connect_timeout_ms)},
        {"timeout_ms", timeout(&c->http.timeout_ms)},
        {"user_agent",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.String(n, path,
                           "a non-empty string of at most 1024 bytes "
                           "without control characters",
                           ValidUserAgent, &c->http.user_agent);
         }},
        {"max_header_bytes",
         [&r, c](const toml::node& n, const std::string& path) {
           return r.Uint(n, path, 1024, 1048576, "bytes",
                         &c->http.max_header_bytes);
         }}}},
      {"safety",
       {{"allow_cidrs",
         [&r, c](const toml::node& n, const std::string& path) {
           std::vector<net::Cidr> cidrs;
           HL_RETURN_IF_ERROR(r.Array(
               n, path, "an array of CIDR strings",
               [&](const toml::node& item, const std::string& item_path) {
                 constexpr std::string_view kExpected =
                     "a CIDR such as \"127.0.0.0/8\" or \"fd00::/8\"";
                 const auto* text = item.as_string();
                 if (text == nullptr) {
                   return r.WrongType(item, item_path, kExpected);
                 }
                 Result<net::Cidr> cidr = net::Cidr::Parse(text->get());
                 if (!cidr.ok()) {
                   return r.Bad(item, item_path, kExpected,
                                Quoted(text->get()) + " (" +
                                    cidr.error().message() + ")");
                 }
                 cidrs.push_back(*cidr);
                 return Status::Ok();
               }));
           c->safety.allow_cidrs = std::move(cidrs);
           return Status::Ok();
         }}}},
      {"geo",
       {{"country", paths(false, &c->geo.country)},
        {"asn", paths(true, &c->geo.asn)},
        {"city", paths(true, &c->geo.city)}}},
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
        {"max_attempts", count(1, 100, &c->coordinator.max_attempts)}}},
      {"run",
       {{"workers", count(1, 256, &c->run.workers)},
        {"worker_capacity", count(1, 4096, &c->run.worker_capacity)},
        {"data_dir", non_empty(&c->run.data_dir)},
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
  // A lease shorter than one probe's slowest DNS try sequence plus its HEAD
  // would expire under every slow host and re-lease the job forever.
  uint64_t probe_ms =
      uint64_t{c.resolver.timeout_ms} * c.resolver.tries + c.http.timeout_ms;
  if (c.coordinator.lease_timeout_ms <= probe_ms) {
    return InvalidArgument(
        where({"coordinator.lease_timeout_ms", "http.timeout_ms",
               "resolver.timeout_ms", "resolver.tries"}) +
        "\"coordinator.lease_timeout_ms\" (" +
        std::to_string(c.coordinator.lease_timeout_ms) +
        ") must be greater than \"resolver.timeout_ms\" x "
        "\"resolver.tries\" + \"http.timeout_ms\" (" +
        std::to_string(probe_ms) + ")");
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
  AppendLine("http.connect_timeout_ms", c.http.connect_timeout_ms, &out);
  AppendLine("http.timeout_ms", c.http.timeout_ms, &out);
  AppendLine("http.user_agent", c.http.user_agent, &out);
  AppendLine("http.max_header_bytes", c.http.max_header_bytes, &out);
  std::vector<std::string> cidrs;
  for (const net::Cidr& cidr : c.safety.allow_cidrs) {
    cidrs.push_back(cidr.ToString());
  }
  AppendLine("safety.allow_cidrs", cidrs, &out);
  AppendLine("geo.country", c.geo.country, &out);
  AppendLine("geo.asn", c.geo.asn, &out);
  AppendLine("geo.city", c.geo.city, &out);
  AppendLine("coordinator.lease_timeout_ms", c.coordinator.lease_timeout_ms,
             &out);
  AppendLine("coordinator.heartbeat_interval_ms",
             c.coordinator.heartbeat_interval_ms, &out);
  AppendLine("coordinator.heartbeat_liveness", c.coordinator.heartbeat_liveness,
             &out);
  AppendLine("coordinator.max_attempts", c.coordinator.max_attempts, &out);
  AppendLine("run.workers", c.run.workers, &out);
  AppendLine("run.worker_capacity", c.run.worker_capacity, &out);
  AppendLine("run.data_dir", c.run.data_dir, &out);
  AppendLine("run.output_dir", c.run.output_dir, &out);
  return out;
}

}  // namespace

Config DefaultConfig() {
  Config c;
  c.http.user_agent = std::string(kDefaultUserAgent);
  c.geo.country = {"data/geo/dbip-country.mmdb"};
  c.geo.asn = {"data/geo/asn.mmdb"};
  c.digest = ConfigDigest(c);
  return c;
}

std::string ConfigDigest(const Config& config) {
  std::string text = CanonicalText(config);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(text.data(), text.size(), md, &md_len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < md_len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 0xf];
  }
  return hex;
}

Result<Config> ParseConfig(std::string_view toml_text,
                           const std::string& origin,
                           const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    const toml::source_position& pos = e.source().begin;
    return InvalidArgument(origin + ":" + std::to_string(pos.line) + ":" +
                           std::to_string(pos.column) + ": " +
                           std::string(e.description()));
  }

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
    std::vector<std::string_view> field_names;
    for (const Field& f : section->fields) field_names.push_back(f.key);
    for (const auto& [field_key, value] : *table) {
      std::string path =
          std::string(key.str()) + "." + std::string(field_key.str());
      auto field = std::find_if(
          section->fields.begin(), section->fields.end(),
          [&](const Field& f) { return f.key == field_key.str(); });
      if (field == section->fields.end()) {
        return InvalidArgument(reader.Where(field_key.source()) +
                               "unknown key " + Quoted(path) +
                               " (known keys in [" + std::string(key.str()) +
                               "]: " + Join(field_names) + ")");
      }
      HL_RETURN_IF_ERROR(field->parse(value, path));
    }
  }
  HL_RETURN_IF_ERROR(CheckRelations(reader, root, config));
  config.digest = ConfigDigest(config);
  return config;
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFound(
        path + ": cannot open the configuration file: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return DataLoss(path + ": error while reading the configuration file");
  }
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  return ParseConfig(text.str(), path, base_dir.empty() ? "." : base_dir);
}

}  // namespace hl
