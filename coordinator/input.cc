#include "coordinator/input.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hl::coordinator {
namespace {

std::string_view Trim(std::string_view s) {
  const auto not_space = [](char c) {
    return c != ' ' && c != '\t' && c != '\r' && c != '\n';
  };
  while (!s.empty() && !not_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && !not_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::vector<std::string> SplitCsvRecord(std::string_view record) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < record.size(); ++i) {
    const char c = record[i];
    if (quoted) {
      if (c == '"' && i + 1 < record.size() && record[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

Result<std::unique_ptr<InputReader>> InputReader::Open(
    const std::string& path) {
  std::unique_ptr<InputReader> reader(new InputReader());
  if (path == "-") {
    reader->file_ = stdin;
  } else {
    reader->file_ = std::fopen(path.c_str(), "rb");
    if (reader->file_ == nullptr) {
      return NotFound("cannot read the URL list " + path + ": " +
                      std::strerror(errno));
    }
    reader->owns_file_ = true;
  }
  return reader;
}

Result<std::unique_ptr<InputReader>> InputReader::FromText(std::string text) {
  std::unique_ptr<InputReader> reader(new InputReader());
  reader->text_ = std::move(text);
  reader->file_ = fmemopen(reader->text_.data(), reader->text_.size(), "r");
  if (reader->file_ == nullptr) {
    return Internal(std::string("cannot read the URL list from memory: ") +
                    std::strerror(errno));
  }
  reader->owns_file_ = true;
  return reader;
}

InputReader::~InputReader() {
  if (owns_file_) std::fclose(file_);
}

bool InputReader::ReadLine() {
  line_.clear();
  line_truncated_ = false;
  int c;
  bool any = false;
  while ((c = getc_unlocked(file_)) != EOF) {
    any = true;
    if (c == '\n') break;
    if (line_.size() < kMaxInputLineBytes) {
      line_.push_back(static_cast<char>(c));
    } else {
      line_truncated_ = true;
    }
  }
  if (!any) return false;
  ++line_number_;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (line_number_ == 1 && line_.starts_with("\xEF\xBB\xBF")) {
    line_.erase(0, 3);
  }
  return true;
}

Result<std::optional<InputLine>> InputReader::Next() {
  while (ReadLine()) {
    const std::string_view trimmed = Trim(line_);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    if (!header_checked_) {
      header_checked_ = true;
      const auto header = SplitCsvRecord(line_);
      // A line holding a URL is data, never a header (a first line like
      // "http://x.test/a,url" must not vanish).
      const bool has_url = std::any_of(
          header.begin(), header.end(),
          [](const std::string& f) { return f.find("://") != f.npos; });
      if (!has_url && (header.size() > 1 || Lower(Trim(header[0])) == "url")) {
        for (size_t i = 0; i < header.size(); ++i) {
          const std::string name = Lower(Trim(header[i]));
          int* column = name == "url" ? &url_column_
                        : name == "referer" || name == "referrer"
                            ? &referer_column_
                        : name == "user_agent" || name == "user-agent"
                            ? &user_agent_column_
                            : nullptr;
          if (column != nullptr && *column < 0) *column = static_cast<int>(i);
        }
        if (url_column_ >= 0) continue;  // the header row itself
      }
    }
    InputLine out;
    out.line = line_number_;
    out.truncated = line_truncated_;
    if (url_column_ >= 0) {
      auto fields = SplitCsvRecord(line_);
      auto take = [&fields](int column, std::string* field) {
        if (column >= 0 && static_cast<size_t>(column) < fields.size()) {
          *field = std::move(fields[column]);
        }
      };
      take(url_column_, &out.url);
      take(referer_column_, &out.referer);
      take(user_agent_column_, &out.user_agent);
    } else {
      out.url = line_;
    }
    return std::optional<InputLine>(std::move(out));
  }
  if (std::ferror(file_)) {
    return Unavailable(std::string("reading the URL list failed: ") +
                       std::strerror(errno));
  }
  return std::optional<InputLine>();
}

}  // namespace hl::coordinator
