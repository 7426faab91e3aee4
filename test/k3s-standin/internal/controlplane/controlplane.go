package controlplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/k3s-io/helm-controller/pkg/config"
	"github.com/k3s-io/helm-controller/pkg/controllers"
	"github.com/k3s-io/helm-controller/pkg/crds"
	"github.com/k3s-io/kine/pkg/drivers/sqlite"
	"github.com/k3s-io/kine/pkg/endpoint"
	"github.com/rancher/wrangler/v3/pkg/crd"
	"github.com/spf13/pflag"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	logsapi "k8s.io/component-base/logs/api/v1"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	cmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	schedapp "k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/pki"
)

// Options chooses what the glue passes to the upstream components.
type Options struct {
	ServerDir         string // <data-dir>/server
	BindAddress       string
	AdvertiseAddress  string
	Port              int
	DatastoreEndpoint string // empty: own kine on sqlite
	KineListen        string // where kine listens (tcp://host:2379 lets other servers share it)
	ServiceCIDR       string
	ClusterCIDR       string
	NodeName          string
	HelmJobImage      string
	DisableHelm       bool
	DisableScheduler  bool
	// LeaderElect is set when servers share a datastore: one controller-manager and scheduler act.
	LeaderElect   bool
	APIServerArgs []string
	CMArgs        []string
	SchedulerArgs []string
	// Wrap is put in front of the API server's handler chain: the supervisor's routes (/cacerts,
	// /v1-k3s/..., /static/...) are answered there, everything else goes to the API server.
	Wrap func(http.Handler) http.Handler
	// Errs receives a component's fatal error.
	Errs chan<- error
}

// AdminKubeconfig is the kubeconfig the in-process components use (k3s: server/cred/admin.kubeconfig).
func (o Options) AdminKubeconfig() string {
	return filepath.Join(o.ServerDir, "cred", "admin.kubeconfig")
}

// Start starts every component and returns once they have been launched; readiness is the caller's
// to poll (/readyz). Fatal component errors go to o.Errs.
func Start(ctx context.Context, o Options) error {
	tlsDir := pki.Dir(filepath.Join(o.ServerDir, "tls"))
	etcdServers := o.DatastoreEndpoint
	if etcdServers == "" {
		if err := os.MkdirAll(filepath.Join(o.ServerDir, "db"), 0o700); err != nil {
			return err
		}
		listen := o.KineListen
		if listen == "" {
			listen = "unix://" + filepath.Join(o.ServerDir, "kine.sock")
		}
		etcd, err := endpoint.Listen(ctx, endpoint.Config{
			Listener: listen,
			// The parameters kine uses for its own default DSN (WAL, busy timeout, immediate txlock).
			Endpoint: "sqlite://" + DBPath(o.ServerDir) + "?" + sqlite.DefaultParams,
			// kine rejects zero values: these are its own CLI defaults.
			NotifyInterval:      5 * time.Second,
			EmulatedETCDVersion: "3.6.11",
			CompactTimeout:      5 * time.Second,
			CompactMinRetain:    1000,
			CompactBatchSize:    1000,
			PollBatchSize:       500,
		})
		if err != nil {
			return fmt.Errorf("starting kine: %w", err)
		}
		etcdServers = etcd.Endpoints[0]
		for _, e := range etcd.Endpoints[1:] {
			etcdServers += "," + e
		}
	}

	credDir := filepath.Join(o.ServerDir, "cred")
	server := fmt.Sprintf("https://127.0.0.1:%d", o.Port)
	for _, k := range []struct{ file, cn, org string }{
		{"admin.kubeconfig", "system:admin", "system:masters"},
		{"controller.kubeconfig", "system:kube-controller-manager", ""},
		{"scheduler.kubeconfig", "system:kube-scheduler", ""},
	} {
		var orgs []string
		if k.org != "" {
			orgs = []string{k.org}
		}
		if err := WriteKubeconfig(filepath.Join(credDir, k.file), server, tlsDir, k.cn, orgs, 0o600); err != nil {
			return err
		}
	}

	// Controller-manager and scheduler each apply the (identical) logging config; one process, one klog.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged
	if err := startAPIServer(ctx, o, tlsDir, etcdServers); err != nil {
		return err
	}
	go func() {
		if err := waitReady(ctx, o.AdminKubeconfig()); err != nil {
			return
		}
		go o.run("kube-controller-manager", func() error { return runControllerManager(o, tlsDir) })
		if !o.DisableScheduler {
			go o.run("kube-scheduler", func() error { return runScheduler(o) })
		}
		if !o.DisableHelm {
			go o.run("helm-controller", func() error { return runHelmController(ctx, o) })
		}
	}()
	return nil
}

// DBPath is the sqlite file k3s uses.
func DBPath(serverDir string) string { return filepath.Join(serverDir, "db", "state.db") }

func (o Options) run(name string, f func() error) {
	if err := f(); err != nil && o.Errs != nil {
		o.Errs <- fmt.Errorf("running %s: %w", name, err)
	}
}

