#!/bin/bash
# make check: build, then run every suite twice (plain and ASan+UBSan), then the fuzz smoke run.
# Prints one closing line "check: N passed, M failed" summing the unit and end-to-end counts.
set -u -o pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
failed_stages=""
stage() {  # stage NAME COMMAND...
  name=$1; shift
  echo "==== $name"
  if ! "$@" 2>&1 | tee "$log/$name.out"; then failed_stages="$failed_stages $name"; fi
}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
stage build     $MAKE --no-print-directory all models
stage unit      $MAKE --no-print-directory unit-test
stage e2e       $MAKE --no-print-directory e2e-test
stage asan-unit $MAKE --no-print-directory BUILD=build-asan SAN=1 unit-test
stage asan-e2e  $MAKE --no-print-directory BUILD=build-asan SAN=1 e2e-test
if [ -f tests/fuzz/run.sh ]; then stage fuzz $MAKE --no-print-directory fuzz-smoke; fi
# Boards (docs/boards.md): each CPU's binary and kernels are cross-built and run under qemu-user
# as a device server (tests/e2e/test_cross.py); the armhf build also runs the unit tests, the
# 32-bit host's checks among them.
cross() {  # cross TRIPLET [unit]
  $MAKE --no-print-directory -j2 CROSS_COMPILE=$1- all models &&
  TVMRPC_CROSS_BIN=$PWD/build-$1/tvmrpc-console TVMRPC_CROSS_BUILD=$PWD/build-$1 \
  TVMRPC_BIN=$PWD/tvmrpc-console \
    ${PYTHON:-/usr/bin/python3} -m pytest -q -p no:cacheprovider tests/e2e/test_cross.py &&
  if [ "${2:-}" = unit ]; then $MAKE --no-print-directory -j2 CROSS_COMPILE=$1- unit-test; fi
}
stage cross-deps sh scripts/deps.sh cross
stage cross-aarch64 cross aarch64-linux-gnu
stage cross-armhf cross arm-linux-gnueabihf unit
stage cross-riscv64 cross riscv64-linux-gnu
# Packages (docs/packages.md): make deb (every CPU built above), then install and check them.
debs() {
  $MAKE --no-print-directory deb &&
  TVMRPC_DEB_DIR=$PWD/build-deb \
    ${PYTHON:-/usr/bin/python3} -m pytest -q -p no:cacheprovider tests/e2e/test_packages.py
}
stage deb debs
passed=0; failed=0; skipped=0
for f in "$log"/*.out; do
  p=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$f" | awk '{s+=$1} END {print s+0}')
  q=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$f" | awk '{s+=$1} END {print s+0}')
  k=$(sed -n 's/.*\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$f" | awk '{s+=$1} END {print s+0}')
  skipped=$((skipped + k))
  # pytest's closing line, e.g. "404 passed, 1 skipped in 91.18s" (not log lines that merely
  # contain "error").
  summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|errors?)(, [0-9]+ [a-z]+)* in [0-9.]+s' "$f" | tail -1)
  pp=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
  pf=$(echo "$summary" | grep -oE '[0-9]+ (failed|errors?)' | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  ps=$(echo "$summary" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+')
  skipped=$((skipped + ${ps:-0}))
  passed=$((passed + p + ${pp:-0})); failed=$((failed + q + ${pf:-0}))
done
if [ -n "$failed_stages" ]; then
  echo "check: failed stages:$failed_stages"
  [ "$failed" -gt 0 ] || failed=1
fi
echo "check: $passed passed, $failed failed, $skipped skipped"
[ -z "$failed_stages" ]
