#!/bin/sh
# Ferry's k3s killall (k3s-contract.md §3: ours, not upstream's). Stops k3s, kills what it leaves behind
# (KillMode=process keeps container shims alive on purpose), unmounts its mounts, deletes the CNI/flannel
# interfaces and the iptables rules k3s and kube-proxy tagged. Safe to run twice.
#
# ROOT prefixes every file path so tests can run this against a fake tree; it must be run inside its own
# network and pid namespaces then, because interfaces, iptables and processes are not prefixed.
set -u
ROOT="${ROOT:-}"
K3S_BIN='/usr/local/bin/k3s'
DATA_DIR='/var/lib/rancher/k3s'

if [ "$(id -u)" -ne 0 ]; then
    echo "$0: run as root" >&2
    exit 1
fi

# Stop the services first so systemd/OpenRC do not restart what we kill.
if [ -d "$ROOT/run/systemd/system" ] && command -v systemctl >/dev/null 2>&1; then
    for svc in k3s k3s-agent; do
        if [ -f "$ROOT/etc/systemd/system/$svc.service" ]; then
            systemctl stop "$svc.service" || true
        fi
    done
fi
if [ -d "$ROOT/run/openrc" ]; then
    for svc in k3s k3s-agent; do
        if [ -x "$ROOT/etc/init.d/$svc" ]; then
            "$ROOT/etc/init.d/$svc" stop || true
        fi
    done
fi

# re_quote escapes the regex characters our paths may hold (paths are [A-Za-z0-9._/+-] only).
re_quote() {
    printf '%s' "$1" | sed 's/[.+]/\\&/g'
}
BIN_RE=$(re_quote "$ROOT$K3S_BIN")
DATA_RE=$(re_quote "$ROOT$DATA_DIR")

# pids_matching prints the pids whose command line matches the extended regex $1 (never our own).
pids_matching() {
    # The regex goes through the environment: awk -v would eat its backslashes.
    ps -e -o pid= -o args= | RE="$1" awk -v self="$$" '
        { pid = $1; sub(/^ *[0-9]+ +/, "") }
        pid != self && $0 ~ ENVIRON["RE"] { print pid }'
}

# tree prints $1 and all its descendants.
tree() {
    echo "$1"
    for child in $(ps -e -o pid= -o ppid= | awk -v p="$1" '$2 == p { print $1 }'); do
        tree "$child"
    done
}

# killtree freezes each tree before killing it so no process forks a replacement in between.
killtree() {
    for top in "$@"; do
        pids=$(tree "$top")
        # shellcheck disable=SC2086
        kill -STOP $pids 2>/dev/null || true
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    done
}

# The shims and their containers, then k3s itself and its embedded containerd. The pid lists are split
# into words on purpose.
# shellcheck disable=SC2046
killtree $(pids_matching "^$DATA_RE/data/[^/]+/bin/containerd-shim")
# shellcheck disable=SC2046
killtree $(pids_matching "^($BIN_RE|k3s) (server|agent)( |\$)")
# shellcheck disable=SC2046
killtree $(pids_matching "^containerd .*$DATA_RE/agent/etc/containerd/")

# unmount_under unmounts every mount at or below $1, deepest first, then removes what was mounted.
unmount_under() {
    awk -v p="$1" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
        while IFS= read -r m; do
            umount -f "$m" 2>/dev/null || umount -l "$m" || true
        done
}
unmount_under "$ROOT/run/k3s"
unmount_under "$ROOT$DATA_DIR"
unmount_under "$ROOT/var/lib/kubelet/pods"
unmount_under "$ROOT/var/lib/kubelet/plugins"
if [ -z "$ROOT" ] && command -v ip >/dev/null 2>&1; then
    # Pod network namespaces live in the real /run/netns only.
    ip netns show 2>/dev/null | awk '/^cni-/ { print $1 }' | while read -r ns; do
        ip netns delete "$ns" || true
    done
fi

if command -v ip >/dev/null 2>&1; then
    # veths attached to the bridge, the bridge, the flannel devices, ipvs and wireguard devices.
    ip -o link show 2>/dev/null | awk -F': ' '/ master cni0 / { sub(/@.*/, "", $2); print $2 }' |
        while read -r i; do ip link delete "$i" || true; done
    for i in cni0 flannel.1 flannel-v6.1 kube-ipvs0; do
        if ip link show "$i" >/dev/null 2>&1; then
            ip link delete "$i" || true
        fi
    done
    ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep '^flannel-wg' |
        while read -r i; do ip link delete "$i" || true; done
fi

# Rules k3s, kube-proxy, kube-router and flannel add are tagged KUBE-, CNI- or flannel; keep all others.
for t in iptables ip6tables; do
    if command -v "$t-save" >/dev/null 2>&1 && command -v "$t-restore" >/dev/null 2>&1; then
        "$t-save" | grep -v -e 'KUBE-' -e 'CNI-' | grep -iv 'flannel' | "$t-restore" || true
    fi
done

rm -rf "$ROOT/run/k3s" "$ROOT/run/flannel" "$ROOT/var/lib/cni"
exit 0
