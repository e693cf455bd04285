#include "common/geo/csv_import.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "common/geo/mmdb_writer.h"

namespace hl::geo {
namespace {

// RFC 4180 records from a stream. A quoted field may contain commas,
// doubled quotes and line breaks; CRLF and LF line ends are accepted.
// Blank lines are skipped.
class CsvReader {
 public:
  explicit CsvReader(std::istream* in) : in_(in) {}

  // The next record in *fields; false at the end of the input or on a
  // malformed record (then *error says why and record_line() where).
  bool Next(std::vector<std::string>* fields, std::string* error) {
    std::string line;
    do {
      if (!ReadLine(&line)) return false;
    } while (line.empty());
    record_line_ = line_;
    fields->clear();
    std::string field;
    size_t i = 0;
    while (true) {
      if (i < line.size() && line[i] == '"') {
        ++i;
        while (true) {
          if (i == line.size()) {
            // The quoted field continues on the next line.
            if (!ReadLine(&line)) {
              *error = "unterminated quoted field";
              return false;
            }
            field.push_back('\n');
            i = 0;
            continue;
          }
          if (line[i] != '"') {
            field.push_back(line[i++]);
          } else if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
          } else {
            ++i;
            break;
          }
        }
        if (i < line.size() && line[i] != ',') {
          *error = "unexpected character after a closing quote";
          return false;
        }
      } else {
        const size_t end = std::min(line.find(',', i), line.size());
        field.assign(line, i, end - i);
        if (field.find('"') != std::string::npos) {
          *error = "quote inside an unquoted field";
          return false;
        }
        i = end;
      }
      fields->push_back(std::move(field));
      field.clear();
      if (i == line.size()) return true;
      ++i;  // the comma
    }
  }

  uint64_t record_line() const { return record_line_; }
  bool failed() const { return in_->bad(); }

 private:
  bool ReadLine(std::string* line) {
    if (!std::getline(*in_, *line)) return false;
    ++line_;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return true;
  }

  std::istream* in_;
  uint64_t line_ = 0;
  uint64_t record_line_ = 0;
};

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Decimal digits only, at most `max`.
std::optional<uint64_t> ParseUnsigned(const std::string& s, uint64_t max) {
  if (!AllDigits(s) || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// A textual IPv4/IPv6 address, or an IPv4 address as a decimal integer
// (the "-num" files).
Result<net::IpAddress> ParseAddress(const std::string& field) {
  if (AllDigits(field)) {
    auto v = ParseUnsigned(field, UINT32_MAX);
    if (!v) {
      return InvalidArgument("integer address " + field +
                             " is beyond IPv4 (integer addresses are read "
                             "as IPv4; use the textual IPv6 file)");
    }
    return net::IpAddress::V4(
        {static_cast<uint8_t>(*v >> 24), static_cast<uint8_t>(*v >> 16),
         static_cast<uint8_t>(*v >> 8), static_cast<uint8_t>(*v)});
  }
  auto ip = net::IpAddress::Parse(field);
  if (!ip) return InvalidArgument("\"" + field + "\" is not an IP address");
  return *ip;
}

// The MMDB record of one row, from the fields after first_ip,last_ip.
Status RowValue(CsvKind kind, const std::vector<std::string>& f,
                MmdbValue* out) {
  if (kind == CsvKind::kCountry) {
    const std::string& cc = f[2];
    if (cc.size() != 2 || !std::isalpha(static_cast<unsigned char>(cc[0])) ||
        !std::isalpha(static_cast<unsigned char>(cc[1]))) {
      return InvalidArgument("country code \"" + cc + "\" is not two letters");
    }
    std::string upper = cc;
    for (char& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    *out = MmdbValue::Map{{"country_code", std::move(upper)}};
    return Status::Ok();
  }
  auto asn = ParseUnsigned(f[2], UINT32_MAX);
  if (!asn) {
    return InvalidArgument("autonomous system number \"" + f[2] +
                           "\" is not an integer 0..4294967295");
  }
  MmdbValue::Map m{{"autonomous_system_number", static_cast<uint32_t>(*asn)}};
  if (!f[3].empty()) m.emplace("autonomous_system_organization", f[3]);
  *out = std::move(m);
  return Status::Ok();
}

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<CsvBuildStats> BuildMmdbFromCsv(CsvKind kind,
                                       const std::vector<std::string>& inputs,
                                       const std::string& output,
                                       const std::string& database_type,
                                       uint64_t build_epoch) {
  if (inputs.empty()) return InvalidArgument("no CSV inputs");
  if (database_type.empty()) {
    return InvalidArgument("the database type must not be empty");
  }
  const size_t columns = kind == CsvKind::kAsn ? 4 : 3;
  const char* const layout = kind == CsvKind::kAsn
                                 ? "first_ip,last_ip,autonomous_system_number,"
                                   "autonomous_system_organization"
                                 : "first_ip,last_ip,country_code";

  MmdbWriterOptions options;
  options.database_type = database_type;
  options.ip_version = 6;
  options.build_epoch = build_epoch;
  options.description = std::string("built by hostlocator geodb from");
  for (const std::string& in : inputs)
    options.description += " " + Basename(in);
  MmdbWriter writer(std::move(options));

  CsvBuildStats stats;
  std::vector<std::string> fields;
  MmdbValue value;
  for (const std::string& input : inputs) {
    std::ifstream in(input);
    if (!in) {
      return NotFound("cannot open \"" + input + "\": " + std::strerror(errno));
    }
    CsvReader reader(&in);
    std::string error;
    auto fail = [&](const std::string& reason) {
      return InvalidArgument(
          input + ":" + std::to_string(reader.record_line()) + ": " + reason);
    };
    while (reader.Next(&fields, &error)) {
      if (fields.size() != columns) {
        return fail("expected " + std::to_string(columns) + " fields (" +
                    layout + "), got " + std::to_string(fields.size()));
      }
      Result<net::IpAddress> first = ParseAddress(fields[0]);
      if (!first.ok()) return fail(first.error().message());
      Result<net::IpAddress> last = ParseAddress(fields[1]);
      if (!last.ok()) return fail(last.error().message());
      Status row = RowValue(kind, fields, &value);
      if (!row.ok()) return fail(row.message());
      Result<std::vector<net::Cidr>> cover = CoverRange(*first, *last);
      if (!cover.ok()) return fail(cover.error().message());
      for (const net::Cidr& c : *cover) {
        Status s = writer.Insert(c, value);
        if (!s.ok()) return fail(s.message());
      }
      ++stats.rows;
      stats.networks += cover->size();
    }
    if (!error.empty()) return fail(error);
    if (reader.failed()) {
      return Unavailable("cannot read \"" + input +
                         "\": " + std::strerror(errno));
    }
  }
  if (stats.rows == 0) {
    return InvalidArgument(
        "no rows in the CSV inputs; refusing to write an "
        "empty database");
  }
  HL_RETURN_IF_ERROR(writer.WriteFile(output));
  return stats;
}

}  // namespace hl::geo
