package lab_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/test/lab"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/ssh"
)

// The site scenarios boot real machines and need root; they run from `make test-lab`, which sets
// FERRY_LAB=1. FERRY_LAB_INVENTORY=FILE runs the host scenarios against real hosts instead (fault knobs
// need the lab and are skipped then).
const (
	envEnable  = "FERRY_LAB"
	envInvFile = "FERRY_LAB_INVENTORY"
	// envTestIDs ("SITE HALFWAY", e.g. "65 66") moves these tests off their usual lab IDs 7 and 8, so a
	// change to the lab can be tried while a CI run holds those (make test-lab LAB_TEST_IDS="65 66").
	envTestIDs = "FERRY_LAB_TEST_IDS"
)

// siteID is the shared site of these tests; halfWayID the lab the crash-cleanup test kills.
var siteID, halfWayID = testIDs()

func testIDs() (site, halfWay int) {
	v := os.Getenv(envTestIDs)
	if strings.TrimSpace(v) == "" {
		return 7, 8
	}
	if n, err := fmt.Sscanf(v, "%d %d", &site, &halfWay); n != 2 || err != nil || site == halfWay {
		panic(fmt.Sprintf("%s=%q: want two different lab IDs, e.g. \"65 66\"", envTestIDs, v))
	}
	return site, halfWay
}

var (
	site     *lab.Lab
	siteInv  *lab.Inventory
	siteErr  error
	siteOnce sync.Once
	upTime   time.Duration
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Whatever happened above, leave nothing behind.
	if os.Getenv(envEnable) == "1" && os.Geteuid() == 0 {
		for _, id := range []int{siteID, halfWayID} {
			if err := lab.Down(context.Background(), "", id); err != nil {
				fmt.Fprintln(os.Stderr, "lab teardown:", err)
				code = 1
			}
		}
	}
	os.Exit(code)
}

func needLab(t *testing.T) {
	t.Helper()
	if os.Getenv(envEnable) != "1" {
		t.Skip("site lab scenarios boot nspawn machines as root: run `make test-lab` (sets FERRY_LAB=1)")
	}
	if os.Geteuid() != 0 {
		t.Skip("site lab scenarios need root")
	}
}

func logSink(t *testing.T) progress.Sink {
	return func(e progress.Event) { t.Logf("%s %s %s", e.Phase, e.Host, e.Msg) }
}

// getSite returns the shared site: 3 amd64 hosts (the first prepared for containers) and 1 arm64 host,
// or the hosts of FERRY_LAB_INVENTORY.
func getSite(t *testing.T) (*lab.Lab, *lab.Inventory) {
	t.Helper()
	if f := os.Getenv(envInvFile); f != "" {
		inv, err := lab.LoadInventory(f)
		if err != nil {
			t.Fatal(err)
		}
		return nil, inv
	}
	needLab(t)
	siteOnce.Do(func() {
		if err := lab.Down(context.Background(), "", siteID); err != nil { // a crashed earlier run
			siteErr = err
			return
		}
		spec := lab.Spec(3, 1)
		spec[0].Containers, spec[3].Containers = true, true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		start := time.Now()
		site, siteErr = lab.Up(ctx, lab.Options{ID: siteID, Hosts: spec, Progress: func(e progress.Event) {
			fmt.Fprintf(os.Stderr, "lab: %s %s %s\n", e.Phase, e.Host, e.Msg)
		}})
		upTime = time.Since(start)
		if siteErr == nil {
			siteInv = site.Inventory()
			fmt.Fprintf(os.Stderr, "lab: site of 4 hosts up in %s\n", upTime.Round(time.Second))
		}
	})
	if siteErr != nil {
		t.Fatalf("bringing the site up: %v", siteErr)
	}
	return site, siteInv
}

