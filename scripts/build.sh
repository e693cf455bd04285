#!/usr/bin/env bash
# Configures and builds hostlocator. Usage: scripts/build.sh [BUILD_DIR] [cmake args...]
# Default BUILD_DIR is build/. Jobs: all cores (HL_JOBS overrides).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-"$root/build"}
shift || true
jobs=${HL_JOBS:-$(nproc)}
cmake -S "$root" -B "$build_dir" -G Ninja "$@" >/dev/null
# HL_TARGETS (space-separated) limits the build to those targets.
# The CPU seconds of the build (compiler user+sys), a figure the machine's
# load does not change, unlike the wall time.
TIMEFORMAT="build.sh: %R s wall, %U s user, %S s sys (${build_dir##*/})"
time ninja -C "$build_dir" -j "$jobs" ${HL_TARGETS:-}
