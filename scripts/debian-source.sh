#!/bin/sh
# Download the upstream tarball of one Debian source package into DIR and print its path.
# apt-get source runs with a private deb-src list and state under DIR, so the system's apt
# settings are untouched. The release of this machine is tried first; when its mirror lacks
# the file, the next release is tried (the sources are only compiled, never installed).
# Usage: scripts/debian-source.sh PACKAGE DIR
set -eu
pkg=$1; dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
found() { ls "$dir/$pkg-$1"/*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -1; }
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
for suite in "$codename" trixie; do
  t=$(found "$suite" || true)
  if [ -z "$t" ]; then
    st="$dir/apt-$suite"
    mkdir -p "$st/lists/partial" "$dir/$pkg-$suite"
    echo "deb-src http://deb.debian.org/debian $suite main" > "$st/sources.list"
    opts="-o Dir::Etc::SourceList=$st/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$st/lists -o Debug::NoLocking=1"
    # shellcheck disable=SC2086
    apt-get $opts -qq update >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    (cd "$dir/$pkg-$suite" && apt-get $opts -qq source --download-only "$pkg" >/dev/null 2>&1) || true
    find "$dir/$pkg-$suite" -name '*.orig.tar.*' -size 0 -delete
    t=$(found "$suite" || true)
  fi
  if [ -n "$t" ]; then echo "$t"; exit 0; fi
done
echo "debian-source: cannot download the source of $pkg" >&2
exit 1
