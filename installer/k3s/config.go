package k3s

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// ErrInvalidConfig marks a config Ferry refuses to render: the site description is wrong, nothing is written.
var ErrInvalidConfig = errors.New("invalid k3s config")

// Disableable are the packaged components `disable` accepts (§4).
var Disableable = []string{"coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes"}

// Config is /etc/rancher/k3s/config.yaml (§4). Field names are the k3s flag names, so the rendered file
// reads like the k3s docs. Zero values are omitted: k3s then uses its own defaults.
//
// The cluster token goes in TokenFile (a 0600 file), not in Token: config.yaml is the file people cat,
// paste into tickets, diff between nodes and show in a dry run, and k3s's own docs print it; a token there
// would leak the secret that both joins nodes and encrypts the bootstrap data (§5). With token-file the
// config is free of secrets and can be logged and audited verbatim, and the secret sits in one file the
// uninstall script deletes. Token is kept only so a hand-made config can be parsed and checked.
type Config struct {
	Token          string `json:"token,omitempty"`
	TokenFile      string `json:"token-file,omitempty"`
	AgentToken     string `json:"agent-token,omitempty"`
	AgentTokenFile string `json:"agent-token-file,omitempty"`
	Server         string `json:"server,omitempty"`
	ClusterInit    bool   `json:"cluster-init,omitempty"`

	TLSSAN         []string `json:"tls-san,omitempty"`
	NodeIP         string   `json:"node-ip,omitempty"`
	NodeExternalIP string   `json:"node-external-ip,omitempty"`
	NodeName       string   `json:"node-name,omitempty"`
	WithNodeID     bool     `json:"with-node-id,omitempty"`
	// WriteKubeconfigMode is a string so YAML keeps it quoted: an unquoted 0600 is read as a number.
	WriteKubeconfigMode string   `json:"write-kubeconfig-mode,omitempty"`
	Disable             []string `json:"disable,omitempty"`

	EmbeddedRegistry               bool     `json:"embedded-registry,omitempty"`
	DisableDefaultRegistryEndpoint bool     `json:"disable-default-registry-endpoint,omitempty"`
	SELinux                        bool     `json:"selinux,omitempty"`
	DataDir                        string   `json:"data-dir,omitempty"`
	HelmJobImage                   string   `json:"helm-job-image,omitempty"`
	SystemDefaultRegistry          string   `json:"system-default-registry,omitempty"`
	KubeletArg                     []string `json:"kubelet-arg,omitempty"`
	ResolvConf                     string   `json:"resolv-conf,omitempty"`

	// Keys that must be identical on every server (§4); Ferry leaves them unset unless the site says
	// otherwise, and CheckServersAgree compares them.
	ClusterCIDR           string `json:"cluster-cidr,omitempty"`
	ServiceCIDR           string `json:"service-cidr,omitempty"`
	ClusterDNS            string `json:"cluster-dns,omitempty"`
	ClusterDomain         string `json:"cluster-domain,omitempty"`
	FlannelBackend        string `json:"flannel-backend,omitempty"`
	DisableHelmController bool   `json:"disable-helm-controller,omitempty"`
	DisableNetworkPolicy  bool   `json:"disable-network-policy,omitempty"`
	SecretsEncryption     bool   `json:"secrets-encryption,omitempty"`
}

// Cluster is what every node of one site shares; Node is what differs per host.
type Cluster struct {
	// FirstServer is the address (IP or DNS name) joiners use: server: https://<FirstServer>:6443 (§5).
	FirstServer           string
	TLSSAN                []string
	Disable               []string
	EmbeddedRegistry      bool
	SELinux               bool
	DataDir               string
	HelmJobImage          string
	SystemDefaultRegistry string
	KubeletArg            []string
	ResolvConf            string
	ClusterCIDR           string
	ServiceCIDR           string
	ClusterDomain         string
}

type Node struct {
	Role       Role
	Name       string
	IP         string
	ExternalIP string
	// WithNodeID appends a random suffix to the node name: for hosts whose names cannot be made unique (§5).
	WithNodeID bool
}

// ServerURL is the supervisor/API address joiners use (§5: port 6443).
func ServerURL(host string) string {
	return (&url.URL{Scheme: "https", Host: net.JoinHostPort(host, "6443")}).String()
}

