#!/usr/bin/env bash
# Installs the Debian packages Ferry's build and tests need. Idempotent: packages already present are
# skipped, so a warm machine pays only for a dpkg query. Groups can be chosen so a developer who only
# builds the desktop app does not pull the site lab's packages:
#   scripts/install-deps.sh [build] [gui] [lab] [containerd] [k3sfiles] [cross-windows] [all]
# (`all` is what `make test` needs; cross-windows, for `make gui-cross-windows` only, is not in it.)
set -euo pipefail

declare -A groups=(
  [build]="gcc libc6-dev pkg-config git make ca-certificates"
  [gui]="libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev xvfb xauth imagemagick xdotool fonts-wqy-microhei"
  [containerd]="containerd runc"
  [k3sfiles]="shellcheck systemd iproute2 iptables procps util-linux mawk"
  [cross-windows]="gcc-mingw-w64-x86-64"
  [lab]="systemd-container debootstrap qemu-user-static binfmt-support openssh-client openssh-server sshpass sudo passwd dash iproute2 iptables e2fsprogs util-linux mount openssl kmod procps psmisc"
)

want=()
sel=("$@")
[ ${#sel[@]} -eq 0 ] && sel=(all)
for g in "${sel[@]}"; do
  if [ "$g" = all ]; then
    for k in "${!groups[@]}"; do [ "$k" = cross-windows ] || want+=(${groups[$k]}); done
  elif [ -n "${groups[$g]:-}" ]; then
    want+=(${groups[$g]})
  else
    echo "install-deps: unknown group '$g' (build gui lab containerd k3sfiles cross-windows all)" >&2; exit 2
  fi
done

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The lists may be stale or absent on a fresh machine; refresh once, retry once on a transient failure.
$SUDO apt-get update -qq || { sleep 5; $SUDO apt-get update -qq; }
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { sleep 5; $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
