#!/bin/sh
# Static libuv, inih and ncursesw for a board CPU that Debian 12 has no multiarch -dev
# packages for (riscv64: Debian 12 has its cross compiler but not the :riscv64 libraries).
# Each library is compiled from Debian's own source package (scripts/debian-source.sh) with
# the cross compiler, into OUT/include and OUT/lib, then OUT/.done is written.
# Usage: scripts/cross-libs.sh TRIPLET OUT
set -eu
triplet=$1; out=$2
[ -f "$out/.done" ] && exit 0
mkdir -p "$out/include" "$out/lib" "$out/work"
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cc=$triplet-gcc; ar=$triplet-ar
jobs=$(nproc 2>/dev/null || echo 2)
quiet() {  # quiet LOG COMMAND...: run, show the log only when it fails
  log=$1; shift
  "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "cross-libs: failed: $*" >&2; exit 1; }
}
unpack() {  # unpack PACKAGE -> prints the source directory
  t=$(sh "$here/debian-source.sh" "$1" "$out/dl")
  rm -rf "$out/work/$1" && mkdir -p "$out/work/$1"
  tar -xf "$t" -C "$out/work/$1" --strip-components=1
  echo "$out/work/$1"
}

# libuv: its CMake build, the static library (target uv_a) only.
src=$(unpack libuv1)
quiet "$src.log" cmake -S "$src" -B "$src/build" -DCMAKE_SYSTEM_NAME=Linux \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release -DLIBUV_BUILD_TESTS=OFF \
  -DLIBUV_BUILD_BENCH=OFF
quiet "$src.log" cmake --build "$src/build" -j "$jobs" --target uv_a
cp "$src/build/libuv_a.a" "$out/lib/"
cp -r "$src/include/." "$out/include/"

# inih: one file, with Debian's build options (its meson defaults).
src=$(unpack libinih)
"$cc" -O2 -fPIC -c "$src/ini.c" -o "$src/ini.o"
"$ar" rcs "$out/lib/libinih.a" "$src/ini.o"
cp "$src/ini.h" "$out/include/"

# ncursesw with a separate tinfo library, reading the board's terminfo where Debian keeps it.
src=$(unpack ncurses)
(cd "$src" && quiet "$src.log" ./configure --host="$triplet" CC="$cc" AR="$ar" \
  --without-shared --with-normal --without-debug --without-cxx --without-cxx-binding \
  --without-ada --without-progs --without-tests --without-manpages --enable-widec \
  --with-termlib=tinfo --with-default-terminfo-dir=/usr/share/terminfo \
  --with-terminfo-dirs=/etc/terminfo:/lib/terminfo:/usr/share/terminfo \
  --disable-stripping --prefix=/usr && quiet "$src.log" make -j "$jobs" libs)
cp "$src/lib/libncursesw.a" "$src/lib/libtinfo.a" "$out/lib/"
for h in curses.h ncurses_dll.h unctrl.h term.h termcap.h; do cp "$src/include/$h" "$out/include/"; done
cp "$src/include/curses.h" "$out/include/ncurses.h"
touch "$out/.done"
echo "cross-libs: built libuv, inih and ncursesw for $triplet in $out"
