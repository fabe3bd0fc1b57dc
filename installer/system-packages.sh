#!/usr/bin/env bash
# The one place that installs Vigie's system packages. `make run`/`make install` call it with `run`,
# `make test` and `.ci/run` with `test` (= run + test). The lists are installer/packages/debian-*.txt.
#
# Debian/Ubuntu as root: missing packages are installed with apt-get. Not root: the exact command is
# printed and the script fails, so `make` stops before pip tries to build pyscard without its headers.
# Other systems: nothing to install from here (see README.md for brew / winget); a hint is printed.
# VIGIE_SKIP_SYSTEM_PACKAGES=1 skips the step (you manage the packages yourself).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lists="${VIGIE_PACKAGE_LISTS:-$here/packages}"  # overridable for the tests of this script

usage() { echo "usage: $0 run|test [--list]" >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in
  run) sets=(run) ;;
  test) sets=(run test) ;;
  *) usage ;;
esac

packages=()
for set in "${sets[@]}"; do
  while read -r line; do
    line="${line%%#*}"
    for word in $line; do packages+=("$word"); done
  done <"$lists/debian-$set.txt"
done

if [ "${2:-}" = "--list" ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi
if [ "${VIGIE_SKIP_SYSTEM_PACKAGES:-}" = "1" ]; then
  exit 0
fi

case "$(uname -s)" in
  Linux) ;;
  Darwin)
    echo "macOS : paquets système à installer vous-même, voir README.md (brew) / see README.md (brew)." >&2
    exit 0 ;;
  *)
    echo "Windows : voir README.md (winget) / see README.md (winget)." >&2
    exit 0 ;;
esac
if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "Système Linux sans dpkg : installez l'équivalent de ces paquets Debian / Linux without dpkg:" \
       "install the equivalent of these Debian packages:" >&2
  echo "  ${packages[*]}" >&2
  exit 0
fi

# One dpkg-query for the whole list; a package dpkg never heard of prints nothing and counts as missing.
installed="$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null || true)"
missing=()
for pkg in "${packages[@]}"; do
  if ! grep -q "^${pkg} ii" <<<"$installed"; then missing+=("$pkg"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  cat >&2 <<MSG
Paquets système manquants pour « make $1 » : ${missing[*]}
Installez-les puis relancez make (droits administrateur nécessaires) :
Missing system packages for "make $1"; install them, then run make again (needs root):

  sudo apt-get update && sudo $command

MSG
  exit 1
fi
echo "== paquets système / system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
