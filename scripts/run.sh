#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: installs what is missing,
# builds, and runs `hostlocator run` (coordinator and workers in one process,
# RocksDB in a local folder) over a URL list.
#
#   scripts/run.sh URLS [hostlocator run options...]
#       online: fetches the open geolocation data (npm, pinned and
#       checksummed) into data/geo/ and locates the URLs on the internet.
#   scripts/run.sh --sandbox [hostlocator run options...]
#       offline: starts the sandbox internet (authoritative DNS, nginx and a
#       generated geolocation database on loopback), locates its demo URL
#       list, and stops it again. Reports land in sandbox-run/out/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi

"$root/scripts/install-deps.sh"
# Only the binary the run needs; after the test command's build of build/
# this is a no-op (same configuration, nothing to rebuild).
HL_TARGETS=hostlocator "$root/scripts/build.sh" "$root/build"
hostlocator="$root/build/cli/hostlocator"

if [ "$1" = "--sandbox" ]; then
  shift
  dir="$root/sandbox-run"
  rm -rf "$dir"
  exec python3 "$root/scripts/sandbox.py" run --dir "$dir" \
    --hostlocator "$hostlocator" -- \
    sh -c 'exec "$0" run --config "$HL_SANDBOX_CONFIG" "$@" "$HL_SANDBOX_DIR/urls.txt"' \
    "$hostlocator" "$@"
fi

urls=$1
shift
"$root/scripts/fetch-geodata.sh" --hostlocator "$hostlocator"
exec "$hostlocator" run --config "$root/config/hostlocator.toml" "$urls" "$@"
