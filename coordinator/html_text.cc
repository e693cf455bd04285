#include "coordinator/html_text.h"

#include <cstdint>
#include <cstdio>

#include "common/plain_ascii.h"
#include "common/utf8.h"

namespace hl::coordinator {
namespace {

// The code point of the well-formed sequence `s` (1 to 4 bytes).
uint32_t CodePoint(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  switch (s.size()) {
    case 1:
      return b(0);
    case 2:
      return (b(0) & 0x1fu) << 6 | (b(1) & 0x3fu);
    case 3:
      return (b(0) & 0x0fu) << 12 | (b(1) & 0x3fu) << 6 | (b(2) & 0x3fu);
    default:
      return (b(0) & 0x07u) << 18 | (b(1) & 0x3fu) << 12 | (b(2) & 0x3fu) << 6 |
             (b(3) & 0x3fu);
  }
}

bool Hidden(uint32_t c) {
  return (c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7f && c <= 0x9f) ||
         c == 0x061c || (c >= 0x200b && c <= 0x200f) ||
         (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064) ||
         (c >= 0x2066 && c <= 0x2069) || c == 0xfeff;
}

void AppendDefangedDots(std::string_view s, std::string* out) {
  for (char c : s) {
    if (c == '.') {
      *out += "[.]";
    } else {
      *out += c;
    }
  }
}

}  // namespace

void AppendHtmlText(std::string_view text, std::string* out) {
  while (!text.empty()) {
    // TAB and LF, which end a plain run, are copied as they are below.
    const size_t plain = PlainAsciiPrefix<'&', '<', '>', '"', '\''>(text);
    if (plain > 0) {
      out->append(text.data(), plain);
      text.remove_prefix(plain);
      continue;
    }
    const size_t len = Utf8SequenceLength(text);
    if (len == 0) {
      *out += "\xef\xbf\xbd";
      text.remove_prefix(1);
      continue;
    }
    const uint32_t c = CodePoint(text.substr(0, len));
    switch (c) {
      case '&':
        *out += "&amp;";
        break;
      case '<':
        *out += "&lt;";
        break;
      case '>':
        *out += "&gt;";
        break;
      case '"':
        *out += "&quot;";
        break;
      case '\'':
        *out += "&#39;";
        break;
      default:
        if (Hidden(c)) {
          char marker[16];
          std::snprintf(marker, sizeof marker, "[U+%04X]",
                        static_cast<unsigned>(c));
          *out += marker;
        } else {
          out->append(text.data(), len);
        }
    }
    text.remove_prefix(len);
  }
}

std::string HtmlText(std::string_view text) {
  std::string out;
  AppendHtmlText(text, &out);
  return out;
}

std::string DefangUrl(std::string_view url) {
  std::string out;
  std::string_view rest = url;
  const size_t sep = url.find("://");
  if (sep != std::string_view::npos) {
    const std::string_view scheme = url.substr(0, sep);
    const auto starts = [&](std::string_view prefix) {
      if (scheme.size() < prefix.size()) return false;
      for (size_t i = 0; i < prefix.size(); ++i) {
        const char c = scheme[i];
        if ((c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c) != prefix[i]) {
          return false;
        }
      }
      return true;
    };
    if (starts("http")) {
      out += scheme[0];
      out += "xx";
      out += scheme.substr(3);
    } else if (starts("ftp")) {
      out += scheme[0];
      out += "x";
      out += scheme.substr(2);
    } else {
      out += scheme;
    }
    out += "://";
    rest = url.substr(sep + 3);
  }
  const size_t end = rest.find_first_of("/?#");
  AppendDefangedDots(rest.substr(0, end), &out);
  if (end != std::string_view::npos) out += rest.substr(end);
  return out;
}

std::string DefangName(std::string_view name) {
  std::string out;
  AppendDefangedDots(name, &out);
  return out;
}

}  // namespace hl::coordinator
