// Typed reading of hostlocator's TOML files (the configuration, the
// provider signatures) with one error style.
//
// Contract: every failure is a Status whose message starts with
// "origin:line:col: " (or "origin: " where no position is known) and names
// the dotted key (list items as "key[i]"), so the first error is the one
// clear startup message. An unknown key is an error naming its dotted path
// and the keys known there.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/ip.h"
#include "common/status.h"

namespace hl::toml_reader {

// `s` between double quotes, as written in messages.
std::string Quoted(std::string_view s);
// "a, b, c".
std::string Join(const std::vector<std::string_view>& items);

// Parses TOML text; a syntax error is InvalidArgument at its position.
Result<toml::table> ParseText(std::string_view text, const std::string& origin);
// The whole file at `path`; `what` names it in messages ("the configuration
// file"). NotFound when it cannot be opened, DataLoss on a read error.
Result<std::string> ReadFile(const std::string& path, std::string_view what);

// Reads one key's value; `path` is its dotted key.
using FieldParser =
    std::function<Status(const toml::node&, const std::string& path)>;

struct Field {
  std::string_view key;
  FieldParser parse;
};

// Reads typed values out of TOML nodes; every failure is an
// InvalidArgument whose message starts with the node's position and names
// the dotted key. Holds references to `origin` and `base_dir`.
class Reader {
 public:
  Reader(const std::string& origin, const std::string& base_dir)
      : origin_(origin), base_dir_(base_dir) {}

  // "origin:line:col: ", or "origin: " for a region without a position.
  std::string Where(const toml::source_region& region) const;

  Status Bad(const toml::node& node, std::string_view path,
             std::string_view expected, std::string_view got) const;
  Status WrongType(const toml::node& node, std::string_view path,
                   std::string_view expected) const;

  // An integer in [min, max]; `unit` is named in the message when not "".
  Status Uint(const toml::node& node, std::string_view path, uint32_t min,
              uint32_t max, std::string_view unit, uint32_t* out) const;

  // A TOML date (2026-11-29), as "YYYY-MM-DD".
  Status Date(const toml::node& node, std::string_view path,
              std::string* out) const;

  // A boolean.
  Status Bool(const toml::node& node, std::string_view path, bool* out) const;

  // A string that checks `valid`, described by `expected` when not.
  Status String(const toml::node& node, std::string_view path,
                std::string_view expected,
                const std::function<bool(std::string_view)>& valid,
                std::string* out) const;

  // An array whose items are each read by `item(node, "path[i]")`.
  Status Array(
      const toml::node& node, std::string_view path, std::string_view expected,
      const std::function<Status(const toml::node&, const std::string&)>& item)
      const;

  // A file path, resolved against base_dir when relative; "" only with
  // `allow_empty` (and then kept as "").
  Status Path(const toml::node& node, std::string_view path, bool allow_empty,
              std::string* out) const;
  // An array of file paths, each as Path() reads it (never "").
  Status PathList(const toml::node& node, std::string_view path,
                  bool allow_empty, std::vector<std::string>* out) const;

  // An array of CIDR strings ("127.0.0.0/8", "fd00::/8"), host bits zero.
  Status CidrList(const toml::node& node, std::string_view path,
                  std::vector<net::Cidr>* out) const;

  // Reads every key of `table` with the field of that name, in key order
  // (toml++ keeps tables sorted); the value's path is "<path>.<key>" ("<key>"
  // when `path` is "", the top level). A key without a field is "unknown key
  // "<path>.<key>" (known keys in <label>: ...)".
  Status Fields(const toml::table& table, std::string_view path,
                std::string_view label, const std::vector<Field>& fields) const;

 private:
  std::string Resolve(const std::string& path) const;

  const std::string& origin_;
  const std::string& base_dir_;
};

}  // namespace hl::toml_reader
