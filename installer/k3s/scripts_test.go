package k3s

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestScriptsGoldenAndSyntax(t *testing.T) {
	p := NewPaths(true, "")
	k, err := KillallScript(p)
	if err != nil {
		t.Fatal(err)
	}
	u, err := UninstallScript(p)
	if err != nil {
		t.Fatal(err)
	}
	if k.Path != "/usr/local/bin/ferry-k3s-killall.sh" || u.Path != "/usr/local/bin/ferry-k3s-uninstall.sh" || k.Mode != 0o755 || u.Mode != 0o755 {
		t.Errorf("%s %o, %s %o", k.Path, k.Mode, u.Path, u.Mode)
	}
	golden(t, "ferry-k3s-killall.sh", k.Data)
	golden(t, "ferry-k3s-uninstall.sh", u.Data)
	for _, f := range []File{k, u} {
		// Debian's sh is dash; other distributions' sh may be bash or busybox. Both must parse them.
		shellSyntax(t, "sh", f.Data)
		shellSyntax(t, "bash", f.Data)
		if _, err := exec.LookPath("shellcheck"); err == nil {
			if out, err := exec.Command("shellcheck", "-s", "sh", writeTemp(t, f.Data)).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %s", f.Path, out)
			}
		}
	}
	for _, tf := range p.TokenFiles() {
		if !strings.Contains(string(u.Data), `rm -f "$ROOT`+tf+`"`) {
			t.Errorf("uninstall keeps token file %s", tf)
		}
	}
	for _, i := range []string{"cni0", "flannel.1", "flannel-v6.1", "kube-ipvs0", "^flannel-wg"} {
		if !strings.Contains(string(k.Data), i) {
			t.Errorf("killall does not delete %s", i)
		}
	}
}

func TestMayCreateAndCreatedList(t *testing.T) {
	p := NewPaths(false, "/srv/k3s")
	got := MayCreate(p, RoleAgent)
	for _, want := range []string{"/opt/bin/k3s", "/opt/bin/kubectl", "/srv/k3s", "/etc/systemd/system/k3s-agent.service",
		"/etc/systemd/system/k3s-agent.service.env", "/etc/rancher/node", TokenFile} {
		if !slices.Contains(got, want) {
			t.Errorf("MayCreate lacks %s", want)
		}
	}
	for _, never := range []string{"/opt/bin", "/srv", KubeconfigFile} {
		if slices.Contains(got, never) {
			t.Errorf("MayCreate lists %s for an agent with data dir /srv/k3s", never)
		}
	}

	var list []byte
	for _, add := range []string{"/usr/local/bin/k3s", "/etc/rancher/k3s", "/usr/local/bin/k3s"} {
		var err error
		if list, err = AppendCreated(list, add); err != nil {
			t.Fatal(err)
		}
	}
	if string(list) != "/usr/local/bin/k3s\n/etc/rancher/k3s\n" {
		t.Errorf("list = %q", list)
	}
	for _, bad := range []string{"/", "/etc", "/var/lib", "relative", "/a/../etc", "/a b", "/x;rm"} {
		if _, err := AppendCreated(list, bad); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}
