// Streams a URL list: one URL per line (blank lines and lines starting with
// '#' skipped), or CSV with a header row naming a `url` column (detected on
// the first non-comment line) and optionally `referer` (or `referrer`) and
// `user_agent` (or `user-agent`) columns, the request context of the line. A
// UTF-8 BOM and CR before LF are removed. Memory stays bounded whatever the
// input: a line longer than kMaxInputLineBytes is cut there and flagged.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hl::coordinator {

inline constexpr size_t kMaxInputLineBytes = 16384;

struct InputLine {
  uint64_t line = 0;       // 1-based physical line number
  std::string url;         // the URL field as given (whitespace kept)
  std::string referer;     // CSV column, "" when absent
  std::string user_agent;  // CSV column, "" when absent
  bool truncated = false;
};

class InputReader {
 public:
  // "-" reads standard input.
  static Result<std::unique_ptr<InputReader>> Open(const std::string& path);
  // Reads a list held in memory (an upload through the API).
  static Result<std::unique_ptr<InputReader>> FromText(std::string text);
  ~InputReader();

  // The next URL-bearing line, nullopt at the end; an error when reading
  // fails.
  Result<std::optional<InputLine>> Next();
  bool csv() const { return url_column_ >= 0; }

 private:
  InputReader() = default;
  // Reads one physical line into line_; false at end of input.
  bool ReadLine();

  FILE* file_ = nullptr;
  bool owns_file_ = false;
  std::string text_;  // FromText: the buffer file_ reads
  std::string line_;
  bool line_truncated_ = false;
  uint64_t line_number_ = 0;
  bool header_checked_ = false;
  int url_column_ = -1;  // CSV mode when >= 0
  int referer_column_ = -1;
  int user_agent_column_ = -1;
};

// Splits one CSV record (RFC 4180 quoting, no embedded newlines).
std::vector<std::string> SplitCsvRecord(std::string_view record);

}  // namespace hl::coordinator
