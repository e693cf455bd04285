#!/usr/bin/env bash
# Installs the Debian 12 packages hostlocator needs to build, test and run.
# Idempotent: installs only what is missing. Run as root (or with sudo).
#   scripts/install-deps.sh             everything: build, test, run
#   scripts/install-deps.sh --runtime   only the shared libraries the three
#                                       binaries load and the CA bundle
#                                       (docker/Dockerfile's run stage)
set -euo pipefail

# What `ldd` shows the binaries load (their own dependencies follow), and
# the trust store the worker verifies certificates against. RocksDB is
# linked statically; its compression libraries are listed.
runtime=(
  libcurl4 libzmq5 libmaxminddb0 libc-ares2 libidn2-0 libpsl5 libprotobuf32
  libtomlplusplus3 libspdlog1.10 libfmt9 libcpp-httplib0.11 libssl3
  libjemalloc2 libsnappy1v5 liblz4-1 libzstd1 libbz2-1.0 zlib1g
  ca-certificates
)

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev
  # libraries
  libcurl4-openssl-dev libzmq3-dev cppzmq-dev librocksdb-dev libmaxminddb-dev
  libc-ares-dev libidn2-dev libpsl-dev libprotobuf-dev protobuf-compiler
  libtomlplusplus-dev libcli11-dev libspdlog-dev nlohmann-json3-dev
  libcpp-httplib-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libjemalloc-dev
  # sandbox internet, geodata fetch, test tooling
  knot knot-dnsutils nginx-light libnginx-mod-http-echo openssl
  python3 curl ca-certificates mmdb-bin iproute2 procps
  # benchmarks (bench/): the DNS server's ceiling, CPU pinning, peak RSS
  dnsperf util-linux time
  # the referral packages' HTML is tested in headless Chromium
  chromium
)

case "${1:-}" in
  "") ;;
  --runtime) packages=("${runtime[@]}") ;;
  *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
# npm fetches the geolocation data. Machines that ship Node.js from another
# repository already have npm inside the nodejs package; Debian's own npm
# package conflicts with that, so only install it when npm is absent.
[ "${1:-}" = --runtime ] || command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian nginx package may start a default server; hostlocator never
# uses it (the sandbox runs its own instances), so leave it alone.
