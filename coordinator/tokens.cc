#include "coordinator/tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/digest.h"

namespace hl::coordinator {
namespace {

constexpr std::array<std::pair<std::string_view, Role>, 4> kRoleNames = {{
    {"submit", Role::kSubmit},
    {"read", Role::kRead},
    {"export", Role::kExport},
    {"admin", Role::kAdmin},
}};

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ValidHex64(std::string_view hex) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Result<RoleSet> ParseRoles(std::string_view text) {
  RoleSet roles = 0;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    bool known = false;
    for (const auto& [name, role] : kRoleNames) {
      if (item == name) {
        roles |= static_cast<RoleSet>(role);
        known = true;
      }
    }
    if (!known) {
      return InvalidArgument("unknown role \"" + std::string(item) +
                             "\"; roles are submit, read, export, admin");
    }
    if (comma == std::string_view::npos) return roles;
    text.remove_prefix(comma + 1);
  }
}

std::string RolesText(RoleSet roles) {
  std::string out;
  for (const auto& [name, role] : kRoleNames) {
    if (!(roles & static_cast<RoleSet>(role))) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

bool Allows(RoleSet roles, Role need) {
  return need == Role::kAnyToken || (roles & static_cast<RoleSet>(need)) ||
         (roles & static_cast<RoleSet>(Role::kAdmin));
}

Result<TokenTable> TokenTable::Parse(std::string_view text) {
  TokenTable table;
  std::istringstream in{std::string(text)};
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    TokenEntry entry;
    std::string roles, extra;
    fields >> entry.name >> roles >> entry.sha256_hex >> entry.created_unix_ms;
    const auto where = "tokens file line " + std::to_string(number) + ": ";
    if (fields.fail() || (fields >> extra)) {
      return InvalidArgument(where +
                             "expected NAME ROLES SHA256 CREATED_UNIX_MS");
    }
    if (!ValidName(entry.name)) {
      return InvalidArgument(where + "bad token name");
    }
    auto parsed = ParseRoles(roles);
    if (!parsed.ok()) return InvalidArgument(where + parsed.status().message());
    entry.roles = *parsed;
    if (!ValidHex64(entry.sha256_hex)) {
      return InvalidArgument(where +
                             "the hash is not 64 lower-case hex digits");
    }
    for (const auto& other : table.entries_) {
      if (other.name == entry.name) {
        return InvalidArgument(where + "token \"" + entry.name +
                               "\" appears twice");
      }
    }
    table.entries_.push_back(std::move(entry));
  }
  return table;
}

Status CheckPrivateFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return NotFound("cannot read " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(path + " is not a regular file");
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return {StatusCode::kPermissionDenied,
            path +
                " may be read or written by group or others; run chmod "
                "600 " +
                path};
  }
  return Status::Ok();
}

Result<TokenTable> TokenTable::Load(const std::string& path, bool missing_ok) {
  if (missing_ok && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return TokenTable();
  }
  HL_RETURN_IF_ERROR(CheckPrivateFile(path));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return Unavailable("cannot read " + path);
  return Parse(text.str());
}

std::string TokenTable::Serialize() const {
  std::string out =
      "# hostlocator API tokens: NAME ROLES SHA256(secret) CREATED_UNIX_MS\n";
  for (const auto& e : entries_) {
    out += e.name + " " + RolesText(e.roles) + " " + e.sha256_hex + " " +
           std::to_string(e.created_unix_ms) + "\n";
  }
  return out;
}

Status TokenTable::Save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Unavailable("cannot write " + tmp + ": " + std::strerror(errno));
  }
  const std::string text = Serialize();
  const bool written = ::fchmod(fd, 0600) == 0 &&
                       ::write(fd, text.data(), text.size()) ==
                           static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Unavailable("cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Result<std::string> TokenTable::Add(const std::string& name, RoleSet roles,
                                    int64_t now_ms) {
  if (!ValidName(name)) {
    return InvalidArgument("a token name is 1 to 64 of A-Z a-z 0-9 _ . -");
  }
  if (roles == 0) return InvalidArgument("a token needs at least one role");
  for (const auto& e : entries_) {
    if (e.name == name) {
      return Status(StatusCode::kAlreadyExists,
                    "token \"" + name + "\" exists; revoke it first");
    }
  }
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return Internal("the random number generator failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string secret;
  for (unsigned char b : bytes) {
    secret += kHex[b >> 4];
    secret += kHex[b & 15];
  }
  OPENSSL_cleanse(bytes, sizeof(bytes));
  entries_.push_back({name, roles, Sha256Hex(secret), now_ms});
  return secret;
}

Status TokenTable::Revoke(const std::string& name) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->name == name) {
      entries_.erase(it);
      return Status::Ok();
    }
  }
  return NotFound("no token named \"" + name + "\"");
}

std::optional<TokenEntry> TokenTable::Verify(std::string_view secret) const {
  const std::string hash = Sha256Hex(secret);
  std::optional<TokenEntry> found;
  // Every entry is compared, so the time taken does not say which matched.
  for (const auto& e : entries_) {
    if (CRYPTO_memcmp(hash.data(), e.sha256_hex.data(), hash.size()) == 0) {
      found = e;
    }
  }
  return found;
}

}  // namespace hl::coordinator
