package k3s

import (
	"fmt"
	"sort"

	"sigs.k8s.io/yaml"
)

// Registries is /etc/rancher/k3s/registries.yaml (§4, §8). Changes need a k3s restart on that node.
type Registries struct {
	Mirrors map[string]Mirror         `json:"mirrors,omitempty"`
	Configs map[string]RegistryConfig `json:"configs,omitempty"`
}

// Mirror: an empty Endpoint list means "no extra endpoint", which with the embedded registry means
// "ask the peers first" (§8).
type Mirror struct {
	Endpoint []string          `json:"endpoint,omitempty"`
	Rewrite  map[string]string `json:"rewrite,omitempty"`
}

type RegistryConfig struct {
	Auth *RegistryAuth `json:"auth,omitempty"`
	TLS  *RegistryTLS  `json:"tls,omitempty"`
}

type RegistryAuth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

type RegistryTLS struct {
	CAFile             string `json:"ca_file,omitempty"`
	CertFile           string `json:"cert_file,omitempty"`
	KeyFile            string `json:"key_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// EmbeddedMirror is the registries.yaml every node needs when embedded-registry is on (§8): a mirror
// entry per registry the bundle's images come from, or the "*" wildcard when none is named, so images
// imported on one node are pulled peer to peer by the others over 5001. Ferry's images use immutable
// tags or digests because Spegel does not share :latest.
func EmbeddedMirror(registries ...string) Registries {
	r := Registries{Mirrors: map[string]Mirror{}}
	if len(registries) == 0 {
		registries = []string{"*"}
	}
	for _, h := range registries {
		r.Mirrors[h] = Mirror{}
	}
	return r
}

// File renders registries.yaml, 0600 because configs may carry registry credentials. Keys come out sorted.
func (r Registries) File() (File, error) {
	for h := range r.Mirrors {
		if h == "" {
			return File{}, fmt.Errorf("rendering registries.yaml: %w: empty mirror host", ErrInvalidConfig)
		}
	}
	b, err := yaml.Marshal(r)
	if err != nil {
		return File{}, fmt.Errorf("rendering registries.yaml: %w", err)
	}
	return File{Path: RegistriesFile, Mode: SecretMode, Data: b}, nil
}

// Hosts lists the mirrored hosts, sorted, for messages and dry runs.
func (r Registries) Hosts() []string {
	hs := make([]string, 0, len(r.Mirrors))
	for h := range r.Mirrors {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	return hs
}