// ConfigFor builds the config of one node. Agents get only agent keys: server-only keys on an agent are
// at best ignored and at worst refused by a newer k3s.
func (c Cluster) ConfigFor(n Node) (Config, error) {
	cfg := Config{
		TokenFile:  TokenFile,
		NodeIP:     n.IP,
		NodeName:   n.Name,
		WithNodeID: n.WithNodeID,
		SELinux:    c.SELinux,
		KubeletArg: slices.Clone(c.KubeletArg),
		ResolvConf: c.ResolvConf,

		NodeExternalIP: n.ExternalIP,
	}
	if c.DataDir != "" && path.Clean(c.DataDir) != DefaultDataDir {
		cfg.DataDir = path.Clean(c.DataDir)
	}
	if c.EmbeddedRegistry {
		// §8: an air-gapped site has no upstream registry, so containerd's fallback to the default
		// endpoint can only time out; turn it off wherever the mirror is on.
		cfg.DisableDefaultRegistryEndpoint = true
	}
	switch n.Role {
	case RoleServerFirst:
		cfg.ClusterInit = true
	case RoleServerJoin, RoleAgent:
		if c.FirstServer == "" {
			return Config{}, fmt.Errorf("building config for %s: %w: no first server to join", n.Name, ErrInvalidConfig)
		}
		cfg.Server = ServerURL(c.FirstServer)
	}
	if n.Role.IsServer() {
		cfg.TLSSAN = slices.Clone(c.TLSSAN)
		cfg.WriteKubeconfigMode = "0600" // §4, §5: the kubeconfig embeds the admin key
		cfg.Disable = slices.Clone(c.Disable)
		slices.Sort(cfg.Disable)
		cfg.EmbeddedRegistry = c.EmbeddedRegistry // §4: servers only
		cfg.HelmJobImage = c.HelmJobImage
		cfg.SystemDefaultRegistry = c.SystemDefaultRegistry
		cfg.ClusterCIDR = c.ClusterCIDR
		cfg.ServiceCIDR = c.ServiceCIDR
		cfg.ClusterDomain = c.ClusterDomain
	}
	if err := cfg.Validate(n.Role); err != nil {
		return Config{}, fmt.Errorf("building config for %s: %w", n.Name, err)
	}
	return cfg, nil
}

// Validate checks what k3s would only reject at start, on the host, after files were written.
func (c Config) Validate(r Role) error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.Token != "" && c.TokenFile != "" {
		bad("both token and token-file set; keep only token-file")
	}
	if c.Token == "" && c.TokenFile == "" && r != RoleServerFirst {
		bad("a joining node needs token-file")
	}
	if c.TokenFile != "" && !isAbsClean(c.TokenFile) {
		bad("token-file %q is not an absolute path", c.TokenFile)
	}
	switch {
	case r == RoleServerFirst && c.Server != "":
		bad("the first server must not have server: set (it would join, not init)")
	case r != RoleServerFirst && c.Server == "":
		bad("%s needs server: https://<first server>:6443", r)
	case r != RoleServerFirst && c.ClusterInit:
		bad("cluster-init is only for the first server")
	}
	if c.Server != "" {
		if u, err := url.Parse(c.Server); err != nil || u.Scheme != "https" || u.Port() == "" {
			bad("server %q is not https://host:port", c.Server)
		}
	}
	if c.NodeName != "" {
		for _, m := range validation.IsDNS1123Subdomain(c.NodeName) {
			bad("node-name %q: %s", c.NodeName, m)
		}
	}
	for _, ip := range []string{c.NodeIP, c.NodeExternalIP} {
		if ip != "" && net.ParseIP(ip) == nil {
			bad("%q is not an IP address", ip)
		}
	}
	for _, san := range c.TLSSAN {
		if net.ParseIP(san) == nil && len(validation.IsDNS1123Subdomain(san)) > 0 {
			bad("tls-san %q is neither an IP address nor a DNS name", san)
		}
	}
	for _, d := range c.Disable {
		if !slices.Contains(Disableable, d) {
			bad("disable %q is not one of %v", d, Disableable)
		}
	}
	if c.WriteKubeconfigMode != "" && c.WriteKubeconfigMode != "0600" && c.WriteKubeconfigMode != "600" {
		bad("write-kubeconfig-mode %q would expose the admin key; use \"0600\"", c.WriteKubeconfigMode)
	}
	if c.DataDir != "" && !isAbsClean(c.DataDir) {
		bad("data-dir %q is not an absolute path", c.DataDir)
	}
	if r == RoleAgent && (c.ClusterInit || c.EmbeddedRegistry || len(c.TLSSAN) > 0 || c.AgentToken != "") {
		bad("agent config carries server-only keys (cluster-init, embedded-registry, tls-san, agent-token)")
	}
	return errors.Join(errs...)
}

// Render is the config.yaml bytes: keys sorted (sigs.k8s.io/yaml goes through a map), so the same
// Config always renders the same bytes and a re-run can compare before rewriting.
func (c Config) Render() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("rendering k3s config: %w", err)
	}
	return b, nil
}

// File is config.yaml ready to write, 0600 (§4). It holds no secret but nobody but root needs it.
func (c Config) File() (File, error) {
	b, err := c.Render()
	if err != nil {
		return File{}, err
	}
	return File{Path: ConfigFile, Mode: SecretMode, Data: b}, nil
}
