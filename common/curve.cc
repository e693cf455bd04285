#include "common/curve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
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

Status WriteNewFile(const fs::path& path, const std::string& text,
                    mode_t mode) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) {
      return Status(
          StatusCode::kAlreadyExists,
          path.string() + " exists; remove it or choose another --name");
    }
    return Unavailable("cannot create " + path.string() + ": " +
                       std::strerror(err));
  }
  const bool written = ::write(fd, text.data(), text.size()) ==
                           static_cast<ssize_t>(text.size()) &&
                       ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!written) {
    return Unavailable("cannot write " + path.string() + ": " +
                       std::strerror(err));
  }
  return Status::Ok();
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
  const bool valid_name =
      !name.empty() && name != "." && name != ".." &&
      std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
      });
  if (!valid_name) {
    return InvalidArgument("key name \"" + name +
                           "\" must be letters, digits, '.', '_' or '-'");
  }
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return Unavailable("cannot create " + dir + ": " + ec.message());
    }
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  auto pair = GenerateCurveKeyPair();
  if (!pair.ok()) return pair.status();
  const fs::path key = fs::path(dir) / (name + ".key");
  const fs::path pub = fs::path(dir) / (name + ".pub");
  if (fs::exists(pub, ec)) {
    return Status(StatusCode::kAlreadyExists,
                  pub.string() + " exists; remove it or choose another --name");
  }
  HL_RETURN_IF_ERROR(WriteNewFile(key, pair->secret_z85 + "\n", 0600));
  if (Status s = WriteNewFile(pub, pair->public_z85 + "\n", 0644); !s.ok()) {
    fs::remove(key, ec);
    return s;
  }
  return pair;
}

Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return NotFound("cannot read the secret key file " + path + ": " +
                    std::strerror(errno));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return FailedPrecondition("the secret key file " + path +
                              " may be read by others; run chmod 600 " + path);
  }
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
