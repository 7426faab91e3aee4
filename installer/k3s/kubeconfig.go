package k3s

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ErrAddressNotInSAN: the API certificate would not be valid for that address, so every client would fail
// TLS verification (§5: rewrite server to an address that is in tls-san).
var ErrAddressNotInSAN = errors.New("address is not in the server's tls-san")

// ErrBadKubeconfig marks a k3s.yaml that is not the single-cluster file k3s writes.
var ErrBadKubeconfig = errors.New("unexpected k3s kubeconfig")

// RewriteKubeconfig takes k3s.yaml as fetched from a server (server https://127.0.0.1:6443, one cluster,
// user and context all named "default") and returns it pointing at https://<address>:6443 with cluster,
// user and context named after the site, ready to store 0600 in the site records (§5). address must be one
// of tlsSAN; 127.0.0.1 and localhost would only work on the server itself, and k3s always includes them.
func RewriteKubeconfig(k3sYAML []byte, address string, tlsSAN []string, site string) ([]byte, error) {
	if !inSAN(address, tlsSAN) {
		return nil, fmt.Errorf("rewriting kubeconfig to %s: %w %v; add it to the site's tls-san and re-run the install",
			address, ErrAddressNotInSAN, tlsSAN)
	}
	if site == "" {
		return nil, fmt.Errorf("rewriting kubeconfig: %w: empty site name", ErrBadKubeconfig)
	}
	cfg, err := clientcmd.Load(k3sYAML)
	if err != nil {
		return nil, fmt.Errorf("rewriting kubeconfig: %w: %w", ErrBadKubeconfig, err)
	}
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		return nil, fmt.Errorf("rewriting kubeconfig: %w: want 1 cluster, user and context, have %d, %d, %d",
			ErrBadKubeconfig, len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}
	var cluster *clientcmdapi.Cluster
	var user *clientcmdapi.AuthInfo
	var ctx *clientcmdapi.Context
	for _, c := range cfg.Clusters {
		cluster = c
	}
	for _, u := range cfg.AuthInfos {
		user = u
	}
	for _, c := range cfg.Contexts {
		ctx = c
	}
	u, err := url.Parse(cluster.Server)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("rewriting kubeconfig: %w: server %q is not https", ErrBadKubeconfig, cluster.Server)
	}
	port := u.Port()
	if port == "" {
		port = "6443"
	}
	if ip := net.ParseIP(address); ip != nil {
		address = ip.String() // one spelling of an IPv6 address, the one certificates and tools print
	}
	u.Host = net.JoinHostPort(address, port)
	cluster.Server = u.String()
	ctx.Cluster, ctx.AuthInfo = site, site

	out := clientcmdapi.NewConfig()
	out.Clusters[site] = cluster
	out.AuthInfos[site] = user
	out.Contexts[site] = ctx
	out.CurrentContext = site
	b, err := clientcmd.Write(*out)
	if err != nil {
		return nil, fmt.Errorf("rewriting kubeconfig: %w", err)
	}
	return b, nil
}

func inSAN(address string, san []string) bool {
	if ip := net.ParseIP(address); ip != nil {
		return slices.ContainsFunc(san, func(s string) bool { return ip.Equal(net.ParseIP(s)) })
	}
	return address != "" && slices.Contains(san, address)
}
