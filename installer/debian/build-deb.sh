#!/usr/bin/env bash
# `make deb`: a Debian package of the frozen build (dist/vigie, from `make dist`).
# Layout: /opt/vigie (the one-folder build), /usr/bin/vigie (launcher), a desktop entry, and the
# system autostart entry /etc/xdg/autostart/vigie.desktop (a user turns it off with
# `vigie autostart disable`, which writes Hidden=true in ~/.config/autostart: freedesktop autostart spec).
# No maintainer scripts: user data (~/.config/vigie, ~/.local/share/vigie, keyring) is never touched,
# not even by --purge (Debian policy: packages leave home directories alone).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=installer/debian
build=dist/vigie
[ -x "$build/vigie" ] || { echo "no frozen build in $build: run make dist" >&2; exit 1; }

# The version the build was made from: its bundled metadata (installer/vigie.spec copies it).
meta="$(ls -d "$build"/_internal/vigie-*.dist-info)"
version="$(sed -n 's/^Version: //p' "$meta/METADATA")"
arch="$(dpkg --print-architecture)"
root=build/deb/vigie
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" "$root/etc/xdg/autostart" \
         "$root/usr/share/doc/vigie"
cp -a "$build" "$root/opt/vigie"
install -m 0755 "$here/vigie.sh" "$root/usr/bin/vigie"
install -m 0644 "$here/vigie.desktop" "$root/usr/share/applications/vigie.desktop"
install -m 0644 "$here/vigie-autostart.desktop" "$root/etc/xdg/autostart/vigie.desktop"
install -m 0644 "$here/copyright" "$root/usr/share/doc/vigie/copyright"
size_kib="$(du -sk "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size_kib/" "$here/control.in" >"$root/DEBIAN/control"
out="dist/vigie_${version}_${arch}.deb"
# zstd (dpkg >= 1.21, Debian 12 / Ubuntu 21.10): 3 s for the 180 MB folder where gzip takes a minute.
dpkg-deb --root-owner-group -Zzstd -z3 --build "$root" "$out" >/dev/null
echo "$out"
