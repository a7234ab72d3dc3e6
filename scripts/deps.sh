#!/bin/sh
# Install the Debian packages tvmrpc needs to build and test, if any are missing.
# As root it runs apt-get; otherwise it prints the command to run.
# Usage: scripts/deps.sh [build|check|cross|deb]
set -eu
what=${1:-check}
build_pkgs="gcc make pkg-config libc6-dev libuv1-dev libcjson-dev libinih-dev libncurses-dev libdlpack-dev libmicrohttpd-dev libwebsockets-dev opencl-c-headers"
check_pkgs="libcmocka-dev python3 python3-pytest python3-numpy python3-sklearn python3-prometheus-client clang tmux valgrind chromium ocl-icd-libopencl1 ocl-icd-opencl-dev pocl-opencl-icd clinfo"
# Boards (docs/boards.md): aarch64 and armhf from Debian's cross compilers and multiarch -dev
# packages (cmocka too on armhf, whose unit tests run under qemu-arm); riscv64 has no Debian 12
# multiarch packages, so cmake builds its libuv from source (scripts/cross-libs.sh).
cross_pkgs="qemu-user cmake gcc-aarch64-linux-gnu libc6-dev-arm64-cross libuv1-dev:arm64 libinih-dev:arm64 libncurses-dev:arm64 gcc-arm-linux-gnueabihf libc6-dev-armhf-cross libuv1-dev:armhf libinih-dev:armhf libncurses-dev:armhf libcmocka-dev:armhf gcc-riscv64-linux-gnu libc6-dev-riscv64-cross"
# make deb: dpkg-shlibdeps, lintian, and systemd-analyze for the package tests.
deb_pkgs="dpkg-dev lintian systemd"
case "$what" in
  build) want="$build_pkgs" ;;
  check) want="$build_pkgs $check_pkgs $deb_pkgs" ;;
  deb) want="$build_pkgs $deb_pkgs" ;;
  cross) want="$cross_pkgs" ;;
  *) echo "usage: $0 [build|check|cross|deb]" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
# npm fetches the TVM web runtime for the browser test (Makefile, build-web-runtime/): any npm
# will do (Node.js packages often bundle it), Debian's when there is none.
if [ "$what" = check ] && ! command -v npm >/dev/null 2>&1; then missing="$missing npm"; fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ "$what" = cross ]; then
    for arch in arm64 armhf; do
      dpkg --print-foreign-architectures | grep -qx $arch || dpkg --add-architecture $arch
    done
  fi
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "deps: missing packages:$missing" >&2
  echo "deps: run: sudo apt-get install$missing" >&2
  exit 1
fi
