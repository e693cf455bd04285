#include "cli/setup.h"

#include <cstdio>

namespace hl::cli {

void PrintError(const std::string& message) {
  std::fprintf(stderr, "hostlocator: %s\n", message.c_str());
}

}  // namespace hl::cli
