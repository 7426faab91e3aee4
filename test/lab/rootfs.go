package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// BasePackages is what debootstrap installs into the base rootfs (variant minbase). containerd and runc
// are in it, disabled, because the k3s stand-in imports air-gap images into a real containerd inside the
// host and an arm64 host needs arm64 binaries of them; copying the machine's own amd64 containerd in
// would not do. netcat-openbsd lets tests probe ports from inside a host. ca-certificates is left out on purpose:
// an air-gapped site never trusts public CAs, and its postinst (a fork per certificate) costs minutes
// under qemu.
var BasePackages = []string{
	"systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "iproute2", "iputils-ping",
	"procps", "less", "netcat-openbsd", "containerd", "runc",
}

// sshdDropIn is read before Debian's own sshd_config settings (first value wins in sshd). MaxStartups is
// raised because the installer opens one connection per host in parallel and tests open many.
const sshdDropIn = `# Ferry site lab
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
MaxStartups 256:30:512
MaxSessions 64
UseDNS no
`

// cgroupRWUnit lets containerd and runc create cgroups inside an nspawn host on a cgroup v1 (hybrid)
// machine, where nspawn mounts the controllers read-only. Enabled per host (HostSpec.Containers).
const cgroupRWUnit = `[Unit]
Description=Ferry site lab: remount cgroup v1 controllers read-write for containerd
DefaultDependencies=no
Before=containerd.service k3s.service sysinit.target
ConditionVirtualization=container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for c in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$c" || true; done'

[Install]
WantedBy=sysinit.target
`

const cgroupRWUnitName = "ferrylab-cgroup-rw.service"

// setupScript runs once inside the fresh rootfs (chroot; under qemu for arm64). What differs per host
// (identity, keys, address, password) is left out so one cached rootfs serves every host.
const setupScript = `set -eu
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
id ferry >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups sudo ferry
systemctl enable systemd-networkd.service >/dev/null 2>&1
systemctl disable containerd.service >/dev/null 2>&1 || true
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
  systemctl mask "$u" >/dev/null 2>&1 || true
done
rm -f /etc/ssh/ssh_host_*
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
: > /etc/machine-id
: > /etc/resolv.conf
`

// Under qemu-user two things of systemd 252 fail: networkd cannot set up its netlink sockets ("Could not
// setup manager: Protocol not supported") and units with LoadCredential= fail at the CREDENTIALS step.
// A foreign-arch rootfs therefore gets its address from a oneshot running iproute2 (whose rtnetlink use
// qemu translates) and drop-ins that clear LoadCredential= (the lab passes no credentials anyway).
const foreignNetUnit = `[Unit]
Description=Ferry site lab: static address (systemd-networkd cannot run under qemu-user)
DefaultDependencies=no
After=systemd-remount-fs.service
Before=network.target ssh.service
Wants=network.target
ConditionPathExists=/etc/ferrylab/network

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/ferrylab/network
ExecStart=/bin/ip link set host0 up
ExecStart=/bin/ip addr replace ${ADDRESS} dev host0

[Install]
WantedBy=multi-user.target
`

const foreignNetUnitName = "ferrylab-net.service"

const foreignSetupScript = `set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
systemctl mask systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service >/dev/null 2>&1
systemctl enable ` + foreignNetUnitName + ` >/dev/null 2>&1
for f in $(grep -l '^LoadCredential=' /lib/systemd/system/*.service); do
  d=/etc/systemd/system/$(basename "$f").d
  mkdir -p "$d"
  printf '[Service]\nLoadCredential=\n' > "$d/ferrylab-qemu.conf"
done
`

// recipeVersion changes whenever the way the rootfs is built changes in a way the inputs below miss.
const recipeVersion = "3"