func dialRoot(t *testing.T, inv *lab.Inventory, h lab.Host) *ssh.Client {
	t.Helper()
	if err := inv.CheckNetwork(); err != nil {
		t.Fatal(err)
	}
	cfg, err := h.KeyConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := lab.Dial(context.Background(), h, cfg, 20*time.Second)
	if err != nil {
		t.Fatalf("root SSH to %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func out(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, _, err := lab.Output(ctx, c, cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(o)
}

var unameOf = map[string]string{lab.AMD64: "x86_64", lab.ARM64: "aarch64"}

func TestHostsAcceptRootKey(t *testing.T) {
	_, inv := getSite(t)
	seen := map[string]string{}
	for _, h := range inv.Hosts {
		t.Run(h.Name, func(t *testing.T) {
			c := dialRoot(t, inv, h)
			got := strings.Fields(out(t, c, "id -u; hostname; uname -m; cat /etc/machine-id; cat /proc/1/comm"))
			if len(got) != 5 {
				t.Fatalf("unexpected output %q", got)
			}
			if got[0] != "0" || got[1] != h.Name || got[2] != unameOf[h.Arch] || got[4] != "systemd" {
				t.Errorf("uid/hostname/arch/pid1 = %v, want 0 %s %s systemd", got, h.Name, unameOf[h.Arch])
			}
			if prev, dup := seen[got[3]]; dup {
				t.Errorf("machine-id %s shared with %s", got[3], prev)
			}
			seen[got[3]] = h.Name
		})
	}
}

// The host key is checked for real: a client expecting another key must be refused.
func TestHostKeyIsVerified(t *testing.T) {
	_, inv := getSite(t)
	h1, h2 := inv.Hosts[0], inv.Hosts[1]
	if h1.HostKey == h2.HostKey {
		t.Fatal("two hosts share a host key")
	}
	wrong := h1
	wrong.HostKey = h2.HostKey
	cfg, err := wrong.KeyConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := lab.Dial(context.Background(), wrong, cfg, 20*time.Second); err == nil {
		c.Close()
		t.Fatal("connection accepted with the wrong host key")
	}
	// ssh(1) with the inventory's known_hosts file agrees (for demos and shell users).
	if inv.KnownHostsFile != "" {
		b, err := os.ReadFile(inv.KnownHostsFile)
		if err != nil || !strings.Contains(string(b), h1.KnownHosts) {
			t.Fatalf("known_hosts file lacks %s: %v", h1.Name, err)
		}
	}
}

func TestSudoUserNeedsPassword(t *testing.T) {
	_, inv := getSite(t)
	for _, h := range []lab.Host{inv.Hosts[0], inv.Hosts[len(inv.Hosts)-1]} {
		t.Run(h.Name, func(t *testing.T) {
			cfg, err := h.PasswordConfig()
			if err != nil {
				t.Fatal(err)
			}
			c, err := lab.Dial(context.Background(), h, cfg, 30*time.Second)
			if err != nil {
				t.Fatalf("password SSH as %s: %v", h.SudoUser, err)
			}
			defer c.Close()
			ctx := context.Background()
			if got := out(t, c, "id -un"); got != h.SudoUser {
				t.Fatalf("logged in as %q", got)
			}
			if _, _, err := lab.Output(ctx, c, "sudo -n true", nil); err == nil {
				t.Fatal("sudo ran without asking for a password")
			}
			pw, _ := h.Password()
			o, e, err := lab.Output(ctx, c, "sudo -S -p FERRYLAB_PROMPT: id -u", strings.NewReader(pw+"\n"))
			if err != nil || strings.TrimSpace(o) != "0" || !strings.Contains(e, "FERRYLAB_PROMPT:") {
				t.Fatalf("sudo -S with the password: out %q err %q: %v (want 0 after a prompt)", o, e, err)
			}
			// A fresh session has no cached credential to lean on... sudo caches per tty; -k drops it.
			if _, _, err := lab.Output(ctx, c, "sudo -k -S -p FERRYLAB_PROMPT: id -u", strings.NewReader("wrong-password\n")); err == nil {
				t.Fatal("sudo accepted a wrong password")
			}
			bad := *cfg
			bad.Auth = []ssh.AuthMethod{ssh.Password("wrong-password")}
			if c2, err := lab.Dial(ctx, h, &bad, 30*time.Second); err == nil {
				c2.Close()
				t.Fatal("SSH accepted a wrong password")
			}
		})
	}
}

func TestSystemdInsideHosts(t *testing.T) {
	l, inv := getSite(t)
	for _, h := range inv.Hosts {
		t.Run(h.Name, func(t *testing.T) {
			c := dialRoot(t, inv, h)
			if st := out(t, c, "systemctl is-system-running --wait || true"); st != "running" {
				t.Errorf("is-system-running = %q; failed units: %s", st, out(t, c, "systemctl --failed --no-legend --plain"))
			}
			if l != nil {
				// Each machine's systemd has a cgroup tree of its own: shared, the hosts' same-named units
				// raced on one directory and failed with 219/CGROUP now and then (cgroup.go).
				pid, err := os.ReadFile(filepath.Join(l.Dir, "hosts", h.Name, "nspawn.pid"))
				if err != nil {
					t.Fatal(err)
				}
				cg, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/cgroup")
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
					if (strings.HasPrefix(line, "0::") || strings.Contains(line, ":name=systemd:")) && !strings.Contains(line, "/ferry-lab/"+h.Name+"/") {
						t.Errorf("%s's nspawn is in %q, want under /ferry-lab/%s/", h.Name, line, h.Name)
					}
				}
			}
			out(t, c, "systemd-run --unit=ferrylab-probe --description='lab probe' sh -c 'echo probe-started; exec sleep 300'")
			if st := out(t, c, "systemctl is-active ferrylab-probe"); st != "active" {
				t.Fatalf("transient unit is %q", st)
			}
			var j string
			for range 50 {
				if j = out(t, c, "journalctl -u ferrylab-probe --no-pager -o cat"); strings.Contains(j, "probe-started") {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !strings.Contains(j, "probe-started") {
				t.Errorf("journal of the unit lacks its output: %q", j)
			}
			out(t, c, "systemctl stop ferrylab-probe")
			// Only the lab subnet is routed: no default route, so nothing can leave the machine.
			if r := out(t, c, "ip -4 route show default"); r != "" && inv.Bridge != "" {
				t.Errorf("host has a default route: %s", r)
			}
		})
	}
}

func TestHostsHaveTheirOwnDisks(t *testing.T) {
	_, inv := getSite(t)
	name := fmt.Sprintf("/root/ferrylab-only-here-%d", time.Now().UnixNano())
	out(t, dialRoot(t, inv, inv.Hosts[0]), "echo x > "+name)
	t.Cleanup(func() { out(t, dialRoot(t, inv, inv.Hosts[0]), "rm -f "+name) })
	for _, h := range inv.Hosts[1:] {
		if got := out(t, dialRoot(t, inv, h), "test -e "+name+" && echo present || echo absent"); got != "absent" {
			t.Errorf("file written on %s is %s on %s", inv.Hosts[0].Name, got, h.Name)
		}
	}
}

// The installer opens many connections in parallel; OpenSSH's default MaxStartups drops some.
func TestParallelConnections(t *testing.T) {
	_, inv := getSite(t)
	h := inv.Hosts[1]
	cfg, err := h.KeyConfig()
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := lab.Dial(context.Background(), h, cfg, 60*time.Second)
			if err == nil {
				_, _, err = lab.Output(context.Background(), c, "true", nil)
				c.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d parallel connections: %v", n, err)
	}
}

func requireLab(t *testing.T) (*lab.Lab, *lab.Inventory) {
	t.Helper()
	l, inv := getSite(t)
	if l == nil {
		t.Skip("fault knobs need the site lab, not an inventory of real hosts")
	}
	return l, inv
}

func canDial(h lab.Host, timeout time.Duration) error {
	if err := siteInv.CheckNetwork(); err != nil {
		return err
	}
	cfg, err := h.KeyConfig()
	if err != nil {
		return err
	}
	c, err := lab.Dial(context.Background(), h, cfg, timeout)
	if err == nil {
		c.Close()
	}
	return err
}

func TestFaultCutLink(t *testing.T) {
	l, inv := requireLab(t)
	h := inv.Hosts[1]
	ctx := context.Background()
	if err := canDial(h, 20*time.Second); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	if err := l.CutLink(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.RestoreLink(ctx, h.Name) })
	err := canDial(h, 3*time.Second)
	if err == nil {
		t.Fatal("SSH still works over a cut link")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("cut link gave %v, want a timeout (or host unreachable)", err)
	}
	if err := l.RestoreLink(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	lab.WaitFor(t, "SSH back after restoring the link", 30*time.Second, 500*time.Millisecond, func() error { return canDial(h, 3*time.Second) })
}

func TestFaultStopStart(t *testing.T) {
	l, inv := requireLab(t)
	h := inv.Hosts[2]
	ctx := context.Background()
	out(t, dialRoot(t, inv, h), "echo kept > /root/ferrylab-disk-kept")
	if err := l.Stop(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !l.Status()[h.Name] {
			_ = l.Start(ctx, h.Name)
		}
	})
	if l.Status()[h.Name] {
		t.Fatal("host still running after Stop")
	}
	if err := canDial(h, 5*time.Second); err == nil {
		t.Fatal("stopped host accepted SSH")
	}
	if err := l.Start(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	if got := out(t, dialRoot(t, inv, h), "cat /root/ferrylab-disk-kept; systemctl is-system-running --wait"); got != "kept\nrunning" {
		t.Errorf("after restart: %q, want the file kept and systemd running", got)
	}
}

func TestFaultOccupyPort(t *testing.T) {
	l, inv := requireLab(t)
	h := inv.Hosts[2]
	ctx := context.Background()
	addr := net.JoinHostPort(h.Address, "6443")
	if c, err := net.DialTimeout("tcp", addr, 3*time.Second); err == nil {
		c.Close()
		t.Fatal("port 6443 already in use before the knob")
	}
	if err := l.OccupyPort(ctx, h.Name, 6443); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("occupied port not accepting: %v", err)
	}
	c.Close()
	// What an installer's preflight would see: the port is taken, bind fails.
	if got := out(t, dialRoot(t, inv, h), "nc -4 -l 6443 </dev/null >/dev/null 2>&1 & p=$!; sleep 0.5; if kill -0 $p 2>/dev/null; then kill $p; echo bound; else echo in-use; fi"); got != "in-use" {
		t.Errorf("a second listener on 6443: %s", got)
	}
	if err := l.FreePort(ctx, h.Name, 6443); err != nil {
		t.Fatal(err)
	}
	lab.WaitFor(t, "port 6443 freed", 10*time.Second, 500*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err == nil {
			c.Close()
			return errors.New("still accepting")
		}
		return nil
	})
}

func TestFaultForeignK3s(t *testing.T) {
	l, inv := requireLab(t)
	h := inv.Hosts[2]
	c := dialRoot(t, inv, h)
	if got := out(t, c, "systemctl list-unit-files k3s.service --no-legend | wc -l"); got != "0" {
		t.Fatalf("k3s.service present before the knob: %s", got)
	}
	if err := l.InstallForeignK3s(context.Background(), h.Name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		out(t, c, "systemctl disable --now k3s.service; rm -f /etc/systemd/system/k3s.service /usr/local/bin/k3s; systemctl daemon-reload")
	})
	if got := out(t, c, "systemctl is-active k3s.service; systemctl show -p ExecStart --value k3s.service | grep -o '/usr/local/bin/k3s server'; k3s --version | head -1"); !strings.HasPrefix(got, "active\n/usr/local/bin/k3s server\nk3s version v1.28.5+k3s1") {
		t.Errorf("foreign k3s: %q", got)
	}
}

