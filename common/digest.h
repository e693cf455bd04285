// SHA-256 digests as lower-case hex: configuration digests and the
// fingerprints of data files that results cite as evidence; the hex and
// base64 forms of bytes.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace hl {

// Lower-case hex of `bytes`, as a string or appended to *out.
std::string HexLower(std::string_view bytes);
void AppendHexLower(std::string_view bytes, std::string* out);

// Standard base64 with padding (RFC 4648, section 4) of `bytes`, as a
// string or appended to *out.
std::string Base64(std::string_view bytes);
void AppendBase64(std::string_view bytes, std::string* out);

std::string Sha256Hex(std::string_view data);

// The digest of a file's contents, read in blocks.
Result<std::string> Sha256FileHex(const std::string& path);

}  // namespace hl