func startAPIServer(ctx context.Context, o Options, tlsDir pki.Dir, etcdServers string) error {
	s := apiserveroptions.NewServerRunOptions()
	nfs := s.Flags()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range nfs.FlagSets {
		fs.AddFlagSet(f)
	}
	endpointReconciler := "lease"
	if ip := net.ParseIP(o.AdvertiseAddress); ip != nil && ip.IsLoopback() {
		// A loopback advertise address is refused by the endpoint reconciler.
		endpointReconciler = "none"
	}
	issuer := "https://kubernetes.default.svc.cluster.local"
	args := []string{
		"--etcd-servers=" + etcdServers,
		"--storage-backend=etcd3",
		"--bind-address=" + o.BindAddress,
		"--secure-port=" + strconv.Itoa(o.Port),
		"--advertise-address=" + o.AdvertiseAddress,
		"--endpoint-reconciler-type=" + endpointReconciler,
		"--cert-dir=" + filepath.Join(string(tlsDir), "temporary-certs"),
		"--tls-cert-file=" + tlsDir.Path(pki.ServingCert),
		"--tls-private-key-file=" + tlsDir.Path(pki.ServingKey),
		"--client-ca-file=" + tlsDir.Path(pki.ClientCACert),
		"--service-account-key-file=" + tlsDir.Path(pki.ServiceKey),
		"--service-account-signing-key-file=" + tlsDir.Path(pki.ServiceKey),
		"--service-account-issuer=" + issuer,
		"--api-audiences=" + issuer + ",k3s",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--anonymous-auth=false",
		"--allow-privileged=true",
		"--profiling=false",
		"--service-cluster-ip-range=" + o.ServiceCIDR,
		"--service-node-port-range=30000-32767",
	}
	args = append(args, prefixed(o.APIServerArgs)...)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parsing kube-apiserver flags: %w", err)
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("completing kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("validating kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	config, err := apiserverapp.NewConfig(completed)
	if err != nil {
		return fmt.Errorf("configuring kube-apiserver: %w", err)
	}
	cc, err := config.Complete()
	if err != nil {
		return err
	}
	chain, err := apiserverapp.CreateServerChain(cc)
	if err != nil {
		return fmt.Errorf("creating kube-apiserver: %w", err)
	}
	if o.Wrap != nil {
		h := chain.GenericAPIServer.Handler
		h.FullHandlerChain = o.Wrap(h.FullHandlerChain)
	}
	prepared, err := chain.PrepareRun()
	if err != nil {
		return err
	}
	go o.run("kube-apiserver", func() error { return prepared.Run(ctx) })
	return nil
}

func runControllerManager(o Options, tlsDir pki.Dir) error {
	cmd := cmapp.NewControllerManagerCommand()
	flexDir := filepath.Join(o.ServerDir, "flexvolume")
	_ = os.MkdirAll(flexDir, 0o755)
	kc := filepath.Join(o.ServerDir, "cred", "controller.kubeconfig")
	cmd.SetArgs(append([]string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--secure-port=0",
		fmt.Sprintf("--leader-elect=%t", o.LeaderElect),
		"--flex-volume-plugin-dir=" + flexDir,
		"--service-account-private-key-file=" + tlsDir.Path(pki.ServiceKey),
		"--root-ca-file=" + tlsDir.Path(pki.ServerCACert),
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + tlsDir.Path(pki.ClientCACert),
		"--cluster-signing-key-file=" + tlsDir.Path(pki.ClientCAKey),
		"--cluster-cidr=" + o.ClusterCIDR,
		"--service-cluster-ip-range=" + o.ServiceCIDR,
		"--configure-cloud-routes=false",
		"--controllers=*,tokencleaner",
		"--profiling=false",
	}, prefixed(o.CMArgs)...))
	return cmd.Execute()
}

func runScheduler(o Options) error {
	cmd := schedapp.NewSchedulerCommand()
	kc := filepath.Join(o.ServerDir, "cred", "scheduler.kubeconfig")
	cmd.SetArgs(append([]string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--secure-port=0",
		fmt.Sprintf("--leader-elect=%t", o.LeaderElect),
		"--profiling=false",
	}, prefixed(o.SchedulerArgs)...))
	return cmd.Execute()
}

func runHelmController(ctx context.Context, o Options) error {
	cfg := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.AdminKubeconfig()}, &clientcmd.ConfigOverrides{})
	restCfg, err := cfg.ClientConfig()
	if err != nil {
		return err
	}
	client, err := apiextclient.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	list, err := crds.List()
	if err != nil {
		return err
	}
	if err := crd.BatchCreateCRDs(ctx, client.ApiextensionsV1().CustomResourceDefinitions(), nil, time.Minute, list); err != nil {
		return fmt.Errorf("creating helm-controller CRDs: %w", err)
	}
	// k3s runs helm-controller for all namespaces, with cluster-admin for its jobs.
	return controllers.Register(ctx, "", "helm-controller", cfg, &config.Controller{
		Threadiness:     2,
		NodeName:        o.NodeName,
		JobClusterRole:  "cluster-admin",
		DefaultJobImage: o.HelmJobImage,
	})
}

// prefixed turns k3s's "key=value" extra-arg entries into flags.
func prefixed(extra []string) []string {
	out := make([]string, 0, len(extra))
	for _, a := range extra {
		if len(a) > 0 && a[0] != '-' {
			a = "--" + a
		}
		out = append(out, a)
	}
	return out
}

func waitReady(ctx context.Context, kubeconfig string) error {
	for {
		if err := Ready(ctx, kubeconfig); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Ready asks /readyz through a kubeconfig.
func Ready(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 2 * time.Second
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/readyz", nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}
