#!/bin/sh
# `make deb`: the two Debian packages of one architecture, built with dpkg-deb from an install
# tree (docs/packages.md says why not dpkg-buildpackage):
#   tvmrpc        the lab host: binary, man pages, conf/ examples, a systemd unit for a
#                 headless tracker + proxy (/etc/tvmrpc/lab.ini), the tvmrpc system user;
#   tvmrpc-board  a board: the static binary, a systemd unit for the device server reading
#                 the conffile /etc/tvmrpc/board.ini, the tvmrpc system user.
# Usage: scripts/mkdeb.sh ARCH STRIP HOSTBIN BOARDBIN OUTDIR
#   ARCH     Debian architecture (amd64, arm64, armhf, riscv64)
#   STRIP    the strip of that architecture's toolchain
#   HOSTBIN  the lab host's binary (amd64: linked to Debian's shared libraries)
#   BOARDBIN the board binary (libraries linked in, the C library dynamic)
set -eu
arch=$1; strip=$2; hostbin=$3; boardbin=$4; out=$5
top=$(cd "$(dirname "$0")/.." && pwd)
version="$(cat "$top/VERSION")-1"
# Who answers for these packages: set DEB_MAINTAINER to the lab's own address.
maint=${DEB_MAINTAINER:-tvmrpc developers <tvmrpc-devel@lists.example.org>}
# Reproducible: every date and mtime is the last commit's (or now, outside git).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# Depends of a binary: Debian's own dpkg-shlibdeps for one linked to shared libraries, else
# the newest GLIBC_ symbol version it needs (a board binary needs only the C library).
depends() {
  if readelf -d "$1" | grep -q 'NEEDED.*libuv'; then
    mkdir -p "$tmp/shl/debian"
    printf 'Source: tvmrpc\n\nPackage: tvmrpc\nArchitecture: any\n' > "$tmp/shl/debian/control"
    (cd "$tmp/shl" && dpkg-shlibdeps -O "$1") | sed -n 's/^shlibs:Depends=//p'
  else
    v=$(readelf -V "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
    echo "libc6 (>= $v)"
  fi
}

# package NAME BINARY UNIT CONFFILE SUMMARY DESCRIPTION-FILE
package() {
  name=$1; bin=$2; unit=$3; conf=$4; summary=$5; long=$6
  root="$tmp/$name"
  doc="$root/usr/share/doc/$name"
  install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
    "$root/usr/share/man/man5" "$doc/examples" "$root/lib/systemd/system" \
    "$root/usr/lib/sysusers.d" "$root/etc/tvmrpc"
  install -m 755 "$bin" "$root/usr/bin/tvmrpc-console"
  "$strip" --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$root/usr/bin/tvmrpc-console"
  for m in "$top"/man/*.1; do gzip -9n < "$m" > "$root/usr/share/man/man1/$(basename "$m").gz"; done
  for m in "$top"/man/*.5; do gzip -9n < "$m" > "$root/usr/share/man/man5/$(basename "$m").gz"; done
  install -m 644 "$top/conf/deb/$unit" "$root/lib/systemd/system/$unit"
  install -m 644 "$top/conf/deb/sysusers.conf" "$root/usr/lib/sysusers.d/tvmrpc.conf"
  install -m 644 "$top/conf/$conf" "$root/etc/tvmrpc/$conf"
  install -m 644 "$top"/conf/*.ini "$doc/examples/"
  install -m 644 "$top/conf/deb/copyright" "$doc/copyright"
  install -m 644 "$top/README.md" "$doc/README.md"
  gzip -9n "$doc/README.md"
  date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
  printf '%s (%s) unstable; urgency=medium\n\n  * Packaged from tvmrpc %s.\n\n -- %s  %s\n' \
    "$name" "$version" "$(cat "$top/VERSION")" "$maint" \
    "$date" | gzip -9n > "$doc/changelog.Debian.gz"
  if ! readelf -d "$bin" | grep -q 'NEEDED.*libuv'; then
    # One file that runs with only the board's C library links ncurses in on purpose.
    install -d "$root/usr/share/lintian/overrides"
    sed "s/^PACKAGE:/$name:/" "$top/conf/deb/static.lintian-overrides" \
      > "$root/usr/share/lintian/overrides/$name"
  fi
  install -m 755 "$top/conf/deb/postinst" "$root/DEBIAN/postinst"
  install -m 755 "$top/conf/deb/postrm" "$root/DEBIAN/postrm"
  echo "/etc/tvmrpc/$conf" > "$root/DEBIAN/conffiles"
  other=tvmrpc-board; [ "$name" = tvmrpc-board ] && other=tvmrpc
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $maint"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
    echo "Depends: $(depends "$root/usr/bin/tvmrpc-console"), systemd | systemd-standalone-sysusers"
    if readelf -d "$root/usr/bin/tvmrpc-console" | grep -q 'NEEDED.*libuv'; then
      # loaded only when [metrics] listen or [proxy] web_port is set (src/base/dynlib.h)
      echo "Recommends: libmicrohttpd12, libwebsockets17, libwebsockets-evlib-uv"
    fi
    echo "Conflicts: $other"
    echo "Section: net"
    echo "Priority: optional"
    echo "Description: $summary"
    sed 's/^/ /' "$long"
  } > "$root/DEBIAN/control"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
     xargs md5sum) > "$root/DEBIAN/md5sums"
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${name}_${version}_${arch}.deb" >/dev/null
  echo "deb: $out/${name}_${version}_${arch}.deb"
}

cat > "$tmp/host.txt" <<'TXT'
tvmrpc-console runs Apache TVM's RPC tracker and proxy for a lab of shared
accelerator boards, with a live ncurses dashboard of servers, queues, proxy
links and events, or headless from an INI file. Stock TVM clients and TVM's
own servers work with it unchanged.
.
This package is for the lab host: the tvmrpc unit runs the tracker and the
proxy headless from /etc/tvmrpc/lab.ini.
TXT
cat > "$tmp/board.txt" <<'TXT'
tvmrpc-console as a TVM RPC device server for a board: it registers with the
lab tracker (directly or through a proxy) and runs TVM-compiled modules and
Relax models for stock TVM clients, without Python. Its libraries are linked
in; it needs only the C library.
.
The tvmrpc-board unit runs the server from /etc/tvmrpc/board.ini, which keeps
the admin's changes across upgrades.
TXT
package tvmrpc "$hostbin" tvmrpc.service lab.ini \
  "TVM RPC tracker, proxy and live console for a lab of boards" "$tmp/host.txt"
package tvmrpc-board "$boardbin" tvmrpc-board.service board.ini \
  "TVM RPC device server for a board, one binary" "$tmp/board.txt"
