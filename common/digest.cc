#include "common/digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

namespace hl {
namespace {

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string Finish(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_DigestFinal_ex(ctx, md, &md_len);
  return HexLower(std::string_view(reinterpret_cast<const char*>(md), md_len));
}

}  // namespace

void AppendHexLower(std::string_view bytes, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t at = out->size();
  out->resize(at + 2 * bytes.size());
  char* hex = out->data() + at;
  for (unsigned char b : bytes) {
    *hex++ = kHex[b >> 4];
    *hex++ = kHex[b & 0xf];
  }
}

std::string HexLower(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  AppendHexLower(bytes, &out);
  return out;
}

void AppendBase64(std::string_view bytes, std::string* out) {
  const size_t at = out->size();
  out->resize(at + 4 * ((bytes.size() + 2) / 3) + 1);  // + EVP's NUL
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out->data() + at),
                      reinterpret_cast<const unsigned char*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  out->resize(at + static_cast<size_t>(n));
}

std::string Base64(std::string_view bytes) {
  std::string out;
  AppendBase64(bytes, &out);
  return out;
}

std::string Sha256Hex(std::string_view data) {
  DigestContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), data.data(), data.size());
  return Finish(ctx.get());
}

Result<std::string> Sha256FileHex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFound("cannot read " + path + ": " + std::strerror(errno));
  }
  DigestContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> block(1 << 16);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    EVP_DigestUpdate(ctx.get(), block.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return Unavailable("reading " + path + " failed");
  return Finish(ctx.get());
}

}  // namespace hl
