// Files that hold keys: created once with a fixed mode, and secret ones
// refused when others may read them. Shared by the CURVE keys
// (common/curve.h) and the export signing keys (common/signing.h).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace hl {

// Writes DIR/NAME.key (`secret_text`, mode 0600) and DIR/NAME.pub
// (`public_text`, mode 0644); DIR is created (mode 0700) when missing.
// Refuses to replace an existing file and a NAME that is not
// [A-Za-z0-9._-]+ (kInvalidArgument).
Status WriteKeyPairFiles(const std::string& dir, const std::string& name,
                         const std::string& secret_text,
                         const std::string& public_text);

// Creates `path` holding `text` with `mode`, synced. Never replaces a file:
// an existing one is kAlreadyExists ("remove it or choose another --name").
Status WriteNewFile(const std::string& path, const std::string& text,
                    mode_t mode);

// kFailedPrecondition when group or others may read the file at `path`
// (`what` names it in the message, which says to chmod 600); kNotFound when
// it cannot be examined.
Status CheckOwnerOnly(const std::string& path, std::string_view what);

}  // namespace hl
