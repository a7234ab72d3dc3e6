#!/bin/bash
# Build every libFuzzer harness (tests/fuzz/fuzz_*.c) with clang and run each for N seconds on
# a scratch copy of its seed corpus (tests/fuzz/corpus/<name>/, dictionary <name>.dict).
# Usage: tests/fuzz/run.sh SECONDS
set -eu -o pipefail
cd "$(dirname "$0")/../.."
secs=${1:-4}
build=build-fuzz
make --no-print-directory CC=clang BUILD=$build SAN=fuzz fuzz-build >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0; ran=0
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c); name=${name#fuzz_}
  bin=$build/fuzz/fuzz_$name
  mkdir -p "$scratch/$name"
  seeds=tests/fuzz/corpus/$name
  dict=tests/fuzz/$name.dict
  args=(-max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=0)
  [ -f "$dict" ] && args+=(-dict="$dict")
  echo "fuzz: $name for ${secs}s"
  if "$bin" "${args[@]}" "$scratch/$name" $( [ -d "$seeds" ] && echo "$seeds" ) \
       >"$scratch/$name.log" 2>&1; then
    grep -E '^(#[0-9]+\s+DONE|Done [0-9]+ runs)' "$scratch/$name.log" | tail -1 || true
    ran=$((ran + 1))
  else
    echo "fuzz: $name FAILED"; tail -40 "$scratch/$name.log"; failed=$((failed + 1))
  fi
done
echo "fuzz: $ran harnesses ran clean, $failed failed"
[ "$failed" -eq 0 ]
