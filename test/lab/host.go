package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
	"golang.org/x/crypto/ssh"
)

// hostState is what the lab remembers about one host, on disk in state.json.
type hostState struct {
	N       int      `json:"n"`
	Name    string   `json:"name"`
	Spec    HostSpec `json:"spec"`
	Address string   `json:"address"`
	Rootfs  string   `json:"rootfs"`
	HostKey string   `json:"host_key"`
	// SmallFS is set once SmallDataFS gave the host a nearly full /var/lib/rancher.
	SmallFS bool `json:"small_fs,omitempty"`
}

func (l *Lab) hostDir(name string) string { return filepath.Join(l.Dir, "hosts", name) }

func (l *Lab) merged(name string) string { return filepath.Join(l.hostDir(name), "merged") }

// createHost lays out a host's directories, mounts its overlay and writes its identity into the upper
// layer. Runs once per host; Stop and Start keep the overlay and so the host's disk.
func (l *Lab) createHost(ctx context.Context, h *hostState, rootKey keyPair, pwHash string) error {
	dir := l.hostDir(h.Name)
	for _, d := range []string{"upper", "work", "merged", "data/rancher", "data/containerd"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := l.mountOverlay(h); err != nil {
		return err
	}
	hk, err := newKeyPair("root@" + h.Name)
	if err != nil {
		return err
	}
	h.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hk.Public)))
	mid, err := newMachineID()
	if err != nil {
		return err
	}
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, o := range l.st.Hosts {
		fmt.Fprintf(&hosts, "%s\t%s\n", o.Address, o.Name)
	}
	m := l.merged(h.Name)
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{"etc/hostname", h.Name + "\n", 0o644},
		{"etc/hosts", hosts.String(), 0o644},
		{"etc/machine-id", mid + "\n", 0o444},
		{"etc/resolv.conf", "# Ferry site lab: no DNS on the lab network; names are in /etc/hosts\n", 0o644},
		{"etc/ssh/ssh_host_ed25519_key", string(hk.Private), 0o600},
		{"etc/ssh/ssh_host_ed25519_key.pub", hk.authorizedLine("root@" + h.Name), 0o644},
		{"root/.ssh/authorized_keys", rootKey.authorizedLine("ferry-lab"), 0o600},
		// This exact name overrides the vendor file that would ask for DHCP. No Gateway: no route out.
		// Read by the foreign-arch rootfs's ferrylab-net.service instead of networkd.
		{"etc/ferrylab/network", "ADDRESS=" + h.Address + "/24\n", 0o644},
		{"etc/systemd/network/80-container-host0.network", "[Match]\nVirtualization=container\nName=host0\n\n[Network]\nAddress=" + h.Address + "/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n", 0o644},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(m, f.path), f.content, f.mode); err != nil {
			return fmt.Errorf("writing %s of %s: %w", f.path, h.Name, err)
		}
	}
	if err := os.Chmod(filepath.Join(m, "root/.ssh"), 0o700); err != nil {
		return err
	}
	shadow, err := os.ReadFile(filepath.Join(m, "etc/shadow"))
	if err != nil {
		return err
	}
	ns, err := setShadowPassword(string(shadow), "ferry", pwHash)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(m, "etc/shadow"), ns, 0o640); err != nil {
		return err
	}
	if h.Spec.Containers {
		link := filepath.Join(m, "etc/systemd/system/sysinit.target.wants", cgroupRWUnitName)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/etc/systemd/system/"+cgroupRWUnitName, link); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

func (l *Lab) mountOverlay(h *hostState) error {
	dir := l.hostDir(h.Name)
	m := l.merged(h.Name)
	if pts, _ := mountsUnder(m); len(pts) > 0 {
		return nil
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", h.Rootfs, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := syscall.Mount("overlay", m, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting overlay for %s: %w", h.Name, err)
	}
	return nil
}

// nspawnArgs is the command line that boots host h. --register=no --keep-unit because this machine's
// PID 1 is not systemd (nspawn would otherwise fail to reach a system bus); --link-journal=no so nothing
// is written into the machine's own journal directory.
func (l *Lab) nspawnArgs(h *hostState) []string {
	args := []string{
		"-D", l.merged(h.Name), "-M", h.Name, "--boot", "--register=no", "--keep-unit",
		"--network-bridge=" + LabName(l.ID), "--console=read-only", "--link-journal=no",
		"--resolv-conf=off", "--timezone=off",
	}
	switch {
	case h.SmallFS:
		args = append(args, "--bind="+filepath.Join(l.hostDir(h.Name), "smallfs")+":/var/lib/rancher")
	case h.Spec.Containers:
		// Container snapshots cannot live on the overlay root (overlay on overlay fails): bind ext4 dirs.
		args = append(args,
			"--bind="+filepath.Join(l.hostDir(h.Name), "data/rancher")+":/var/lib/rancher",
			"--bind="+filepath.Join(l.hostDir(h.Name), "data/containerd")+":/var/lib/containerd")
	}
	if h.Spec.Containers {
		args = append(args, "--system-call-filter=@keyring")
	}
	return args
}

