#include "common/toml_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hl::toml_reader {
namespace {

std::string_view TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

}  // namespace

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::string Join(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

Result<toml::table> ParseText(std::string_view text,
                              const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const toml::source_position& pos = e.source().begin;
    return InvalidArgument(origin + ":" + std::to_string(pos.line) + ":" +
                           std::to_string(pos.column) + ": " +
                           std::string(e.description()));
  }
}

Result<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFound(path + ": cannot open " + std::string(what) + ": " +
                    std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return DataLoss(path + ": error while reading " + std::string(what));
  }
  return text.str();
}

std::string Reader::Where(const toml::source_region& region) const {
  if (region.begin.line == 0) return origin_ + ": ";
  return origin_ + ":" + std::to_string(region.begin.line) + ":" +
         std::to_string(region.begin.column) + ": ";
}

Status Reader::Bad(const toml::node& node, std::string_view path,
                   std::string_view expected, std::string_view got) const {
  return InvalidArgument(Where(node.source()) + "bad value for " +
                         Quoted(path) + ": expected " + std::string(expected) +
                         "; got " + std::string(got));
}

Status Reader::WrongType(const toml::node& node, std::string_view path,
                         std::string_view expected) const {
  return Bad(node, path, expected, TypeName(node.type()));
}

Status Reader::Uint(const toml::node& node, std::string_view path, uint32_t min,
                    uint32_t max, std::string_view unit, uint32_t* out) const {
  std::string expected =
      "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!unit.empty()) expected += " (" + std::string(unit) + ")";
  const auto* value = node.as_integer();
  if (value == nullptr) return WrongType(node, path, expected);
  int64_t v = value->get();
  if (v < min || v > max) {
    return Bad(node, path, expected, std::to_string(v));
  }
  *out = static_cast<uint32_t>(v);
  return Status::Ok();
}

Status Reader::Date(const toml::node& node, std::string_view path,
                    std::string* out) const {
  const auto* date = node.as_date();
  if (date == nullptr)
    return WrongType(node, path, "a date such as 2026-11-29");
  const toml::date& d = date->get();
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04u-%02u-%02u",
                static_cast<unsigned>(d.year), static_cast<unsigned>(d.month),
                static_cast<unsigned>(d.day));
  *out = buf;
  return Status::Ok();
}

Status Reader::Bool(const toml::node& node, std::string_view path,
                    bool* out) const {
  const auto* value = node.as_boolean();
  if (value == nullptr) return WrongType(node, path, "true or false");
  *out = value->get();
  return Status::Ok();
}

Status Reader::String(const toml::node& node, std::string_view path,
                      std::string_view expected,
                      const std::function<bool(std::string_view)>& valid,
                      std::string* out) const {
  const auto* value = node.as_string();
  if (value == nullptr) return WrongType(node, path, expected);
  const std::string& v = value->get();
  if (!valid(v)) return Bad(node, path, expected, Quoted(v));
  *out = v;
  return Status::Ok();
}

Status Reader::Array(
    const toml::node& node, std::string_view path, std::string_view expected,
    const std::function<Status(const toml::node&, const std::string&)>& item)
    const {
  const toml::array* array = node.as_array();
  if (array == nullptr) return WrongType(node, path, expected);
  for (size_t i = 0; i < array->size(); ++i) {
    HL_RETURN_IF_ERROR(
        item((*array)[i], std::string(path) + "[" + std::to_string(i) + "]"));
  }
  return Status::Ok();
}

Status Reader::Path(const toml::node& node, std::string_view path,
                    bool allow_empty, std::string* out) const {
  std::string p;
  HL_RETURN_IF_ERROR(String(
      node, path, allow_empty ? "a file path or \"\"" : "a non-empty file path",
      [allow_empty](std::string_view s) { return allow_empty || !s.empty(); },
      &p));
  *out = p.empty() ? p : Resolve(p);
  return Status::Ok();
}

Status Reader::PathList(const toml::node& node, std::string_view path,
                        bool allow_empty, std::vector<std::string>* out) const {
  std::string expected = "an array of file paths";
  if (!allow_empty) expected = "a non-empty array of file paths";
  std::vector<std::string> paths;
  HL_RETURN_IF_ERROR(
      Array(node, path, expected,
            [&](const toml::node& item, const std::string& item_path) {
              std::string p;
              HL_RETURN_IF_ERROR(Path(item, item_path, false, &p));
              paths.push_back(std::move(p));
              return Status::Ok();
            }));
  if (paths.empty() && !allow_empty) {
    return Bad(node, path, expected, "an empty array");
  }
  *out = std::move(paths);
  return Status::Ok();
}

Status Reader::CidrList(const toml::node& node, std::string_view path,
                        std::vector<net::Cidr>* out) const {
  std::vector<net::Cidr> cidrs;
  HL_RETURN_IF_ERROR(Array(
      node, path, "an array of CIDR strings",
      [&](const toml::node& item, const std::string& item_path) {
        constexpr std::string_view kExpected =
            "a CIDR such as \"127.0.0.0/8\" or \"fd00::/8\"";
        const auto* text = item.as_string();
        if (text == nullptr) return WrongType(item, item_path, kExpected);
        Result<net::Cidr> cidr = net::Cidr::Parse(text->get());
        if (!cidr.ok()) {
          return Bad(item, item_path, kExpected,
                     Quoted(text->get()) + " (" + cidr.error().message() + ")");
        }
        cidrs.push_back(*cidr);
        return Status::Ok();
      }));
  *out = std::move(cidrs);
  return Status::Ok();
}

Status Reader::Fields(const toml::table& table, std::string_view path,
                      std::string_view label,
                      const std::vector<Field>& fields) const {
  for (const auto& [key, value] : table) {
    std::string key_path =
        path.empty() ? std::string(key.str())
                     : std::string(path) + "." + std::string(key.str());
    auto field =
        std::find_if(fields.begin(), fields.end(),
                     [&](const Field& f) { return f.key == key.str(); });
    if (field == fields.end()) {
      std::vector<std::string_view> names;
      for (const Field& f : fields) names.push_back(f.key);
      return InvalidArgument(Where(key.source()) + "unknown key " +
                             Quoted(key_path) + " (known keys in " +
                             std::string(label) + ": " + Join(names) + ")");
    }
    HL_RETURN_IF_ERROR(field->parse(value, key_path));
  }
  return Status::Ok();
}

std::string Reader::Resolve(const std::string& path) const {
  std::filesystem::path p(path);
  if (base_dir_.empty() || p.is_absolute()) return path;
  return (std::filesystem::path(base_dir_) / p).lexically_normal().string();
}

}  // namespace hl::toml_reader