func TestFaultSmallDataFS(t *testing.T) {
	l, inv := requireLab(t)
	h := inv.Hosts[1]
	if err := l.SmallDataFS(context.Background(), h.Name, 64, 4); err != nil {
		t.Fatal(err)
	}
	c := dialRoot(t, inv, h)
	got := strings.Fields(out(t, c, "findmnt -n -o FSTYPE /var/lib/rancher; df -B1M --output=size,avail /var/lib/rancher | tail -1"))
	if len(got) != 3 || got[0] != "ext4" {
		t.Fatalf("/var/lib/rancher: %v, want its own ext4", got)
	}
	var size, avail int
	fmt.Sscan(got[1], &size)
	fmt.Sscan(got[2], &avail)
	if size > 64 || avail > 5 {
		t.Errorf("/var/lib/rancher size %d MiB avail %d MiB, want <= 64 and nearly full", size, avail)
	}
	if _, _, err := lab.Output(context.Background(), c, "dd if=/dev/zero of=/var/lib/rancher/big bs=1M count=16 2>&1", nil); err == nil {
		t.Error("16 MiB fit on the nearly full filesystem")
	}
	out(t, c, "rm -f /var/lib/rancher/big")
}

// Debian's containerd, from the base rootfs, runs inside a host prepared for containers: it imports an
// image archive written by go-containerregistry (as the air-gap path does) and runs it with runc.
func TestContainerdRunsImageInHost(t *testing.T) {
	_, inv := requireLab(t)
	for _, h := range []lab.Host{inv.Hosts[0], inv.Hosts[3]} { // the hosts prepared for containers
		t.Run(h.Name, func(t *testing.T) { runHello(t, inv, h) })
	}
}

