#!/bin/sh
# Debian ships cJSON only as a shared library. For static and cross builds, fetch Debian's own
# source package of cJSON (apt-get source, with a private deb-src list so the system's apt
# settings are untouched) and compile it into OUT/libcjson.a with the given compiler.
# Usage: scripts/static-cjson.sh CC AR OUTDIR
set -eu
cc=$1; ar=$2; out=$3
[ -f "$out/libcjson.a" ] && exit 0
mkdir -p "$out/apt/lists/partial" "$out/src"
out=$(cd "$out" && pwd)
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
echo "deb-src http://deb.debian.org/debian $codename main" > "$out/apt/sources.list"
opts="-o Dir::Etc::SourceList=$out/apt/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$out/apt/lists -o Debug::NoLocking=1"
if ! ls "$out"/src/cjson_*.orig.tar.gz >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  apt-get $opts -qq update >/dev/null
  # shellcheck disable=SC2086
  (cd "$out/src" && apt-get $opts -qq source --download-only cjson >/dev/null 2>&1)
fi
tarball=$(ls "$out"/src/cjson_*.orig.tar.gz | head -1)
rm -rf "$out/cjson" && mkdir -p "$out/cjson"
tar -xzf "$tarball" -C "$out/cjson" --strip-components=1
"$cc" -std=c89 -O2 -fPIC -c "$out/cjson/cJSON.c" -o "$out/cJSON.o"
"$ar" rcs "$out/libcjson.a" "$out/cJSON.o"
cp "$out/cjson/cJSON.h" "$out/cJSON.h"
echo "static-cjson: built $out/libcjson.a from $(basename "$tarball")"
