// API tokens: named bearer secrets with roles, kept hashed in a tokens file.
//
// A secret is 256 random bits shown once as 64 hex digits; the file keeps
// only its SHA-256. The file is text, one token a line:
//   NAME ROLES SHA256HEX CREATED_UNIX_MS
// ROLES is a comma-separated subset of submit,read,export,admin; '#' starts
// a comment line. The file must not be readable by group or others (mode
// 0600): Load refuses it otherwise. Verification hashes the presented
// secret and compares it with every entry in constant time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hl::coordinator {

enum class Role : uint32_t {
  kAnyToken = 0,  // any valid token, whatever its roles (the session)
  kSubmit = 1,    // submit batches and re-checks, follow their status
  kRead = 2,      // batch status, results, metrics
  kExport = 4,    // streamed exports
  kAdmin = 8,     // everything
};
using RoleSet = uint32_t;

// "submit,read" -> the set; an unknown or empty role is an error.
Result<RoleSet> ParseRoles(std::string_view text);
// The set as ParseRoles reads it, in the order submit,read,export,admin.
std::string RolesText(RoleSet roles);
// True when `roles` grant `need` (admin grants every role; any set
// grants kAnyToken).
bool Allows(RoleSet roles, Role need);

struct TokenEntry {
  std::string name;  // [A-Za-z0-9_.-]{1,64}
  RoleSet roles = 0;
  std::string sha256_hex;  // of the secret's text
  int64_t created_unix_ms = 0;
};

class TokenTable {
 public:
  // Parses the file format above; errors name the line.
  static Result<TokenTable> Parse(std::string_view text);
  // Reads `path`, refusing a file that group or others may read. A missing
  // file is an empty table when `missing_ok`.
  static Result<TokenTable> Load(const std::string& path, bool missing_ok);
  std::string Serialize() const;
  // Writes the table to `path` with mode 0600 (through a renamed temporary).
  Status Save(const std::string& path) const;

  // Adds a token and returns its secret (shown once, never stored).
  // A name already in the table is an error.
  Result<std::string> Add(const std::string& name, RoleSet roles,
                          int64_t now_ms);
  Status Revoke(const std::string& name);
  // The entry whose secret is `secret`, if any.
  std::optional<TokenEntry> Verify(std::string_view secret) const;
  const std::vector<TokenEntry>& entries() const { return entries_; }

 private:
  std::vector<TokenEntry> entries_;
};

// OK when `path` is a regular file that group and others cannot read or
// write; otherwise an error saying to chmod 600 it.
Status CheckPrivateFile(const std::string& path);

}  // namespace hl::coordinator
