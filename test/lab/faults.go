package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CutLink takes host name's network link down on the machine's side of its veth: the host keeps running
// but nothing reaches it (connections time out), as with a pulled cable or a dead switch port.
func (l *Lab) CutLink(ctx context.Context, name string) error {
	return l.setLink(ctx, name, "down")
}

// RestoreLink brings a cut link back.
func (l *Lab) RestoreLink(ctx context.Context, name string) error {
	return l.setLink(ctx, name, "up")
}

func (l *Lab) setLink(ctx context.Context, name, updown string) error {
	if _, ok := l.hostState(name); !ok {
		return fmt.Errorf("%w: %s", ErrNoHost, name)
	}
	veth := vethName(name)
	if !linkExists(veth) {
		return fmt.Errorf("setting link of %s %s: %s does not exist (is the host running?)", name, updown, veth)
	}
	if out, err := run(ctx, "ip", "link", "set", veth, updown); err != nil {
		return fmt.Errorf("setting link of %s %s: %w: %s", name, updown, err, out)
	}
	return nil
}

// Stop powers host name off as an admin would (systemctl poweroff; SIGTERM to nspawn if SSH is
// unavailable, e.g. with the link cut), killing it after a grace time. Its disk is kept.
func (l *Lab) Stop(ctx context.Context, name string) error {
	h, ok := l.hostState(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoHost, name)
	}
	grace := 5 * time.Second
	if l.running(name) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := l.Run(pctx, name, "systemctl poweroff --no-block")
		cancel()
		if err == nil {
			grace = bootTimeout[h.Spec.Arch] / 3
		}
	}
	l.halt(name, grace)
	if l.running(name) {
		return fmt.Errorf("stopping %s: systemd-nspawn still running", name)
	}
	return nil
}

// Start boots a stopped host again and waits until it accepts SSH.
func (l *Lab) Start(ctx context.Context, name string) error {
	if _, ok := l.hostState(name); !ok {
		return fmt.Errorf("%w: %s", ErrNoHost, name)
	}
	return l.startHosts(ctx, l.Inventory(), name)
}

func occupyUnit(port int) string { return fmt.Sprintf("ferrylab-occupy-%d", port) }

// OccupyPort makes host name's systemd hold TCP port (e.g. 6443, as another Kubernetes would) through a
// transient socket unit ferrylab-occupy-<port>.socket, listening on all addresses as most services do.
// Unlike netcat it sets no SO_REUSEPORT, so nothing else can bind the port while it is held.
func (l *Lab) OccupyPort(ctx context.Context, name string, port int) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("%w: port %d", ErrBadOptions, port)
	}
	cmd := fmt.Sprintf("systemd-run --unit=%s --description='Ferry lab: port %d held by another service' --socket-property=ListenStream=%d /bin/sleep infinity && "+
		"for i in $(seq 50); do ss -Htln 'sport = :%d' | grep -q . && exit 0; sleep 0.1; done; echo port not listening >&2; exit 1",
		occupyUnit(port), port, port, port)
	if _, err := l.Run(ctx, name, cmd); err != nil {
		return fmt.Errorf("occupying port %d on %s: %w", port, name, err)
	}
	return nil
}

// FreePort stops what OccupyPort started.
func (l *Lab) FreePort(ctx context.Context, name string, port int) error {
	u := occupyUnit(port)
	// The service unit exists only once a connection activated the socket: stop it only if loaded.
	if _, err := l.Run(ctx, name, "systemctl stop "+u+".socket && { ! systemctl is-active -q "+u+".service || systemctl stop "+u+".service; }"); err != nil {
		return fmt.Errorf("freeing port %d on %s: %w", port, name, err)
	}
	return nil
}

// SmallDataFS gives host name a /var/lib/rancher on its own small ext4 filesystem (a loop-mounted image of
// sizeMiB) filled until only about freeMiB is left, as on a server whose data disk is nearly full. The
// host is restarted to bind the filesystem in.
func (l *Lab) SmallDataFS(ctx context.Context, name string, sizeMiB, freeMiB int) error {
	h, ok := l.hostState(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoHost, name)
	}
	if sizeMiB < 16 || freeMiB < 0 || freeMiB >= sizeMiB {
		return fmt.Errorf("%w: small filesystem of %d MiB with %d MiB free", ErrBadOptions, sizeMiB, freeMiB)
	}
	if err := l.Stop(ctx, name); err != nil {
		return err
	}
	dir := l.hostDir(name)
	img, mnt := filepath.Join(dir, "smallfs.img"), filepath.Join(dir, "smallfs")
	if err := unmountUnder(mnt); err != nil {
		return err
	}
	_ = os.Remove(img)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(sizeMiB) << 20)
	f.Close()
	if err != nil {
		return err
	}
	// No reserved blocks: "nearly full" should mean nearly full for root too.
	if out, err := run(ctx, "mkfs.ext4", "-q", "-F", "-m", "0", "-L", "ferrylab-small", img); err != nil {
		return fmt.Errorf("making small filesystem for %s: %w: %s", name, err, out)
	}
	// mount -o loop sets autoclear: the loop device goes away with the unmount in Down.
	if out, err := run(ctx, "mount", "-o", "loop", img, mnt); err != nil {
		return fmt.Errorf("mounting small filesystem for %s: %w: %s", name, err, out)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		return err
	}
	fill := int64(st.Bavail)*st.Bsize - int64(freeMiB)<<20
	if fill > 0 {
		if out, err := run(ctx, "fallocate", "-l", strconv.FormatInt(fill, 10), filepath.Join(mnt, "ferrylab-filler")); err != nil {
			return fmt.Errorf("filling small filesystem for %s: %w: %s", name, err, out)
		}
	}
	h.SmallFS = true
	if err := l.setHostState(h); err != nil {
		return err
	}
	return l.Start(ctx, name)
}

// foreignK3sUnit looks like what k3s's own install script writes: a k3s that some earlier admin put on
// the host, which Ferry did not install and must not silently take over.
const foreignK3sUnit = `[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=exec
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/etc/systemd/system/k3s.service.env
KillMode=process
Delegate=yes
LimitNOFILE=1048576
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=/usr/local/bin/k3s server
`

// foreignK3sBinary stands in for that earlier k3s binary: it answers --version and otherwise idles.
const foreignK3sBinary = `#!/bin/sh
# Ferry site lab: a pre-existing k3s that is not Ferry's.
case "$1" in
  --version|-v|version) echo "k3s version v1.28.5+k3s1 (5b2d1271)"; echo "go version go1.20.12"; exit 0;;
esac
exec sleep infinity
`

// InstallForeignK3s puts a pre-existing, running k3s.service on host name that is not Ferry's.
func (l *Lab) InstallForeignK3s(ctx context.Context, name string) error {
	script := "set -e\nmkdir -p /usr/local/bin\ncat > /usr/local/bin/k3s <<'FERRYLAB_EOF'\n" + foreignK3sBinary +
		"FERRYLAB_EOF\nchmod 0755 /usr/local/bin/k3s\ncat > /etc/systemd/system/k3s.service <<'FERRYLAB_EOF'\n" + foreignK3sUnit +
		"FERRYLAB_EOF\nsystemctl daemon-reload\nsystemctl enable --now k3s.service\nsystemctl is-active k3s.service\n"
	out, err := l.Run(ctx, name, script)
	if err != nil {
		return fmt.Errorf("installing a foreign k3s on %s: %w", name, err)
	}
	if strings.TrimSpace(out) != "active" {
		return fmt.Errorf("installing a foreign k3s on %s: unit is %q", name, strings.TrimSpace(out))
	}
	return nil
}
