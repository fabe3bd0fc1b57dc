#!/usr/bin/env bash
# `make run` on a fresh machine, timed: a Debian bookworm chroot made by debootstrap (minbase: no make,
# no python3), a fresh clone of this repository, then `bash installer/system-packages.sh run` and
# `make run` until the sandbox banner prints. Root only; takes a few minutes and ~1 GB in $CHROOT.
#   sudo bash bench/fresh_machine.sh            # prints: packages N s, make run to banner N s, total N s
# The host's extra CA certificates (/usr/local/share/ca-certificates) are copied in, so apt and pip work
# behind a TLS-inspecting proxy as they do on the host. Results go in docs/benchmarks.md by hand.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
CHROOT="${CHROOT:-/var/tmp/vigie-chroot}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
[ "$(id -u)" -eq 0 ] || { echo "root only (debootstrap, chroot, mounts)" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null

if [ ! -x "$CHROOT/usr/bin/apt-get" ]; then
  mkdir -p "$CHROOT"
  debootstrap --variant=minbase bookworm "$CHROOT" "$MIRROR" >/dev/null
fi
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
cp -r /usr/local/share/ca-certificates/. "$CHROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
# The chroot's root must be a mount point: the sandbox's private pcscd runs in a mount namespace.
mountpoint -q "$CHROOT" || mount --rbind "$CHROOT" "$CHROOT"
mountpoint -q "$CHROOT/proc" || mount -t proc proc "$CHROOT/proc"
mountpoint -q "$CHROOT/dev" || mount --rbind /dev "$CHROOT/dev"
mountpoint -q "$CHROOT/sys" || mount -t sysfs sys "$CHROOT/sys"
mountpoint -q "$CHROOT/tmp" || mount -t tmpfs tmpfs "$CHROOT/tmp"
rm -rf "$CHROOT/root/vigie" "$CHROOT/root/.cache/pip"
git clone -q "$repo" "$CHROOT/root/vigie"

cat >"$CHROOT/root/time-make-run.sh" <<'INNER'
#!/bin/bash
cd /root/vigie
start=$(date +%s.%N)
[ -x /usr/bin/update-ca-certificates ] && update-ca-certificates >/dev/null 2>&1
bash installer/system-packages.sh run || exit 1
pk=$(date +%s.%N)
setsid make run >/tmp/make-run.out 2>&1 &  # own process group: Ctrl-C reaches make and vigie
pid=$!
while kill -0 $pid 2>/dev/null; do
  if grep -q "bac à sable prêt" /tmp/make-run.out; then
    end=$(date +%s.%N)
    python3 -c "print('packages %.1f s, make run to banner %.1f s, total %.1f s' % ($pk-$start, $end-$pk, $end-$start))"
    kill -INT -- -$pid
    wait $pid
    exit 0
  fi
  sleep 0.2
done
echo "make run exited before the banner:"; cat /tmp/make-run.out; exit 1
INNER
chmod +x "$CHROOT/root/time-make-run.sh"
chroot "$CHROOT" /root/time-make-run.sh