// RootfsKey identifies a base rootfs by everything that goes into it, so a changed package list or setup
// makes a new one instead of silently reusing a stale cache.
func RootfsKey(arch string) string {
	h := sha256.New()
	for _, s := range []string{recipeVersion, Suite, "minbase", arch, strings.Join(BasePackages, ","), sshdDropIn, cgroupRWUnit, setupScript, foreignNetUnit, foreignSetupScript} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

const rootfsComplete = ".ferry-lab-complete"

// RootfsDir is where the cached base rootfs for arch lives under cacheDir.
func RootfsDir(cacheDir, arch string) string {
	return filepath.Join(cacheDir, "rootfs", fmt.Sprintf("%s-%s-%s", Suite, arch, RootfsKey(arch)))
}

// EnsureRootfs returns the cached base rootfs for arch, building it first if it is missing. A build goes
// into a temporary directory renamed into place only when complete, under a lock, so an interrupted or
// concurrent build is never used. Built reports whether this call did the build.
func EnsureRootfs(ctx context.Context, cacheDir, mirror, arch string, sink progress.Sink) (dir string, built bool, err error) {
	dir = RootfsDir(cacheDir, arch)
	if isFile(filepath.Join(dir, rootfsComplete)) {
		return dir, false, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", false, fmt.Errorf("creating rootfs cache: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", false, fmt.Errorf("locking rootfs cache %s: %w", dir, err)
	}
	defer unlock()
	if isFile(filepath.Join(dir, rootfsComplete)) { // built by whoever held the lock before us
		return dir, false, nil
	}
	start := time.Now()
	sink.Emit(progress.Event{Phase: "rootfs", Host: arch, Msg: "building Debian " + Suite + " " + arch + " rootfs from " + mirror})
	tmp := filepath.Join(filepath.Dir(dir), ".tmp-"+filepath.Base(dir))
	if err := removeTree(tmp); err != nil {
		return "", false, fmt.Errorf("removing an interrupted rootfs build: %w", err)
	}
	// debootstrap mounts proc and sys inside the target; whatever happens, take them down before the
	// directory is renamed or removed.
	defer unmountUnder(tmp) //nolint:errcheck // best effort; removeTree checks again
	if err := buildRootfs(ctx, tmp, dir+".log", mirror, arch); err != nil {
		return "", false, fmt.Errorf("building %s rootfs (log in %s.log): %w", arch, dir, err)
	}
	if err := unmountUnder(tmp); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, rootfsComplete), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", false, fmt.Errorf("moving finished rootfs into the cache: %w", err)
	}
	pruneRootfs(cacheDir, arch, dir)
	sink.Emit(progress.Event{Phase: "rootfs", Host: arch, Msg: fmt.Sprintf("built %s rootfs in %s", arch, time.Since(start).Round(time.Second))})
	return dir, true, nil
}

// EnsureRootfsAll runs EnsureRootfs for several arches in parallel (the arm64 build mostly waits on qemu,
// the amd64 one on downloads and disk) and returns each one's directory.
func EnsureRootfsAll(ctx context.Context, cacheDir, mirror string, arches []string, sink progress.Sink) (map[string]string, error) {
	dirs := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(arches))
	for i, arch := range arches {
		wg.Go(func() {
			dir, _, err := EnsureRootfs(ctx, cacheDir, mirror, arch, sink)
			mu.Lock()
			dirs[arch] = dir
			mu.Unlock()
			errs[i] = err
		})
	}
	wg.Wait()
	return dirs, errors.Join(errs...)
}

func buildRootfs(ctx context.Context, tmp, logPath, mirror, arch string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	foreign := arch != hostArch()
	if foreign {
		if err := EnsureBinfmt(ctx, arch); err != nil {
			return err
		}
	}
	// Always two stages, even natively: between them dpkg is told to skip its fsyncs (a throw-away build
	// that is renamed into place only when complete needs no crash safety), which saves minutes on a busy
	// disk, most of all under qemu.
	args := []string{"--variant=minbase", "--arch=" + arch, "--include=" + strings.Join(BasePackages, ","), "--foreign", Suite, tmp, mirror}
	if err := runLogged(ctx, logf, "debootstrap", args...); err != nil {
		return withLogTail(err, logPath)
	}
	unsafeIO := filepath.Join(tmp, "etc/dpkg/dpkg.cfg.d/ferrylab-unsafe-io")
	if err := writeFile(unsafeIO, "force-unsafe-io\n", 0o644); err != nil {
		return err
	}
	// The second stage runs the target's own dpkg and maintainer scripts (under qemu for a foreign arch).
	if err := runLogged(ctx, logf, "chroot", tmp, "/debootstrap/debootstrap", "--second-stage"); err != nil {
		return withLogTail(err, logPath)
	}
	if err := os.Remove(unsafeIO); err != nil {
		return err
	}
	files := map[string]string{
		"etc/ssh/sshd_config.d/ferry-lab.conf":   sshdDropIn,
		"etc/systemd/system/" + cgroupRWUnitName: cgroupRWUnit,
	}
	for p, content := range files {
		if err := writeFile(filepath.Join(tmp, p), content, 0o644); err != nil {
			return err
		}
	}
	script := setupScript
	if foreign {
		script += foreignSetupScript
		if err := writeFile(filepath.Join(tmp, "etc/systemd/system", foreignNetUnitName), foreignNetUnit, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "chroot", tmp, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return withLogTail(fmt.Errorf("setting up the rootfs: %w", err), logPath)
	}
	return nil
}

// pruneRootfs removes cached rootfs of the same arch built from an older recipe, unless a running lab
// still has it as an overlay lower layer.
func pruneRootfs(cacheDir, arch, keep string) {
	old, _ := filepath.Glob(filepath.Join(cacheDir, "rootfs", fmt.Sprintf("%s-%s-*", Suite, arch)))
	for _, d := range old {
		if d == keep || strings.HasSuffix(d, ".lock") || strings.HasSuffix(d, ".log") {
			continue
		}
		if inUseAsLower(d) {
			continue
		}
		_ = removeTree(d)
		_ = os.Remove(d + ".lock")
		_ = os.Remove(d + ".log")
	}
}

// lockFile takes an exclusive flock on path, polling so ctx can cancel the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
