// Ed25519 keys that sign export manifests (common/evidence.h), through
// OpenSSL (EVP_PKEY_ED25519).
//
// Key files are PEM, readable by `openssl pkey`: NAME.key holds the private
// key (PKCS#8, mode 0600; refused when others may read it), NAME.pub the
// public key (SubjectPublicKeyInfo). A key's fingerprint is the lower-case
// hex SHA-256 of its 32 raw public-key bytes:
//   openssl pkey -pubin -in NAME.pub -outform DER | tail -c 32 | sha256sum
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace hl {

class SigningKey {
 public:
  // A fresh key from OpenSSL's random generator.
  static Result<SigningKey> Generate();
  // Reads NAME.key; kFailedPrecondition when others may read it.
  static Result<SigningKey> ReadFile(const std::string& path);

  std::string PrivatePem() const;
  std::string PublicPem() const;
  // The 32 raw public-key bytes.
  const std::string& public_raw() const { return public_raw_; }
  // The 64-byte Ed25519 signature of `message`.
  Result<std::string> Sign(std::string_view message) const;

 private:
  SigningKey() = default;
  static Result<SigningKey> Wrap(EVP_PKEY* key);
  std::shared_ptr<EVP_PKEY> key_;
  std::string public_raw_;
};

// The public key file that belongs with private key file `key_path`:
// "DIR/NAME.key" -> "DIR/NAME.pub" (else `key_path` + ".pub").
std::string PublicKeyPathFor(const std::string& key_path);

// Writes DIR/NAME.key and DIR/NAME.pub of a fresh key (key_file.h rules).
Result<SigningKey> WriteSigningKeyFiles(const std::string& dir,
                                        const std::string& name);

// The key at `key_path`, created with its .pub (PublicKeyPathFor) when
// neither exists; *created says which happened.
Result<SigningKey> LoadOrCreateSigningKey(const std::string& key_path,
                                          bool* created);

// The 32 raw bytes of the Ed25519 public key in PEM file `path`.
Result<std::string> ReadSigningPublicKey(const std::string& path);
// The 32 raw bytes of an Ed25519 public key given as PEM text.
Result<std::string> ParseSigningPublicKey(std::string_view pem);

// True when `signature` is the Ed25519 signature of `message` by the key
// with raw public bytes `public_raw`.
bool VerifySignature(std::string_view public_raw, std::string_view message,
                     std::string_view signature);

// Lower-case hex SHA-256 of the raw public-key bytes.
std::string SigningKeyFingerprint(std::string_view public_raw);

}  // namespace hl
