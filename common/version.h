// The tool version recorded in every result and manifest and printed by
// --version: the project version plus `git describe` of the build's source
// tree. Defined in a file generated at configure time, so that a new commit
// recompiles one file, not every target.
#pragma once

#include <string_view>

namespace hl {

std::string_view ToolVersion();

}  // namespace hl
