package k3s

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNodeFiles(t *testing.T) {
	tok, _ := GenerateToken()
	tests := []struct {
		name string
		in   NodeFilesInput
		want []string
	}{
		{"systemd server with mirror", NodeFilesInput{Paths: NewPaths(true, ""), Cluster: testCluster,
			Node: Node{Role: RoleServerFirst, Name: "srv-1"}, Token: tok, Init: Systemd}, []string{
			"/usr/local/bin/ferry-k3s-killall.sh 755", "/usr/local/bin/ferry-k3s-uninstall.sh 755",
			"/etc/rancher/k3s/ferry-token 600", "/etc/rancher/k3s/config.yaml 600", "/etc/rancher/k3s/registries.yaml 600",
			"/etc/systemd/system/k3s.service.env 600", "/etc/systemd/system/k3s.service 644"}},
		{"openrc agent, no mirror", NodeFilesInput{Paths: NewPaths(false, ""), Cluster: Cluster{FirstServer: "srv-1"},
			Node: Node{Role: RoleAgent, Name: "wk"}, Token: tok, Init: OpenRC}, []string{
			"/opt/bin/ferry-k3s-killall.sh 755", "/opt/bin/ferry-k3s-uninstall.sh 755",
			"/etc/rancher/k3s/ferry-token 600", "/etc/rancher/k3s/config.yaml 600",
			"/etc/rancher/k3s/k3s-agent.env 600", "/etc/init.d/k3s-agent 755"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := NodeFiles(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, fmt.Sprintf("%s %o", f.Path, f.Mode))
				if f.Path != TokenFile && strings.Contains(string(f.Data), tok.Password) {
					t.Errorf("%s holds the token", f.Path)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Error(d)
			}
		})
	}
	if _, err := NodeFiles(NodeFilesInput{Paths: NewPaths(true, ""), Node: Node{Role: RoleServerFirst, Name: "s"}}); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("no token: %v", err)
	}
}
