#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds, and
# passes every test:
#   1. the suite (unit, integration against the sandbox internet, failure
#      tests) on a normal build;
#   2. the suite again under AddressSanitizer and UndefinedBehaviorSanitizer;
#   3. the libFuzzer targets replaying their corpora (clang);
#   4. the README's first command, verbatim, in sandbox mode.
# Set HL_TEST_QUICK=1 to run step 1 only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "install dependencies"
"$root/scripts/install-deps.sh"

step "build"
"$root/scripts/build.sh" "$root/build" -DHL_BUILD_TESTS=ON
step "test suite"
ctest --test-dir "$root/build" --output-on-failure -j 2 --timeout 600

if [ "${HL_TEST_QUICK:-0}" = 1 ]; then exit 0; fi

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
# -Og -g1: faster to build (-O1 is slower under the sanitizers) and to run
# than -O0 -g; line tables still give the sanitizers' reports file:line;
# asserts stay on.
"$root/scripts/build.sh" "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-Og -g1" -DCMAKE_C_FLAGS_DEBUG="-Og -g1" \
  -DHL_SANITIZE=ON
step "test suite under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j 2 --timeout 900

step "fuzz targets (clang libFuzzer): corpus replay"
HL_TARGETS="url_fuzz evidence_fuzz" "$root/scripts/build.sh" "$root/build-fuzz" -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DHL_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug
ctest --test-dir "$root/build-fuzz" --output-on-failure -R '_fuzz' --timeout 600

step "the README's first command, sandbox mode"
"$root/scripts/run.sh" --sandbox

step "done"
