package k3s

import (
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