func runHello(t *testing.T, inv *lab.Inventory, h lab.Host) {
	c := dialRoot(t, inv, h)
	got := out(t, c, "systemctl is-active ferrylab-cgroup-rw.service; findmnt -n -o FSTYPE /var/lib/containerd; systemctl start containerd && ctr version | grep -c Version; ctr plugins ls | grep overlayfs | awk '{print $NF}'")
	t.Cleanup(func() { out(t, c, "systemctl stop containerd") })
	if got != "active\next4\n2\nok" {
		t.Fatalf("containerd in %s: %q, want the cgroup unit active, ext4 store, client+server versions, overlayfs ok", h.Name, got)
	}
	archive := helloImage(t, h.Arch)
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, _, err := lab.Output(ctx, c, "cat > /var/lib/rancher/ferrylab-hello.tar", f); err != nil {
		t.Fatal(err)
	}
	got = out(t, c, "ctr -n k8s.io images import /var/lib/rancher/ferrylab-hello.tar >/dev/null && rm /var/lib/rancher/ferrylab-hello.tar && "+
		"ctr -n k8s.io images check name==docker.io/ferrylab/hello:test | tail -n +2; ctr -n k8s.io images ls name==docker.io/ferrylab/hello:test | tail -n +2")
	if !strings.HasPrefix(got, "docker.io/ferrylab/hello:test ") || !strings.Contains(got, "complete") || !strings.Contains(got, "linux/"+h.Arch) {
		t.Fatalf("imported image in %s: %q, want it complete for linux/%s", h.Name, got, h.Arch)
	}
	if h.Arch != lab.AMD64 {
		// runc cannot start containers under qemu-user ("could not ensure we are a cloned binary"): on the
		// arm64 host, containerd imports and keeps images but does not run them.
		return
	}
	got = out(t, c, "ctr -n k8s.io run --rm docker.io/ferrylab/hello:test ferrylab-hello")
	if got != "ferrylab-hello "+h.Arch {
		t.Fatalf("container output %q, want %q", got, "ferrylab-hello "+h.Arch)
	}
}

