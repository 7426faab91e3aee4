package k3s

import (
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var testCluster = Cluster{
	FirstServer:      "10.0.0.11",
	TLSSAN:           []string{"k3s.site.example", "10.0.0.10"},
	Disable:          []string{"traefik", "servicelb"},
	EmbeddedRegistry: true,
	KubeletArg:       []string{"max-pods=150"},
	HelmJobImage:     "rancher/klipper-helm:v0.9.8-build20250709",
}

func TestConfigGolden(t *testing.T) {
	tests := []struct {
		golden string
		node   Node
	}{
		{"config-server-first.yaml", Node{Role: RoleServerFirst, Name: "srv-1", IP: "10.0.0.11"}},
		{"config-server-join.yaml", Node{Role: RoleServerJoin, Name: "srv-2", IP: "10.0.0.12", ExternalIP: "192.0.2.12"}},
		{"config-agent.yaml", Node{Role: RoleAgent, Name: "worker", IP: "10.0.0.21", WithNodeID: true}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			cfg, err := testCluster.ConfigFor(tt.node)
			if err != nil {
				t.Fatal(err)
			}
			f, err := cfg.File()
			if err != nil {
				t.Fatal(err)
			}
			if f.Path != "/etc/rancher/k3s/config.yaml" || f.Mode != 0o600 {
				t.Errorf("file %s mode %o", f.Path, f.Mode)
			}
			golden(t, tt.golden, f.Data)
			again, _ := cfg.Render()
			if string(again) != string(f.Data) {
				t.Error("rendering twice gave different bytes")
			}
			// The file must read back as the same values, with the mode a string (quoted in YAML).
			var back map[string]any
			if err := yaml.Unmarshal(f.Data, &back); err != nil {
				t.Fatal(err)
			}
			if m, ok := back["write-kubeconfig-mode"]; tt.node.Role.IsServer() && m != "0600" {
				t.Errorf("write-kubeconfig-mode read back as %#v (%v)", m, ok)
			}
			if _, ok := back["token"]; ok {
				t.Error("config.yaml holds a plain token")
			}
			if back["token-file"] != TokenFile {
				t.Errorf("token-file = %v", back["token-file"])
			}
		})
	}
}

func TestConfigRefuses(t *testing.T) {
	tests := []struct {
		name   string
		c      Cluster
		n      Node
		substr string
	}{
		{"join without first server", Cluster{}, Node{Role: RoleAgent, Name: "a"}, "no first server"},
		{"unknown disable", Cluster{Disable: []string{"treafik"}}, Node{Role: RoleServerFirst, Name: "s"}, `disable "treafik"`},
		{"bad node name", Cluster{}, Node{Role: RoleServerFirst, Name: "Srv_1"}, `node-name "Srv_1"`},
		{"bad node ip", Cluster{}, Node{Role: RoleServerFirst, Name: "s", IP: "10.0.0"}, `"10.0.0" is not an IP`},
		{"bad tls-san", Cluster{TLSSAN: []string{"not a name"}}, Node{Role: RoleServerFirst, Name: "s"}, "tls-san"},
		{"relative data dir", Cluster{DataDir: "k3s"}, Node{Role: RoleServerFirst, Name: "s"}, "data-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.ConfigFor(tt.n)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.substr) {
				t.Fatalf("err = %v, want ErrInvalidConfig mentioning %q", err, tt.substr)
			}
		})
	}
}

func TestValidateRoleRules(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		role   Role
		substr string
	}{
		{"plain token and file", Config{Token: "x", TokenFile: TokenFile}, RoleServerFirst, "both token and token-file"},
		{"first with server", Config{Server: "https://a:6443"}, RoleServerFirst, "must not have server"},
		{"join without token", Config{Server: "https://a:6443"}, RoleServerJoin, "needs token-file"},
		{"join with cluster-init", Config{TokenFile: TokenFile, Server: "https://a:6443", ClusterInit: true}, RoleServerJoin, "cluster-init"},
		{"server not https", Config{TokenFile: TokenFile, Server: "http://a:6443"}, RoleAgent, "not https"},
		{"agent with server keys", Config{TokenFile: TokenFile, Server: "https://a:6443", TLSSAN: []string{"a"}}, RoleAgent, "server-only"},
		{"open kubeconfig", Config{WriteKubeconfigMode: "0644"}, RoleServerFirst, "expose the admin key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate(tt.role)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.substr) {
				t.Fatalf("err = %v, want ErrInvalidConfig mentioning %q", err, tt.substr)
			}
		})
	}
}

func TestCheckServersAgree(t *testing.T) {
	base := func() Config {
		c, err := testCluster.ConfigFor(Node{Role: RoleServerJoin, Name: "s"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	same := map[string]Config{"srv-1": base(), "srv-2": base(), "srv-3": base()}
	if err := CheckServersAgree(same); err != nil {
		t.Fatalf("identical servers: %v", err)
	}

	odd := base()
	odd.ClusterCIDR = "10.50.0.0/16"
	odd.Disable = []string{"traefik"} // servicelb enabled here only
	odd.AgentToken = "s3cret-agent-token"
	err := CheckServersAgree(map[string]Config{"srv-1": base(), "srv-2": odd, "srv-3": base()})
	if !errors.Is(err, ErrServersDisagree) {
		t.Fatalf("err = %v, want ErrServersDisagree", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`cluster-cidr differs: srv-1, srv-3 = ""; srv-2 = "10.50.0.0/16"`,
		`disable: servicelb differs: srv-1, srv-3 = "true"; srv-2 = "false"`,
		"agent-token differs: srv-1, srv-3 = (unset); srv-2 = (a different secret)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "s3cret") {
		t.Error("error leaks the agent token")
	}
	if strings.Contains(msg, "tls-san") || strings.Contains(msg, "node-name") {
		t.Error("error names keys that may differ")
	}
}
