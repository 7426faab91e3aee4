package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/config"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/controlplane"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/pki"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/supervisor"
)

const defaultJobImage = "rancher/klipper-helm:standin"

func runServer(ctx context.Context, log *slog.Logger, args []string) error {
	start := time.Now()
	c, err := config.Load("server", args, os.Getenv)
	if err != nil {
		return err
	}
	for _, k := range c.Skipped {
		log.Warn("config key is for k3s agent only, skipping", "key", k)
	}
	p := newPaths(c)
	name, err := nodeName(c, p)
	if err != nil {
		return err
	}
	ip := nodeIP(c)
	port, err := httpsPort(c)
	if err != nil {
		return err
	}
	mode, err := kubeconfigMode(c)
	if err != nil {
		return err
	}
	tok, err := readToken(c)
	if err != nil {
		return err
	}
	tlsDir := pki.Dir(p.tls())
	datastore := c.String("datastore-endpoint")

	joinURL := c.String("server")
	if joinURL != "" {
		// Joining server: same CAs as the first server; shares its datastore (documented simplification).
		if tok.Password == "" {
			return errors.New("joining a server needs token or token-file")
		}
		ca, err := supervisor.FetchCA(ctx, joinURL, tok)
		if err != nil {
			return err
		}
		files, err := supervisor.FetchBootstrap(ctx, joinURL, ca, tok)
		if err != nil {
			return err
		}
		for _, f := range pki.BootstrapFiles {
			if err := pki.WriteFileAtomic(tlsDir.Path(f), files[f], 0o600); err != nil {
				return err
			}
		}
		if datastore == "" {
			u, err := url.Parse(joinURL)
			if err != nil {
				return fmt.Errorf("parsing server %q: %w", joinURL, err)
			}
			datastore = "http://" + u.Hostname() + ":2379"
		}
	} else if err := tlsDir.EnsureCAs(); err != nil {
		return err
	}

	hash, err := tlsDir.CAHash()
	if err != nil {
		return err
	}
	if tok.CAHash != "" && tok.CAHash != hash {
		return fmt.Errorf("token's CA hash does not match this server's CA (%w)", pki.ErrBadToken)
	}
	if tok.Password == "" {
		if old, err := os.ReadFile(p.tokenFile()); err == nil {
			if t, err := pki.ParseToken(string(old)); err == nil {
				tok = t
			}
		}
		if tok.Password == "" {
			tok.Password = pki.RandomPassword()
		}
	}
	tok.CAHash = hash
	for _, f := range []string{p.tokenFile(), p.nodeTokenFile()} {
		if err := pki.WriteFileAtomic(f, []byte(tok.String()+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing token: %w", err)
		}
	}
	agentPW := ""
	if at := c.String("agent-token"); at != "" {
		t, err := pki.ParseToken(at)
		if err != nil {
			return err
		}
		agentPW = t.Password
		if err := pki.WriteFileAtomic(filepath.Join(p.server(), "agent-token"), []byte(pki.Token{CAHash: hash, Password: t.Password}.String()+"\n"), 0o600); err != nil {
			return err
		}
	}

	hostname, _ := os.Hostname()
	sans := []string{"127.0.0.1", "::1", "localhost", hostname, name, ip, "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.43.0.1"}
	sans = append(sans, c.List("node-external-ip")...)
	sans = append(sans, c.List("tls-san")...)
	if err := tlsDir.IssueServing(sans); err != nil {
		return err
	}
	for _, d := range []string{filepath.Join(p.server(), "static", "charts"), filepath.Join(p.server(), "manifests")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	kineListen := ""
	if c.Bool("cluster-init") && joinURL == "" && datastore == "" {
		// Other servers join by sharing this kine (documented simplification of embedded etcd).
		kineListen = "tcp://0.0.0.0:2379"
	}
	sup := &supervisor.Server{TLS: tlsDir, StaticDir: filepath.Join(p.server(), "static"),
		Password: func() (string, string) { return tok.Password, agentPW }}
	errs := make(chan error, 8)
	jobImage := c.String("helm-job-image")
	if jobImage == "" {
		jobImage = defaultJobImage
	}
	cp := controlplane.Options{
		ServerDir:         p.server(),
		BindAddress:       orDefault(c.String("bind-address"), "0.0.0.0"),
		AdvertiseAddress:  orDefault(c.String("advertise-address"), ip),
		Port:              port,
		DatastoreEndpoint: datastore,
		KineListen:        kineListen,
		ServiceCIDR:       orDefault(first(c.List("service-cidr")), "10.43.0.0/16"),
		ClusterCIDR:       orDefault(first(c.List("cluster-cidr")), "10.42.0.0/16"),
		NodeName:          name,
		HelmJobImage:      jobImage,
		DisableHelm:       c.Bool("disable-helm-controller"),
		DisableScheduler:  c.Bool("disable-scheduler"),
		LeaderElect:       c.Bool("cluster-init") || joinURL != "" || c.String("datastore-endpoint") != "",
		APIServerArgs:     c.List("kube-apiserver-arg"),
		CMArgs:            c.List("kube-controller-manager-arg"),
		SchedulerArgs:     c.List("kube-scheduler-arg"),
		Wrap:              sup.Wrap,
		Errs:              errs,
	}
	if err := controlplane.Start(ctx, cp); err != nil {
		return err
	}
	if err := waitFor(ctx, errs, func() error { return controlplane.Ready(ctx, cp.AdminKubeconfig()) }); err != nil {
		return fmt.Errorf("waiting for the API server: %w", err)
	}
	log.Info("API server ready", "port", port, "took", time.Since(start).Round(time.Millisecond))

	kcPath := orDefault(c.String("write-kubeconfig"), "/etc/rancher/k3s/k3s.yaml")
	if err := writeAdminKubeconfig(kcPath, port, tlsDir, mode); err != nil {
		return err
	}

	var node *nodeRuntime
	if !c.Bool("disable-agent") {
		kc, err := controlplane.Kubeconfig(fmt.Sprintf("https://127.0.0.1:%d", port), tlsDir, "system:node:"+name, []string{"system:nodes"})
		if err != nil {
			return err
		}
		kcFile := filepath.Join(p.agent(), "kubelet.kubeconfig")
		if err := pki.WriteFileAtomic(kcFile, kc, 0o600); err != nil {
			return err
		}
		ca, _ := os.ReadFile(tlsDir.Path(pki.ServerCACert))
		node, err = startNode(ctx, log, c, p, nodeSpec{name: name, ip: ip, kubeconfig: kcFile,
			server: fmt.Sprintf("https://127.0.0.1:%d", port), ca: ca, role: "server"})
		if err != nil {
			return err
		}
		defer node.stop()
		go labelServerNode(ctx, log, cp.AdminKubeconfig(), name, c.Bool("cluster-init") || joinURL != "")
	}
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("notifying systemd", "err", err)
	}
	log.Info("k3s stand-in server is up", "node", name, "version", version, "took", time.Since(start).Round(time.Millisecond))
	return wait(ctx, errs, node)
}

// readToken takes token, else token-file's content, else nothing.
func readToken(c *config.Config) (pki.Token, error) {
	s := c.String("token")
	if s == "" && c.String("token-file") != "" {
		b, err := os.ReadFile(c.String("token-file"))
		if err != nil {
			return pki.Token{}, fmt.Errorf("reading token-file: %w", err)
		}
		s = string(b)
	}
	if strings.TrimSpace(s) == "" {
		return pki.Token{}, nil
	}
	return pki.ParseToken(s)
}

func writeAdminKubeconfig(path string, port int, tlsDir pki.Dir, mode os.FileMode) error {
	// The admin certificate is made once and reused, like k3s's client-admin.crt.
	if _, err := os.Stat(tlsDir.Path(pki.AdminCert)); err != nil {
		cert, key, err := tlsDir.IssueClient("system:admin", "system:masters")
		if err != nil {
			return err
		}
		if err := pki.WriteFileAtomic(tlsDir.Path(pki.AdminKey), key, 0o600); err != nil {
			return err
		}
		if err := pki.WriteFileAtomic(tlsDir.Path(pki.AdminCert), cert, 0o644); err != nil {
			return err
		}
	}
	kc, err := controlplane.Kubeconfig(fmt.Sprintf("https://127.0.0.1:%d", port), tlsDir, "system:admin", []string{"system:masters"})
	if err != nil {
		return err
	}
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		return err
	}
	cert, _ := os.ReadFile(tlsDir.Path(pki.AdminCert))
	key, _ := os.ReadFile(tlsDir.Path(pki.AdminKey))
	cfg.AuthInfos["default"].ClientCertificateData, cfg.AuthInfos["default"].ClientKeyData = cert, key
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(path, b, mode); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// labelServerNode sets the role labels k3s's server sets on its own node (a kubelet may not).
func labelServerNode(ctx context.Context, log *slog.Logger, adminKC, name string, etcd bool) {
	cfg, err := clientcmd.BuildConfigFromFlags("", adminKC)
	if err != nil {
		return
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return
	}
	patch := `{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":"true","node-role.kubernetes.io/master":"true"`
	if etcd {
		patch += `,"node-role.kubernetes.io/etcd":"true"`
	}
	patch += `}}}`
	for ctx.Err() == nil {
		_, err := cs.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		if err == nil {
			log.Info("labelled server node", "node", name)
			return
		}
		time.Sleep(time.Second)
	}
}

func waitFor(ctx context.Context, errs <-chan error, f func() error) error {
	for {
		if err := f(); err == nil {
			return nil
		}
		select {
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func wait(ctx context.Context, errs <-chan error, node *nodeRuntime) error {
	var exited <-chan error
	if node != nil {
		exited = node.containerd.Exited()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		return err
	case err := <-exited:
		return fmt.Errorf("containerd exited: %v", err)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}
