#!/bin/sh
# Ferry's k3s uninstall (k3s-contract.md §3: ours, not upstream's). Runs the killall script, disables the
# services, deletes every token file, then removes exactly the paths Ferry recorded as created by this
# install in /var/lib/ferry/k3s-created.list: a unit, config, data dir or symlink that was there before Ferry stays.
#
# ROOT prefixes every file path so tests can run this against a fake tree (see the killall script).
set -eu
ROOT="${ROOT:-}"
KILLALL='/usr/local/bin/ferry-k3s-killall.sh'
SELF='/usr/local/bin/ferry-k3s-uninstall.sh'
LIST="$ROOT/var/lib/ferry/k3s-created.list"

if [ "$(id -u)" -ne 0 ]; then
    echo "$0: run as root" >&2
    exit 1
fi
if [ ! -x "$ROOT$KILLALL" ]; then
    echo "$0: $ROOT$KILLALL is missing; it stops k3s before anything is removed" >&2
    exit 1
fi
export ROOT
"$ROOT$KILLALL"

SYSTEMD=
if [ -d "$ROOT/run/systemd/system" ] && command -v systemctl >/dev/null 2>&1; then
    SYSTEMD=1
fi
for svc in k3s k3s-agent; do
    if [ -n "$SYSTEMD" ] && [ -f "$ROOT/etc/systemd/system/$svc.service" ]; then
        systemctl disable "$svc.service" || true
    fi
    if [ -d "$ROOT/run/openrc" ] && [ -x "$ROOT/etc/init.d/$svc" ] && command -v rc-update >/dev/null 2>&1; then
        rc-update delete "$svc" default || true
    fi
done

# Keep nothing of the token (§5): it joins nodes and encrypts the bootstrap data.
rm -f "$ROOT/etc/rancher/k3s/ferry-token"
rm -f "$ROOT/etc/rancher/k3s/ferry-agent-token"
rm -f "$ROOT/var/lib/rancher/k3s/server/token"
rm -f "$ROOT/var/lib/rancher/k3s/server/node-token"
rm -f "$ROOT/var/lib/rancher/k3s/server/agent-token"

# protected refuses paths whose removal would wreck the host, whatever the list says.
protected() {
    case "$1" in
    / | /bin | /boot | /dev | /etc | /home | /lib | /lib64 | /opt | /proc | /root | /run | /sbin | /srv | /sys | /tmp | /usr | /var) return 0 ;;
    /usr/local | /usr/local/bin | /usr/bin | /usr/lib | /usr/sbin | /var/lib | /var/log | /opt/bin) return 0 ;;
    /etc/systemd | /etc/systemd/system | /etc/init.d | /etc/default | /etc/sysconfig) return 0 ;;
    esac
    return 1
}

if [ -f "$LIST" ]; then
    # Deepest first, so a directory is removed after what Ferry put inside it. The two scripts go last, so
    # an interrupted uninstall can simply be run again.
    sort -r -u "$LIST" | while IFS= read -r p; do
        case "$p" in
        "" | "#"*) continue ;;
        /*) ;;
        *) echo "$0: skipping relative path in created list: $p" >&2; continue ;;
        esac
        case "$p" in
        *..* | *//* | */ | *[!A-Za-z0-9._/+-]*) echo "$0: skipping unsafe path in created list: $p" >&2; continue ;;
        esac
        if protected "$p"; then
            echo "$0: refusing to remove $p" >&2
            continue
        fi
        if [ "$p" = "$KILLALL" ] || [ "$p" = "$SELF" ]; then
            continue
        fi
        rm -rf "$ROOT$p"
    done
    for p in "$KILLALL" "$SELF"; do
        if grep -qxF "$p" "$LIST"; then
            rm -f "$ROOT$p"
        fi
    done
    rm -f "$LIST"
fi

if [ -n "$SYSTEMD" ]; then
    systemctl daemon-reload || true
fi
echo "k3s removed; kept what was on this host before Ferry"