// helloImage builds testdata/hello for arch into a one-layer image and writes it as a docker archive.
func helloImage(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building hello: %v: %s", err, b)
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Config.Entrypoint = "linux", arch, []string{"/hello"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag("docker.io/ferrylab/hello:test")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "hello.tar")
	if err := tarball.WriteToFile(p, ref, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// Last of the site tests (go test runs them in file order): tear the site down and prove it is gone.
func TestZZTeardownLeavesNothing(t *testing.T) {
	l, _ := requireLab(t)
	if err := lab.Down(context.Background(), "", l.ID); err != nil {
		t.Fatal(err)
	}
	if leaks := lab.Leaks("", l.ID); len(leaks) > 0 {
		t.Fatalf("after Down: %v", leaks)
	}
	if _, err := net.InterfaceByName(lab.LabName(l.ID)); err == nil {
		t.Fatal("bridge still present")
	}
	siteErr = errors.New("site torn down by TestZZTeardownLeavesNothing")
}

// A run that died half-way (its nspawn killed -9, a loop-mounted filesystem still up, its state file
// lost) is refused by Up and cleaned completely by Down.
func TestTeardownAfterHalfWayFailure(t *testing.T) {
	needLab(t)
	ctx := context.Background()
	if err := lab.Down(ctx, "", halfWayID); err != nil {
		t.Fatal(err)
	}
	l, err := lab.Up(ctx, lab.Options{ID: halfWayID, Hosts: lab.Spec(1, 0), Progress: logSink(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Down(ctx, "", halfWayID) })
	name := lab.HostName(halfWayID, 1)
	if err := l.SmallDataFS(ctx, name, 32, 4); err != nil {
		t.Fatal(err)
	}
	pidb, err := os.ReadFile(filepath.Join(l.Dir, "hosts", name, "nspawn.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(pidb), &pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(l.Dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	// The crash must have left the kinds of debris Down has to find without state: otherwise this test
	// would not test what it claims.
	leaks := strings.Join(lab.Leaks("", halfWayID), "; ")
	for _, want := range []string{"processes ", "mounts ", "loop devices ", "links ", "state directory "} {
		if !strings.Contains(leaks, want) {
			t.Errorf("crashed lab's leaks %q lack %q", leaks, want)
		}
	}
	if _, err := lab.Up(ctx, lab.Options{ID: halfWayID, Hosts: lab.Spec(1, 0)}); !errors.Is(err, lab.ErrLabExists) {
		t.Fatalf("Up over a crashed lab = %v, want ErrLabExists", err)
	}
	if err := lab.Down(ctx, "", halfWayID); err != nil {
		t.Fatal(err)
	}
	if leaks := lab.Leaks("", halfWayID); len(leaks) > 0 {
		t.Fatalf("after Down: %v", leaks)
	}
	if err := lab.Down(ctx, "", halfWayID); err != nil {
		t.Fatalf("second Down (idempotent): %v", err)
	}
}
