package k3s

import (
	"errors"
	"os"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestRewriteKubeconfig(t *testing.T) {
	in, err := os.ReadFile("testdata/k3s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	san := []string{"k3s.site.example", "10.0.0.10", "fd00::10"}
	tests := []struct {
		name, address, golden, server string
	}{
		{"dns name", "k3s.site.example", "kubeconfig-dns.yaml", "https://k3s.site.example:6443"},
		{"ipv6", "fd00:0::10", "kubeconfig-ipv6.yaml", "https://[fd00::10]:6443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RewriteKubeconfig(in, tt.address, san, "plant-7")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, out)
			// Read it back the way kubectl would.
			cfg, err := clientcmd.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			if rc.Host != tt.server || cfg.CurrentContext != "plant-7" || len(rc.KeyData) == 0 || len(rc.CAData) == 0 {
				t.Errorf("host %s context %s key %d ca %d", rc.Host, cfg.CurrentContext, len(rc.KeyData), len(rc.CAData))
			}
		})
	}
}

func TestRewriteKubeconfigRefuses(t *testing.T) {
	in, _ := os.ReadFile("testdata/k3s.yaml")
	san := []string{"k3s.site.example", "10.0.0.10"}
	if _, err := RewriteKubeconfig(in, "10.0.0.11", san, "s"); !errors.Is(err, ErrAddressNotInSAN) {
		t.Errorf("address outside tls-san: %v", err)
	}
	if _, err := RewriteKubeconfig(in, "k3s.other.example", san, "s"); !errors.Is(err, ErrAddressNotInSAN) {
		t.Errorf("name outside tls-san: %v", err)
	}
	if _, err := RewriteKubeconfig([]byte("clusters: [}"), "10.0.0.10", san, "s"); !errors.Is(err, ErrBadKubeconfig) {
		t.Errorf("garbage: %v", err)
	}
	two := append(append([]byte{}, in...), []byte("")...)
	cfg, _ := clientcmd.Load(two)
	cfg.Clusters["other"] = cfg.Clusters["default"].DeepCopy()
	b, _ := clientcmd.Write(*cfg)
	if _, err := RewriteKubeconfig(b, "10.0.0.10", san, "s"); !errors.Is(err, ErrBadKubeconfig) {
		t.Errorf("two clusters: %v", err)
	}
}
