// Text from reported sites made safe for the referral packages' HTML
// (coordinator/referral_package.h). Pure.
//
// Every value that comes from outside (input lines, URLs, host and DNS
// names, header values, certificate fields, AS and provider names) reaches
// the HTML only through AppendHtmlText, and reported URLs and names are
// defanged first, so that a copied URL does not open and no viewer turns
// it into a link.
#pragma once

#include <string>
#include <string_view>

namespace hl::coordinator {

// Appends `text` as HTML character data or a quoted attribute value:
// invalid UTF-8 repaired to U+FFFD; & < > " ' as character references;
// characters that are invisible or reorder text - C0 and C1 controls other
// than TAB and LF, DEL, zero-width and bidirectional marks, embeddings,
// overrides and isolates (U+061C, U+200B-U+200F, U+202A-U+202E,
// U+2060-U+2064, U+2066-U+2069, U+FEFF) - as the visible marker
// "[U+XXXX]", so a right-to-left override cannot disguise a URL.
void AppendHtmlText(std::string_view text, std::string* out);
std::string HtmlText(std::string_view text);

// `url` defanged for display: the scheme http, https or ftp becomes hxxp,
// hxxps or fxp (any case, the rest of the scheme kept), and every "." of
// the authority (between "//" and the next / ? or #) becomes "[.]". Text
// without "://" has every "." before its first / ? or # replaced (a
// rejected input line may be a bare host name). The path is kept as it is.
std::string DefangUrl(std::string_view url);

// A host or DNS name with every "." as "[.]".
std::string DefangName(std::string_view name);

}  // namespace hl::coordinator
