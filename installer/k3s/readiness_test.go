package k3s

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func names(cs []Check) []string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return n
}

func TestReadinessPlan(t *testing.T) {
	p := NewPaths(true, "")
	tests := []struct {
		name    string
		nodes   []string
		disable []string
		want    []string
	}{
		{"everything on", []string{"srv-1", "wk-1"}, nil, []string{
			"API server ready (/readyz)", "node srv-1 Ready", "node wk-1 Ready",
			"deployment coredns Available", "deployment local-path-provisioner Available", "deployment metrics-server Available",
			"helm job helm-install-traefik-crd Complete", "helm job helm-install-traefik Complete"}},
		{"traefik, storage, metrics off", []string{"srv-1"}, []string{"traefik", "local-storage", "metrics-server"}, []string{
			"API server ready (/readyz)", "node srv-1 Ready", "deployment coredns Available"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReadinessPlan(p, tt.nodes, tt.disable)
			if d := cmp.Diff(tt.want, names(got)); d != "" {
				t.Error(d)
			}
			for _, c := range got {
				if c.Argv[0] != "/usr/local/bin/k3s" || c.Argv[1] != "kubectl" || c.Want == "" {
					t.Errorf("%s: %v want %q", c.Name, c.Argv, c.Want)
				}
			}
		})
	}
	got := ReadinessPlan(p, []string{"n"}, nil)
	if d := cmp.Diff([]string{"/usr/local/bin/k3s", "kubectl", "get", "--raw", "/readyz"}, got[0].Argv); d != "" {
		t.Error(d)
	}
	if j := strings.Join(got[1].Argv, " "); j != `/usr/local/bin/k3s kubectl get node n -o jsonpath={.status.conditions[?(@.type=="Ready")].status}` {
		t.Errorf("node check: %s", j)
	}
	if pre := PreStartChecks(NewPaths(false, "")); pre[0].Argv[0] != "/opt/bin/k3s" || pre[0].Argv[1] != "check-config" {
		t.Errorf("pre-start: %v", pre)
	}
}
