// Runtime configuration, read from TOML (config/hostlocator.toml documents
// every key). Unknown keys and bad values are errors that name the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/geo/geo.h"
#include "common/net/ip.h"
#include "common/status.h"

namespace hl {

struct ResolverConfig {
  std::vector<std::string> servers;  // "address:port"; empty = system's
  uint32_t timeout_ms = 2000;        // per try
  uint32_t tries = 2;
};

struct HttpConfig {
  uint32_t connect_timeout_ms = 5000;
  uint32_t timeout_ms = 10000;       // whole HEAD exchange
  std::string user_agent;
  uint32_t max_header_bytes = 65536;
};

struct SafetyConfig {
  // CIDRs exempt from the private-target rule. Empty in production; the
  // sandbox internet needs its loopback range here.
  std::vector<net::Cidr> allow_cidrs;
};

struct CoordinatorConfig {
  uint32_t lease_timeout_ms = 120000;
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_liveness = 5;   // missed intervals before a peer is dead
  uint32_t max_attempts = 3;
};

struct RunConfig {
  uint32_t workers = 2;              // embedded worker threads
  uint32_t worker_capacity = 8;      // concurrent probes per worker
  std::string data_dir = "hostlocator-data";
  std::string output_dir = "hostlocator-out";
};

struct Config {
  ResolverConfig resolver;
  HttpConfig http;
  SafetyConfig safety;
  geo::GeoConfig geo;
  CoordinatorConfig coordinator;
  RunConfig run;
  // SHA-256 (hex) of the canonical form of the effective configuration;
  // recorded in every result.
  std::string digest;
};

// Defaults, as documented in config/hostlocator.toml.
Config DefaultConfig();

// Parses TOML text over the defaults. `origin` names the source in messages.
// Relative paths in [geo] resolve against `base_dir`.
Result<Config> ParseConfig(std::string_view toml_text,
                           const std::string& origin,
                           const std::string& base_dir);
Result<Config> LoadConfigFile(const std::string& path);

}  // namespace hl
