// SHA-256 digests as lower-case hex: configuration digests and the
// fingerprints of data files that results cite as evidence.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace hl {

std::string Sha256Hex(std::string_view data);

// The digest of a file's contents, read in blocks.
Result<std::string> Sha256FileHex(const std::string& path);

}  // namespace hl
