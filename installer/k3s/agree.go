package k3s

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrServersDisagree marks servers whose configs differ in a key k3s requires to be identical: the join
// would fail on the host (§4), so Ferry refuses before writing anything.
var ErrServersDisagree = errors.New("servers disagree on a key that must be identical")

// agreeKey is one §4 must-be-identical key and how to read it from a Config. secret keys are compared but
// their values never printed.
type agreeKey struct {
	name   string
	secret bool
	get    func(Config) string
}

// mustAgree is the §4 list: agent-token, cluster-cidr, cluster-dns, cluster-domain,
// disable-helm-controller, disable-network-policy, servicelb disable, embedded-registry, flannel-backend,
// secrets-encryption, service-cidr.
var mustAgree = []agreeKey{
	{"agent-token", true, func(c Config) string { return c.AgentToken }},
	{"agent-token-file", false, func(c Config) string { return c.AgentTokenFile }},
	{"cluster-cidr", false, func(c Config) string { return c.ClusterCIDR }},
	{"cluster-dns", false, func(c Config) string { return c.ClusterDNS }},
	{"cluster-domain", false, func(c Config) string { return c.ClusterDomain }},
	{"disable-helm-controller", false, func(c Config) string { return fmt.Sprint(c.DisableHelmController) }},
	{"disable-network-policy", false, func(c Config) string { return fmt.Sprint(c.DisableNetworkPolicy) }},
	{"disable: servicelb", false, func(c Config) string { return fmt.Sprint(slices.Contains(c.Disable, "servicelb")) }},
	{"embedded-registry", false, func(c Config) string { return fmt.Sprint(c.EmbeddedRegistry) }},
	{"flannel-backend", false, func(c Config) string { return c.FlannelBackend }},
	{"secrets-encryption", false, func(c Config) string { return fmt.Sprint(c.SecretsEncryption) }},
	{"service-cidr", false, func(c Config) string { return c.ServiceCIDR }},
}

// CheckServersAgree compares the server configs (host name -> config) on every §4 key and returns one
// error per differing key, each naming the key and which hosts hold which value.
func CheckServersAgree(servers map[string]Config) error {
	hosts := make([]string, 0, len(servers))
	for h := range servers {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var errs []error
	for _, k := range mustAgree {
		groups := map[string][]string{}
		for _, h := range hosts {
			v := k.get(servers[h])
			groups[v] = append(groups[v], h)
		}
		if len(groups) < 2 {
			continue
		}
		var parts []string
		for v, hs := range groups {
			shown := fmt.Sprintf("%q", v)
			if k.secret {
				shown = "(a different secret)"
				if v == "" {
					shown = "(unset)"
				}
			}
			parts = append(parts, strings.Join(hs, ", ")+" = "+shown)
		}
		sort.Strings(parts)
		errs = append(errs, fmt.Errorf("%w: %s differs: %s; give every server the same value",
			ErrServersDisagree, k.name, strings.Join(parts, "; ")))
	}
	return errors.Join(errs...)
}
