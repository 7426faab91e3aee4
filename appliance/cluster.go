package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"

	helmclient "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DialFunc opens a connection to addr. The installer passes ssh.Client.Dial (wrapped to take a context), so
// the API server's 127.0.0.1:6443 on a server host is reached through the existing SSH session and no port
// has to be open towards the laptop.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Cluster is what every appliance verb talks to: the core clientset and helm-controller's typed clientset.
// Tests build it from the fake clientsets; Connect builds it from a kubeconfig.
type Cluster struct {
	Kube kubernetes.Interface
	Helm helmclient.Interface
}

// ErrNoDialer is returned when Connect is called without a dialer: Ferry never dials the API server
// directly from the laptop.
var ErrNoDialer = errors.New("no dialer: the API server is reached only through the SSH connection")

// RESTConfig turns a kubeconfig (k3s.yaml as written by k3s) into a rest.Config whose every connection is
// opened by dial. TLS verification against the kubeconfig's CA stays on: the dialer only carries bytes.
func RESTConfig(kubeconfig []byte, dial DialFunc) (*rest.Config, error) {
	if dial == nil {
		return nil, ErrNoDialer
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	if cfg.Insecure {
		return nil, fmt.Errorf("reading kubeconfig: insecure-skip-tls-verify is set; use the cluster's CA instead")
	}
	cfg.Dial = dial
	// The SSH channel is one TCP stream per dial; keep request rates modest so a slow link is not flooded.
	cfg.QPS, cfg.Burst = 20, 40
	cfg.UserAgent = "ferry-appliance"
	return cfg, nil
}

// Connect builds a Cluster from a kubeconfig, dialling through dial.
func Connect(kubeconfig []byte, dial DialFunc) (*Cluster, error) {
	cfg, err := RESTConfig(kubeconfig, dial)
	if err != nil {
		return nil, err
	}
	return NewCluster(cfg)
}

// NewCluster builds a Cluster from a ready rest.Config.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building kubernetes client: %w", err)
	}
	helm, err := helmclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building helm-controller client: %w", err)
	}
	return &Cluster{Kube: kube, Helm: helm}, nil
}
