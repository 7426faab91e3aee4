//go:build integration

package k3s

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestUninstallInNamespaces runs the real killall and uninstall scripts against a fake host tree under
// ROOT, inside fresh pid, mount and network namespaces (unshare): the processes, tmpfs mounts, interfaces
// and iptables rules it cleans are real, yet none of the machine's own. When unshare exits, the kernel
// tears down all of it, so nothing leaks even when the test fails. Needs root (make test-k3s).
func TestUninstallInNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root for unshare --pid --mount --net; run make test-k3s as root")
	}
	for _, tool := range []string{"unshare", "ip", "iptables-save", "iptables-restore", "ps", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing: run scripts/install-deps.sh k3s", tool)
		}
	}
	root := t.TempDir()
	p := NewPaths(true, "")
	files := map[string]string{
		// What Ferry created.
		"/usr/local/bin/k3s":                  "stand-in",
		"/etc/rancher/k3s/config.yaml":        "token-file: /etc/rancher/k3s/ferry-token\n",
		"/etc/rancher/k3s/ferry-token":        "s3cret\n",
		"/etc/systemd/system/k3s.service":     "[Service]\n",
		"/etc/systemd/system/k3s.service.env": "\n",
		"/var/lib/rancher/k3s/server/token":   "K10abc::server:s3cret\n",
		"/var/lib/rancher/k3s/agent/images/a": "img",
		// What the host had before Ferry: must survive.
		"/usr/local/bin/crictl":      "foreign",
		"/etc/default/k3s":           "FOREIGN=1\n",
		"/etc/rancher/node/password": "pw\n",
		"/var/lib/other-app/keep":    "data",
		"/etc/keep":                  "etc file",
	}
	for f, content := range files {
		write(t, root+f, content, 0o644)
	}
	if err := os.Symlink("k3s", root+"/usr/local/bin/kubectl"); err != nil {
		t.Fatal(err)
	}
	k, _ := KillallScript(p)
	u, _ := UninstallScript(p)
	write(t, root+k.Path, string(k.Data), 0o755)
	write(t, root+u.Path, string(u.Data), 0o755)
	marker := filepath.Join(t.TempDir(), "openrc-stopped")
	write(t, root+"/etc/init.d/k3s", "#!/bin/sh\necho \"$1\" >> "+marker+"\n", 0o755)
	if err := os.MkdirAll(root+"/run/openrc", 0o755); err != nil {
		t.Fatal(err)
	}
	var list []byte
	for _, c := range []string{"/usr/local/bin/k3s", "/usr/local/bin/kubectl", k.Path, u.Path, "/etc/rancher/k3s",
		"/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s.service.env", "/var/lib/rancher", "/var/lib/rancher/k3s"} {
		var err error
		if list, err = AppendCreated(list, c); err != nil {
			t.Fatal(err)
		}
	}
	// Entries no install could have written must be refused by the script itself.
	list = append(list, "/etc\n/var/lib/other-app/../../etc\nrelative\n/etc/init.d\n"...)
	write(t, root+CreatedList, string(list), 0o644)

	driver := `set -eu
ROOT="$1"; D=/var/lib/rancher/k3s
# Mounts k3s leaves: container rootfs, a pod volume.
for m in "$ROOT/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs" \
         "$ROOT$D/agent/containerd/tmpmounts/x" "$ROOT/var/lib/kubelet/pods/p1/volumes/v"; do
    mkdir -p "$m"; mount -t tmpfs tmpfs "$m"
done
# Interfaces and rules k3s and flannel create, and one of the host's own. The scripts go by name; this
# kernel has no dummy or wireguard module, so those stand-ins are bridges.
ip link add cni0 type bridge
ip link add vethpod type veth peer name vethctr
ip link set vethpod master cni0
ip link add flannel.1 type vxlan id 1 dstport 8472
ip link add flannel-v6.1 type vxlan id 2 dstport 8472
ip link add kube-ipvs0 type bridge
ip link add flannel-wg type bridge
ip link add keep0 type bridge
iptables -t nat -N KUBE-SERVICES
iptables -t nat -A PREROUTING -j KUBE-SERVICES
iptables -N CNI-FORWARD
iptables -A FORWARD -j CNI-FORWARD
iptables -A FORWARD -s 10.42.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
iptables -N KEEP-ME
iptables -A INPUT -p tcp --dport 22 -j KEEP-ME
# Processes: k3s, its containerd, a shim with a container under it, and a host process.
(exec -a "$ROOT/usr/local/bin/k3s server" sleep 1000) &
(exec -a "containerd -c $ROOT$D/agent/etc/containerd/config.toml" sleep 1000) &
bash -c "sleep 1002 & exec -a $ROOT$D/data/abc123/bin/containerd-shim-runc-v2 sleep 1000" &
sleep 1003 &
sleep 0.3
echo "== before"; ps -e -o args= | grep -c 'sleep\|k3s\|containerd' || true
ROOT="$ROOT" "$ROOT/usr/local/bin/ferry-k3s-uninstall.sh"
echo "== ps"; ps -e -o args=
echo "== mounts"; awk -v r="$ROOT" 'index($2, r) == 1 { print $2 }' /proc/self/mounts
echo "== links"; ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'
echo "== iptables"; iptables-save
echo "== end"
`
	// A file, not bash -c: the driver's own command line must not look like a k3s process to ps.
	driverPath := filepath.Join(t.TempDir(), "driver.sh")
	write(t, driverPath, driver, 0o755)
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--mount", "--net", "--propagation", "private",
		"bash", driverPath, root)
	out, err := cmd.CombinedOutput()
	t.Logf("namespace run:\n%s", out)
	if err != nil {
		t.Fatalf("uninstall in namespaces: %v", err)
	}
	sections := map[string]string{}
	cur := ""
	for _, l := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(l, "== "); ok {
			cur = name
			continue
		}
		sections[cur] += l + "\n"
	}
	section := func(name string) string {
		s, ok := sections[name]
		if !ok && name != "mounts" {
			t.Fatalf("no %s section in the output", name)
		}
		return s
	}
	// The fixture itself must have worked, or the checks below prove nothing.
	if n, err := strconv.Atoi(strings.Fields(section("before") + " x")[0]); err != nil || n < 5 {
		t.Fatalf("expected at least 5 stand-in processes before the uninstall, ps counted %d (%v)", n, err)
	}
	ps := section("ps")
	if strings.Contains(ps, "k3s") || strings.Contains(ps, "containerd") || strings.Contains(ps, "sleep 1002") {
		t.Errorf("k3s processes survived:\n%s", ps)
	}
	if !strings.Contains(ps, "sleep 1003") {
		t.Errorf("a host process was killed:\n%s", ps)
	}
	if m := strings.TrimSpace(section("mounts")); m != "" {
		t.Errorf("mounts left under ROOT:\n%s", m)
	}
	links := strings.Fields(section("links"))
	for _, gone := range []string{"cni0", "vethpod", "flannel.1", "flannel-v6.1", "kube-ipvs0", "flannel-wg"} {
		for _, l := range links {
			if l == gone {
				t.Errorf("interface %s survived", gone)
			}
		}
	}
	if !strings.Contains(section("links"), "keep0") {
		t.Error("host interface keep0 was deleted")
	}
	ipt := section("iptables")
	if strings.Contains(ipt, "KUBE-") || strings.Contains(ipt, "CNI-") || strings.Contains(strings.ToLower(ipt), "flannel") {
		t.Errorf("k3s iptables rules survived:\n%s", ipt)
	}
	if !strings.Contains(ipt, "-A INPUT -p tcp -m tcp --dport 22 -j KEEP-ME") {
		t.Errorf("host iptables rule lost:\n%s", ipt)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "stop\n" {
		t.Errorf("OpenRC service not stopped once: %q %v", b, err)
	}

	for _, gone := range []string{"/usr/local/bin/k3s", "/usr/local/bin/kubectl", k.Path, u.Path, "/etc/rancher/k3s",
		"/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s.service.env", "/var/lib/rancher", CreatedList, "/run/k3s"} {
		if _, err := os.Lstat(root + gone); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", gone, err)
		}
	}
	for _, kept := range []string{"/usr/local/bin/crictl", "/etc/default/k3s", "/etc/rancher/node/password",
		"/var/lib/other-app/keep", "/etc/keep", "/etc/init.d/k3s"} {
		if _, err := os.Stat(root + kept); err != nil {
			t.Errorf("%s, which Ferry did not create, was removed: %v", kept, err)
		}
	}
	for _, refused := range []string{"refusing to remove /etc\n", "skipping unsafe path in created list: /var/lib/other-app/../../etc",
		"skipping relative path in created list: relative", "refusing to remove /etc/init.d\n"} {
		if !strings.Contains(string(out), refused) {
			t.Errorf("output lacks %q", refused)
		}
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
