// CURVE keys for the coordinator <-> worker links (ZeroMQ RFC 26) and the
// rule that decides when a TCP link must use them.
//
// Key files: NAME.key holds the Z85 secret key (40 characters and a
// newline, mode 0600), NAME.pub the Z85 public key. The public key is
// derived from the secret one, so a .key file is all a peer needs of its
// own.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hl {

struct CurveKeyPair {
  std::string public_z85;  // 40 characters
  std::string secret_z85;  // 40 characters
};

// A fresh key pair from libzmq (libsodium's randomness).
Result<CurveKeyPair> GenerateCurveKeyPair();

// Writes DIR/NAME.key (mode 0600) and DIR/NAME.pub (mode 0644); DIR is
// created (mode 0700) when missing. Refuses to replace an existing file and
// a NAME that is not [A-Za-z0-9._-]+. Returns the pair written.
Result<CurveKeyPair> WriteCurveKeyFiles(const std::string& dir,
                                        const std::string& name);

// Reads a .key file: the secret key and the public key derived from it.
// A file that group or others may read is refused (chmod 600).
Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path);
// Reads a .pub file: one Z85 public key.
Result<std::string> ReadPublicKeyFile(const std::string& path);
// The public keys (Z85) of `paths`: each a .pub file or a directory whose
// "*.pub" files are read (in name order). Duplicates are kept once.
Result<std::vector<std::string>> ReadAuthorizedKeys(
    const std::vector<std::string>& paths);

// A key's fingerprint for logs: the first 16 hex digits of the SHA-256 of
// the 32 key bytes (`key` is Z85 or the 32 raw bytes). Never logs secrets:
// only call it with public keys.
std::string KeyFingerprint(std::string_view key);

// True for endpoints that never leave the host: inproc://, ipc://, and
// tcp:// on 127.0.0.0/8, ::1 or "localhost".
bool IsHostLocalEndpoint(std::string_view endpoint);

// The transport rule: a tcp:// endpoint that leaves the host needs CURVE
// keys unless plain text is allowed explicitly. `allow_key` names the
// setting in the message ("coordinator.allow_plaintext").
Status CheckTransportSecurity(std::string_view endpoint, bool have_keys,
                              bool allow_plaintext, std::string_view allow_key);

}  // namespace hl
