package controlplane

import (
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/pki"
)

// WriteKubeconfig writes a kubeconfig with a fresh client certificate for cn, in k3s's shape (cluster,
// user and context all named "default").
func WriteKubeconfig(path, server string, tlsDir pki.Dir, cn string, orgs []string, mode os.FileMode) error {
	b, err := Kubeconfig(server, tlsDir, cn, orgs)
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(path, b, mode); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// Kubeconfig renders a kubeconfig for cn.
func Kubeconfig(server string, tlsDir pki.Dir, cn string, orgs []string) ([]byte, error) {
	ca, err := os.ReadFile(tlsDir.Path(pki.ServerCACert))
	if err != nil {
		return nil, err
	}
	cert, key, err := tlsDir.IssueClient(cn, orgs...)
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	return clientcmd.Write(*cfg)
}
