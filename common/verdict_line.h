// The one line `hostlocator run` prints per finished URL: status, hosting
// countries, URL, then the evidence in brief (answering address and
// network, HTTP status or the error, redirects, the first provider).
#pragma once

#include <string>
#include <string_view>

namespace hl {

// `stored` is an Observation's wire form (as stored or as a worker sent
// it). Only the fields the line shows are decoded (VerdictLineSource), so
// the cost does not grow with the result's DNS queries, headers or
// certificates. Bytes that do not parse give a line that says so.
std::string VerdictLine(std::string_view stored);

}  // namespace hl
