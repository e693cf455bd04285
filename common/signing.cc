#include "common/signing.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/digest.h"
#include "common/key_file.h"

namespace hl {
namespace {

constexpr size_t kPublicBytes = 32;
constexpr size_t kSignatureBytes = 64;

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<std::string> RawPublic(EVP_PKEY* key) {
  unsigned char raw[kPublicBytes];
  size_t size = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &size) != 1 ||
      size != kPublicBytes) {
    return InvalidArgument("not an Ed25519 key");
  }
  return std::string(reinterpret_cast<const char*>(raw), size);
}

Result<std::string> ReadText(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read the " + std::string(what) + " " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<SigningKey> SigningKey::Wrap(EVP_PKEY* key) {
  SigningKey result;
  result.key_.reset(key, &EVP_PKEY_free);
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    return InvalidArgument("not an Ed25519 key");
  }
  auto raw = RawPublic(key);
  if (!raw.ok()) return raw.status();
  result.public_raw_ = *std::move(raw);
  return result;
}

Result<SigningKey> SigningKey::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) {
    return Internal("cannot generate an Ed25519 key: " + OpenSslError());
  }
  return Wrap(key);
}

Result<SigningKey> SigningKey::ReadFile(const std::string& path) {
  HL_RETURN_IF_ERROR(CheckOwnerOnly(path, "signing key file"));
  auto text = ReadText(path, "signing key file");
  if (!text.ok()) return text.status();
  Bio bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())),
          &BIO_free);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  auto wrapped =
      key == nullptr ? Result<SigningKey>(InvalidArgument("")) : Wrap(key);
  if (!wrapped.ok()) {
    ERR_clear_error();
    return InvalidArgument(
        "the signing key file " + path +
        " does not hold an Ed25519 private key (PEM); write one with "
        "`hostlocator keys generate --signing`");
  }
  return wrapped;
}

std::string SigningKey::PrivatePem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr,
                           nullptr);
  return BioText(bio.get());
}

std::string SigningKey::PublicPem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  return BioText(bio.get());
}

Result<std::string> SigningKey::Sign(std::string_view message) const {
  MdContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char signature[kSignatureBytes];
  size_t size = sizeof signature;
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) !=
          1 ||
      EVP_DigestSign(ctx.get(), signature, &size,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    return Internal("Ed25519 signing failed: " + OpenSslError());
  }
  return std::string(reinterpret_cast<const char*>(signature), size);
}

std::string PublicKeyPathFor(const std::string& key_path) {
  if (key_path.ends_with(".key")) {
    return key_path.substr(0, key_path.size() - 4) + ".pub";
  }
  return key_path + ".pub";
}

Result<SigningKey> WriteSigningKeyFiles(const std::string& dir,
                                        const std::string& name) {
  auto key = SigningKey::Generate();
  if (!key.ok()) return key.status();
  HL_RETURN_IF_ERROR(
      WriteKeyPairFiles(dir, name, key->PrivatePem(), key->PublicPem()));
  return key;
}

Result<SigningKey> LoadOrCreateSigningKey(const std::string& key_path,
                                          bool* created) {
  *created = false;
  std::error_code ec;
  const std::string pub_path = PublicKeyPathFor(key_path);
  if (std::filesystem::exists(key_path, ec) ||
      std::filesystem::exists(pub_path, ec)) {
    return SigningKey::ReadFile(key_path);
  }
  auto key = SigningKey::Generate();
  if (!key.ok()) return key.status();
  HL_RETURN_IF_ERROR(WriteNewFile(key_path, key->PrivatePem(), 0600));
  HL_RETURN_IF_ERROR(WriteNewFile(pub_path, key->PublicPem(), 0644));
  *created = true;
  return key;
}

Result<std::string> ParseSigningPublicKey(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    return InvalidArgument("not a PEM public key");
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> owned(key,
                                                            &EVP_PKEY_free);
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    return InvalidArgument("not an Ed25519 public key");
  }
  return RawPublic(key);
}

Result<std::string> ReadSigningPublicKey(const std::string& path) {
  auto text = ReadText(path, "public key file");
  if (!text.ok()) return text.status();
  auto raw = ParseSigningPublicKey(*text);
  if (!raw.ok()) {
    return InvalidArgument(
        "the public key file " + path + " does not hold an Ed25519 public " +
        "key (PEM): give the signing key's .pub file, e.g. " +
        "hostlocator-data/signing.pub");
  }
  return raw;
}

bool VerifySignature(std::string_view public_raw, std::string_view message,
                     std::string_view signature) {
  if (public_raw.size() != kPublicBytes ||
      signature.size() != kSignatureBytes) {
    return false;
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_new_raw_public_key(
          EVP_PKEY_ED25519, nullptr,
          reinterpret_cast<const unsigned char*>(public_raw.data()),
          public_raw.size()),
      &EVP_PKEY_free);
  if (!key) {
    ERR_clear_error();
    return false;
  }
  MdContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  const bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) ==
          1 &&
      EVP_DigestVerify(ctx.get(),
                       reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::string SigningKeyFingerprint(std::string_view public_raw) {
  return Sha256Hex(public_raw);
}

}  // namespace hl
