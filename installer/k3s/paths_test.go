package k3s

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPaths(t *testing.T) {
	tests := []struct {
		name     string
		writable bool
		dataDir  string
		want     map[string]string
	}{
		{"defaults", true, "", map[string]string{
			"binary": "/usr/local/bin/k3s", "images": "/var/lib/rancher/k3s/agent/images",
			"token": "/var/lib/rancher/k3s/server/token", "node-token": "/var/lib/rancher/k3s/server/node-token",
			"charts": "/var/lib/rancher/k3s/server/static/charts", "manifests": "/var/lib/rancher/k3s/server/manifests",
			"killall": "/usr/local/bin/ferry-k3s-killall.sh",
		}},
		{"read-only /usr/local/bin and own data dir", false, "/srv/k3s/", map[string]string{
			"binary": "/opt/bin/k3s", "images": "/srv/k3s/agent/images",
			"token": "/srv/k3s/server/token", "node-token": "/srv/k3s/server/node-token",
			"charts": "/srv/k3s/server/static/charts", "manifests": "/srv/k3s/server/manifests",
			"killall": "/opt/bin/ferry-k3s-killall.sh",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPaths(tt.writable, tt.dataDir)
			got := map[string]string{
				"binary": p.Binary(), "images": p.ImagesDir(), "token": p.ServerToken(), "node-token": p.NodeToken(),
				"charts": p.StaticChartsDir(), "manifests": p.ManifestsDir(), "killall": p.KillallScript(),
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestRolePaths(t *testing.T) {
	got := map[Role][]string{}
	for _, r := range []Role{RoleServerFirst, RoleAgent} {
		got[r] = append([]string{UnitFile(r), OpenRCScript(r), OpenRCEnvFile(r), OpenRCLog(r)}, EnvFiles(r)...)
	}
	want := map[Role][]string{
		RoleServerFirst: {"/etc/systemd/system/k3s.service", "/etc/init.d/k3s", "/etc/rancher/k3s/k3s.env", "/var/log/k3s.log",
			"/etc/default/k3s", "/etc/sysconfig/k3s", "/etc/systemd/system/k3s.service.env"},
		RoleAgent: {"/etc/systemd/system/k3s-agent.service", "/etc/init.d/k3s-agent", "/etc/rancher/k3s/k3s-agent.env",
			"/var/log/k3s-agent.log", "/etc/default/k3s-agent", "/etc/sysconfig/k3s-agent", "/etc/systemd/system/k3s-agent.service.env"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
}

func TestImageArchive(t *testing.T) {
	final, temp, err := NewPaths(true, "").ImageArchive("k3s-airgap-images-arm64.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	if final != "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-arm64.tar.zst" ||
		temp != "/var/lib/rancher/k3s/agent/images/.k3s-airgap-images-arm64.tar.zst.ferry-partial" {
		t.Errorf("%s %s", final, temp)
	}
	// k3s imports by extension (§2): the temporary name must match none of them.
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.lz4", ".tar.bz2", ".txt"} {
		if strings.HasSuffix(temp, ext) {
			t.Errorf("temporary name %s ends in %s, which k3s would import", temp, ext)
		}
	}
	for _, bad := range []string{"", "../x.tar", "a/b.tar", ".hidden.tar", "x y.tar"} {
		if _, _, err := NewPaths(true, "").ImageArchive(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSELinuxDecision(t *testing.T) {
	tests := []struct {
		mode      string
		installed bool
		want      bool
		warn      bool
		err       bool
	}{
		{"enforcing", true, true, false, false},
		{"enforcing", false, false, false, true},
		{"permissive", false, false, true, false},
		{"permissive", true, true, false, false},
		{"disabled", false, false, false, false},
		{"", false, false, false, false},
		{"weird", true, false, false, true},
	}
	for _, tt := range tests {
		got, warn, err := SELinuxDecision(tt.mode, tt.installed)
		if got != tt.want || (warn != "") != tt.warn || (err != nil) != tt.err {
			t.Errorf("%q installed=%v: %v %q %v", tt.mode, tt.installed, got, warn, err)
		}
	}
}
