package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/config"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/pki"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/supervisor"
)

func runAgent(ctx context.Context, log *slog.Logger, args []string) error {
	start := time.Now()
	c, err := config.Load("agent", args, os.Getenv)
	if err != nil {
		return err
	}
	for _, k := range c.Skipped {
		log.Warn("config key is for k3s server only, skipping", "key", k)
	}
	server := c.String("server")
	if server == "" {
		return errors.New("k3s agent needs server (https://<server>:6443): set it in config.yaml or K3S_URL")
	}
	tok, err := readToken(c)
	if err != nil {
		return err
	}
	if tok.Password == "" {
		return errors.New("k3s agent needs token or token-file (the server's /var/lib/rancher/k3s/server/token)")
	}
	p := newPaths(c)
	name, err := nodeName(c, p)
	if err != nil {
		return err
	}
	var ca []byte
	var creds supervisor.NodeCredentials
	// The server may still be starting: retry as k3s's agent does.
	for {
		ca, err = supervisor.FetchCA(ctx, server, tok)
		if err == nil {
			creds, err = supervisor.FetchNodeCredentials(ctx, server, ca, tok, name)
		}
		if err == nil || errors.Is(err, supervisor.ErrCAHashMismatch) {
			break
		}
		log.Warn("joining server, retrying", "server", server, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: creds.CA}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: creds.Cert, ClientKeyData: creds.Key}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	kc, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	kcFile := filepath.Join(p.agent(), "kubelet.kubeconfig")
	if err := pki.WriteFileAtomic(kcFile, kc, 0o600); err != nil {
		return fmt.Errorf("writing node credentials: %w", err)
	}
	node, err := startNode(ctx, log, c, p, nodeSpec{name: name, ip: nodeIP(c), kubeconfig: kcFile, server: server, ca: creds.CA, role: "agent"})
	if err != nil {
		return err
	}
	defer node.stop()
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("notifying systemd", "err", err)
	}
	log.Info("k3s stand-in agent is up", "node", name, "server", server, "took", time.Since(start).Round(time.Millisecond))
	return wait(ctx, nil, node)
}