// boot starts the host's nspawn in its own session, detached from the caller so the site outlives the
// lab command; its console goes to console.log.
func (l *Lab) boot(h *hostState) error {
	if l.running(h.Name) {
		return nil
	}
	if err := l.mountOverlay(h); err != nil {
		return err
	}
	// nspawn locks the image directory in /run/systemd/nspawn/locks by device and inode; remember the
	// name so Down can remove it if nspawn is killed before it can.
	var st syscall.Stat_t
	if err := syscall.Stat(l.merged(h.Name), &st); err == nil {
		_ = os.WriteFile(filepath.Join(l.hostDir(h.Name), "nspawn.lock"), fmt.Appendf(nil, "inode-%d:%d\n", st.Dev, st.Ino), 0o644)
	}
	logf, err := os.OpenFile(filepath.Join(l.hostDir(h.Name), "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// A leftover of an earlier boot (a killed nspawn) would hold the new machine's units; start clean.
	removeHostCgroups(h.Name)
	cgroups := hostCgroups(h.Name)
	cmd := exec.Command("/bin/sh", append([]string{"-c", inCgroupsScript, "systemd-nspawn"}, l.nspawnArgs(h)...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_LOG_LEVEL=info", "FERRYLAB_CGROUPS=" + strings.Join(cgroups, " ")}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting systemd-nspawn for %s: %w", h.Name, err)
	}
	// Reap it if it exits while we are still around; otherwise init adopts it.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Until the shell has moved itself and exec'd, the machine is not "running" (nspawnPIDs looks for
	// systemd-nspawn): wait for the exec so nobody takes the shell for a dead machine and boots a second.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); filepath.Base(exe) == "systemd-nspawn" {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("starting systemd-nspawn for %s in its cgroups %v: %v", h.Name, cgroups, err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("starting systemd-nspawn for %s: still not running after 10s", h.Name)
		}
	}
	return os.WriteFile(filepath.Join(l.hostDir(h.Name), "nspawn.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
}

// running reports whether host name's nspawn is alive.
func (l *Lab) running(name string) bool {
	for pid, m := range nspawnPIDs(name) {
		if m == name && alive(pid) {
			return true
		}
	}
	return false
}

// halt stops host name: SIGTERM to nspawn makes it power the machine off cleanly; what is left after the
// grace time is killed, and so are any processes still rooted in the host's filesystem.
func (l *Lab) halt(name string, grace time.Duration) {
	var pids []int
	for pid, m := range nspawnPIDs(name) {
		if m == name {
			pids = append(pids, pid)
		}
	}
	stopNspawn(pids, grace)
	if left := rootedUnder(l.hostDir(name)); len(left) > 0 {
		terminate(left, 2*time.Second)
	}
	removeNspawnRun(name)
	removeHostCgroups(name)
}

// removeNspawnRun deletes what nspawn leaves in /run/systemd/nspawn for a machine (names starting with
// prefix only: other users of nspawn on this machine keep theirs).
func removeNspawnRun(prefix string) {
	_ = filepath.WalkDir("/run/systemd/nspawn", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if p != "/run/systemd/nspawn" && strings.HasPrefix(d.Name(), prefix) {
			_ = removeTree(p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
}

// errNspawnExited: a host's systemd-nspawn died before the machine was ready.
var errNspawnExited = errors.New("systemd-nspawn exited")

// tailFile returns the last n lines of file p (for errors: the console log is gone after Down).
func tailFile(p string, n int) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady waits until root can log in over SSH and systemd has finished booting.
func (l *Lab) waitReady(ctx context.Context, h Host, sink progress.Sink) (string, error) {
	cfg, err := h.KeyConfig()
	if err != nil {
		return "", err
	}
	var lastErr error
	for {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("waiting for %s to boot: %w (last: %v; console log in %s)", h.Name, err, lastErr, filepath.Join(l.hostDir(h.Name), "console.log"))
		}
		if !l.running(h.Name) {
			log := filepath.Join(l.hostDir(h.Name), "console.log")
			return "", fmt.Errorf("booting %s: %w; %s ends with:\n%s", h.Name, errNspawnExited, log, tailFile(log, 15))
		}
		c, err := Dial(ctx, h, cfg, 3*time.Second)
		if err != nil {
			lastErr = err
			time.Sleep(300 * time.Millisecond)
			continue
		}
		defer c.Close()
		// "degraded" still means booted; say which units failed so a flaky base shows up.
		out, _, _ := Output(ctx, c, "systemctl is-system-running --wait", nil)
		state := strings.TrimSpace(out)
		if state != "running" {
			failed, _, _ := Output(ctx, c, "systemctl --failed --no-legend --plain | cut -d' ' -f1 | tr '\\n' ' '", nil)
			state += " (failed: " + strings.TrimSpace(failed) + ")"
		}
		sink.Emit(progress.Event{Phase: "boot", Host: h.Name, Msg: "ready: " + state})
		return state, nil
	}
}
