#include "common/curve.h"

#include <zmq.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/digest.h"
#include "common/key_file.h"

namespace hl {
namespace {

namespace fs = std::filesystem;

constexpr size_t kZ85KeyChars = 40;
constexpr size_t kKeyBytes = 32;

bool ValidZ85Key(std::string_view text) {
  if (text.size() != kZ85KeyChars) return false;
  uint8_t raw[kKeyBytes];
  const std::string z85(text);
  return zmq_z85_decode(raw, z85.c_str()) != nullptr;
}

// The file's first line without surrounding white space.
Result<std::string> ReadKeyLine(const std::string& path,
                                std::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return NotFound("cannot read the " + std::string(what) + " file " + path +
                    ": " + std::strerror(errno));
  }
  std::string line;
  std::getline(in, line);
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  line.erase(line.begin(), std::find_if_not(line.begin(), line.end(), space));
  line.erase(std::find_if_not(line.rbegin(), line.rend(), space).base(),
             line.end());
  if (!ValidZ85Key(line)) {
    return InvalidArgument(
        "the " + std::string(what) + " file " + path +
        " does not hold a Z85 CURVE key (40 characters); write key files "
        "with `hostlocator keys generate`");
  }
  return line;
}

}  // namespace

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char public_z85[kZ85KeyChars + 1];
  char secret_z85[kZ85KeyChars + 1];
  if (zmq_curve_keypair(public_z85, secret_z85) != 0) {
    return Unavailable(
        std::string("cannot generate a CURVE key pair (libzmq without "
                    "CURVE support?): ") +
        zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{public_z85, secret_z85};
}

Result<CurveKeyPair> WriteCurveKeyFiles(const std::string& dir,
                                        const std::string& name) {
  auto pair = GenerateCurveKeyPair();
  if (!pair.ok()) return pair.status();
  HL_RETURN_IF_ERROR(WriteKeyPairFiles(dir, name, pair->secret_z85 + "\n",
                                       pair->public_z85 + "\n"));
  return pair;
}

Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path) {
  HL_RETURN_IF_ERROR(CheckOwnerOnly(path, "secret key file"));
  auto secret = ReadKeyLine(path, "secret key");
  if (!secret.ok()) return secret.status();
  char public_z85[kZ85KeyChars + 1];
  if (zmq_curve_public(public_z85, secret->c_str()) != 0) {
    return InvalidArgument("cannot derive a public key from " + path + ": " +
                           zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{public_z85, *secret};
}

Result<std::string> ReadPublicKeyFile(const std::string& path) {
  return ReadKeyLine(path, "public key");
}

Result<std::vector<std::string>> ReadAuthorizedKeys(
    const std::vector<std::string>& paths) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  auto add = [&](const std::string& file) -> Status {
    auto key = ReadPublicKeyFile(file);
    if (!key.ok()) return key.status();
    if (seen.insert(*key).second) keys.push_back(*key);
    return Status::Ok();
  };
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      HL_RETURN_IF_ERROR(add(path));
      continue;
    }
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.path().extension() == ".pub") {
        files.push_back(entry.path().string());
      }
    }
    if (ec) {
      return Unavailable("cannot list the key directory " + path + ": " +
                         ec.message());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) HL_RETURN_IF_ERROR(add(file));
  }
  return keys;
}

std::string KeyFingerprint(std::string_view key) {
  std::string raw(key);
  if (key.size() == kZ85KeyChars) {
    raw.assign(kKeyBytes, '\0');
    const std::string z85(key);
    if (zmq_z85_decode(reinterpret_cast<uint8_t*>(raw.data()), z85.c_str()) ==
        nullptr) {
      raw = key;
    }
  }
  return Sha256Hex(raw).substr(0, 16);
}

bool IsHostLocalEndpoint(std::string_view endpoint) {
  if (endpoint.starts_with("inproc://") || endpoint.starts_with("ipc://")) {
    return true;
  }
  constexpr std::string_view kTcp = "tcp://";
  if (!endpoint.starts_with(kTcp)) return false;
  std::string_view host = endpoint.substr(kTcp.size());
  if (host.starts_with("[")) {
    const size_t close = host.find(']');
    return close != std::string_view::npos &&
           host.substr(1, close - 1) == "::1";
  }
  host = host.substr(0, host.rfind(':'));
  if (host == "localhost") return true;
  if (!host.starts_with("127.")) return false;
  // Only a dotted IPv4 address in 127/8, not a name that starts like one.
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

Status CheckTransportSecurity(std::string_view endpoint, bool have_keys,
                              bool allow_plaintext,
                              std::string_view allow_key) {
  if (have_keys || allow_plaintext || IsHostLocalEndpoint(endpoint)) {
    return Status::Ok();
  }
  return FailedPrecondition(
      std::string(endpoint) +
      " leaves this host but no CURVE keys are configured: traffic would be "
      "plain text and any host could pose as a peer. Configure keys "
      "(`hostlocator keys generate`, see README \"Running a fleet\") or set " +
      std::string(allow_key) + " = true");
}

}  // namespace hl
