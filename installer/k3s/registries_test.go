package k3s

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestEmbeddedMirror(t *testing.T) {
	tests := []struct {
		golden string
		hosts  []string
	}{
		{"registries-wildcard.yaml", nil},
		{"registries-hosts.yaml", []string{"registry.example:5000", "docker.io"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			r := EmbeddedMirror(tt.hosts...)
			f, err := r.File()
			if err != nil {
				t.Fatal(err)
			}
			if f.Path != "/etc/rancher/k3s/registries.yaml" || f.Mode != 0o600 {
				t.Errorf("%s %o", f.Path, f.Mode)
			}
			golden(t, tt.golden, f.Data)
			var back Registries
			if err := yaml.UnmarshalStrict(f.Data, &back); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(r.Hosts(), back.Hosts()); d != "" {
				t.Error(d)
			}
		})
	}
}
