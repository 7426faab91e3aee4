package klipper

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/release"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// ConfigHashLabel is the release label helm-controller compares with the HelmChart's hash.
const ConfigHashLabel = "helmcharts.helm.cattle.io/configHash"

// ErrAborted is klipper-helm's refusal to touch a failed release under failurePolicy abort.
var ErrAborted = errors.New("release status is failed and failure policy is abort: waiting for operator intervention")

// IsHelmJobPod reports whether a pod is a helm-controller Job pod this package runs.
func IsHelmJobPod(pod *corev1.Pod) bool {
	if pod.Labels["helmcharts.helm.cattle.io/chart"] == "" {
		return false
	}
	for _, o := range pod.OwnerReferences {
		if o.Kind == "Job" && (strings.HasPrefix(o.Name, "helm-install-") || strings.HasPrefix(o.Name, "helm-delete-")) {
			return true
		}
	}
	return false
}

// Runner runs helm job pods for one node.
//
// A pod's work is done at most once (per pod UID): a container that has exited is never started again in
// the same pod, and helm-controller's delete flow relies on that. The kubelet keeps its own mark until it
// sees the pod's final phase and retries that write on conflicts; should it still ask again for a pod it
// already ran, the call returns the first run's result without touching the release (defence in depth:
// before the kubelet's fix this guard absorbed 1-5 repeated asks per e2e run). Re-running
// an install pod there upgraded the release while the helm-delete pod was uninstalling it, which could
// leave a release Secret behind after the HelmChart was gone.
//
// With Dir set, each pod's run is also kept on disk, so "once per pod" survives the stand-in's own
// restart the way a container survives a k3s restart (containerd keeps it; the kubelet never starts an
// exited container again): a pod whose work finished before the restart gets that result back. Without
// it, a restart (the stand-in exits when an embedded controller loses its leader lease, as k3s does,
// which a heavily loaded machine can cause) re-runs every helm pod still shown Running, and a re-run of
// an upgrade pod whose helm run had gone through is a second upgrade: one more helm revision.
type Runner struct {
	Node   kubernetes.Interface // the node's own client: reads the pod's volumes, requests its token
	Server string               // API URL as this node reaches it; replaces %{KUBERNETES_API}%
	CA     []byte
	Log    func(format string, args ...any)
	// Work does the pod's helm work; nil means the real one (tests count calls through it).
	Work func(ctx context.Context, pod *corev1.Pod, logf func(string, ...any)) error
	// Dir keeps one file per pod run (<pod UID>.json): written "started" before the work, then with the
	// result. Empty: runs are remembered in memory only.
	Dir string

	mu   sync.Mutex
	runs map[types.UID]*podRun
}

// podRun is one pod's single run: done closes when out, err and ended are final.
type podRun struct {
	done  chan struct{}
	out   string
	err   error
	ended time.Time
}

// keepRuns is how long a finished run is remembered: far longer than the kubelet takes to see a pod's
// final status (seconds), short enough that the map stays small over a long-lived server.
const keepRuns = time.Hour

// Run does the pod's work and returns its output (for the termination message) and error. For a pod
// already run (or running), it waits for and returns that run's result instead.
func (r *Runner) Run(ctx context.Context, pod *corev1.Pod) (string, error) {
	r.mu.Lock()
	if r.runs == nil {
		r.runs = map[types.UID]*podRun{}
	}
	if pr, ok := r.runs[pod.UID]; ok {
		r.mu.Unlock()
		if r.Log != nil {
			r.Log("%s/%s: already run in this pod; reporting its result again", pod.Namespace, pod.Name)
		}
		select {
		case <-pr.done:
			return pr.out, pr.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	for uid, old := range r.runs {
		select {
		case <-old.done:
			if time.Since(old.ended) > keepRuns {
				delete(r.runs, uid)
			}
		default:
		}
	}
	pr := &podRun{done: make(chan struct{})}
	r.runs[pod.UID] = pr
	kept, found := r.load(pod.UID)
	if found && kept.Done {
		// Run before the stand-in restarted: its result stands, as an exited container's would.
		pr.out, pr.err, pr.ended = kept.Out, kept.err(), time.Now()
		close(pr.done)
		r.mu.Unlock()
		if r.Log != nil {
			r.Log("%s/%s: already run in this pod before a restart; reporting its result again", pod.Namespace, pod.Name)
		}
		return pr.out, pr.err
	}
	r.prune()
	r.mu.Unlock()

	var out bytes.Buffer
	logf := func(format string, args ...any) {
		fmt.Fprintf(&out, format+"\n", args...)
		if r.Log != nil {
			r.Log("%s/%s: "+format, append([]any{pod.Namespace, pod.Name}, args...)...)
		}
	}
	if found {
		// The stand-in stopped in the middle of this run (its helm work died with it, as a container
		// killed with its node): run it again, as the kubelet restarts a killed container (restartPolicy
		// OnFailure); klipper-helm's own checks decide what the second run may do.
		logf("The helm run of this pod was interrupted by a restart of the node; running it again")
	}
	if err := r.save(pod.UID, runRecord{}); err != nil && r.Log != nil {
		r.Log("%s/%s: keeping the run on disk: %v", pod.Namespace, pod.Name, err)
	}
	work := r.Work
	if work == nil {
		work = r.run
	}
	err := work(ctx, pod, logf)
	if err != nil {
		logf("Error: %v", err)
	}
	pr.out, pr.err, pr.ended = out.String(), err, time.Now()
	if ctx.Err() == nil {
		// A run cut short by the stand-in stopping stays "started": the next start runs it again.
		rec := runRecord{Done: true, Out: pr.out}
		if err != nil {
			rec.Err = err.Error()
		}
		if serr := r.save(pod.UID, rec); serr != nil && r.Log != nil {
			r.Log("%s/%s: keeping the run's result on disk: %v", pod.Namespace, pod.Name, serr)
		}
	}
	close(pr.done)
	return pr.out, pr.err
}

// runRecord is one pod's run as kept in Dir.
type runRecord struct {
	Done bool   `json:"done"`
	Out  string `json:"out,omitempty"`
	Err  string `json:"err,omitempty"` // the run's error ("" for success)
}

func (k runRecord) err() error {
	if k.Err == "" {
		return nil
	}
	return errors.New(k.Err)
}

func (r *Runner) runFile(uid types.UID) string { return filepath.Join(r.Dir, string(uid)+".json") }

// load reads a pod's kept run (found false without Dir or file; an unreadable file counts as started:
// the run is done again rather than its result made up).
func (r *Runner) load(uid types.UID) (rec runRecord, found bool) {
	if r.Dir == "" {
		return runRecord{}, false
	}
	b, err := os.ReadFile(r.runFile(uid))
	if err != nil {
		return runRecord{}, false
	}
	if json.Unmarshal(b, &rec) != nil {
		return runRecord{}, true
	}
	return rec, true
}

// save writes a pod's run record (temp file + rename: a restart sees the old record or the new one).
func (r *Runner) save(uid types.UID, rec runRecord) error {
	if r.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := r.runFile(uid) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.runFile(uid))
}

// prune removes kept runs older than keepRuns (their pods are long gone).
func (r *Runner) prune() {
	if r.Dir == "" {
		return
	}
	ents, err := os.ReadDir(r.Dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > keepRuns {
			_ = os.Remove(filepath.Join(r.Dir, e.Name()))
		}
	}
}

type job struct {
	args      []string
	env       map[string]string
	namespace string // TARGET_NAMESPACE
}

func (r *Runner) run(ctx context.Context, pod *corev1.Pod, logf func(string, ...any)) error {
	if len(pod.Spec.Containers) == 0 {
		return errors.New("pod has no containers")
	}
	c := pod.Spec.Containers[0]
	j := job{args: c.Args, env: map[string]string{}}
	for _, e := range c.Env {
		j.env[e.Name] = e.Value
	}
	j.namespace = j.env["TARGET_NAMESPACE"]
	if j.namespace == "" {
		j.namespace = pod.Namespace
	}
	timeout := 300 * time.Second
	if t := j.env["TIMEOUT"]; t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return fmt.Errorf("parsing TIMEOUT %q: %w", t, err)
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()

	getter, err := r.podCredentials(ctx, pod, j.namespace)
	if err != nil {
		return err
	}
	cfg := new(action.Configuration)
	driver := j.env["HELM_DRIVER"]
	if driver == "" {
		driver = "secret"
	}
	if err := cfg.Init(getter, j.namespace, driver, func(string, ...any) {}); err != nil {
		return fmt.Errorf("initializing helm: %w", err)
	}
	name := j.env["NAME"]
	if len(j.args) > 0 && j.args[0] == "delete" {
		last, _ := lastRelease(cfg, name)
		if last == nil {
			logf("Release %s not found, nothing to delete", name)
			return nil
		}
		u := action.NewUninstall(cfg)
		u.Timeout = timeout
		logf("Uninstalling %s", name)
		_, err := u.Run(name)
		return err
	}

	flags, err := parseInstallArgs(j.args)
	if err != nil {
		return err
	}
	ch, err := r.loadChart(ctx, pod, j)
	if err != nil {
		return err
	}
	vals, err := r.values(ctx, pod, flags)
	if err != nil {
		return err
	}
	return installOrUpgrade(ctx, cfg, j, flags, ch, vals, timeout, logf)
}

// revisionMoved is klipper-helm's revision guard (klipper-helm v0.9.15+, paired with helm-controller
// v0.17's EXPECTED_RELEASE_REVISION, k3s-io/klipper-helm#120): helm-controller writes into each job the
// newest release revision it saw when it made the job, and a pod that finds another newest revision does
// not run helm and exits 0 (k3s-io/klipper-helm#126: "retrying will not help"). Another pod already
// acted on this job's spec (helm-controller replacing a job it had resumed, a retried pod, a re-run after
// a restart), or the release moved since: running helm again would add a revision (a second upgrade of
// the same spec) or undo a newer one. Unset (older helm-controller) checks nothing.
//
// A newest revision that is failed or pending is left to the failure policy below, as before: klipper-helm
// v0.9.15/16 skipped those too, so a failed upgrade's retry exited 0 and its job completed
// (k3s-io/helm-controller#327, closed with a newer klipper-helm); the stand-in keeps the failure
// policy's answer (abort: the pod fails), which Ferry's health reads either way from the failed release.
func revisionMoved(env map[string]string, last *release.Release) (string, bool) {
	want, ok := env["EXPECTED_RELEASE_REVISION"]
	if !ok || want == "" {
		return "", false
	}
	cur := 0
	if last != nil {
		cur = last.Version
		if last.Info != nil && (last.Info.Status == release.StatusFailed || last.Info.Status.IsPending()) {
			return "", false
		}
	}
	if want == strconv.Itoa(cur) {
		return "", false
	}
	return fmt.Sprintf("Current release revision %d does not match expected revision %s; not running helm again (another pod of this job acted, or the release moved)", cur, want), true
}

// installOrUpgrade is the install/upgrade half of klipper-helm's entry script on the release as helm
// stores it now: the revision guard, interrupted (pending-*) revisions marked failed, failurePolicy on a
// failed release, then install or upgrade with the config-hash label.
func installOrUpgrade(ctx context.Context, cfg *action.Configuration, j job, flags installFlags, ch *chart.Chart, vals map[string]any, timeout time.Duration, logf func(string, ...any)) error {
	name := j.env["NAME"]
	last, status := lastRelease(cfg, name)
	if msg, moved := revisionMoved(j.env, last); moved {
		logf("%s", msg)
		return nil
	}
	labels := map[string]string{}
	if h := j.env["CONFIG_HASH"]; h != "" {
		labels[ConfigHashLabel] = h
	}

	switch status {
	case release.StatusPendingInstall, release.StatusPendingUpgrade, release.StatusPendingRollback:
		logf("Previous helm job was interrupted, updating status from %s to failed", status)
		last.SetStatus(release.StatusFailed, "interrupted")
		if err := cfg.Releases.Update(last); err != nil {
			return err
		}
		status = release.StatusFailed
	}
	if status == release.StatusFailed {
		switch policy := j.env["FAILURE_POLICY"]; policy {
		case "abort":
			return ErrAborted
		case "reinstall", "":
			logf("Uninstalling failed helm chart %s (failure policy %s)", name, "reinstall")
			u := action.NewUninstall(cfg)
			u.Timeout = timeout
			if _, err := u.Run(name); err != nil {
				return fmt.Errorf("uninstalling failed release: %w", err)
			}
			last = nil
		default:
			logf("Release failed; failure policy %s: upgrading in place", policy)
		}
	}

	if last == nil {
		logf("Installing %s %s into %s", name, ch.Metadata.Version, j.namespace)
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace = name, j.namespace
		in.CreateNamespace = flags.createNamespace
		in.TakeOwnership = flags.takeOwnership
		in.Timeout = timeout
		in.Labels = labels
		_, err := in.RunWithContext(ctx, ch, vals)
		return err
	}
	logf("Already installed %s, upgrading", name)
	up := action.NewUpgrade(cfg)
	up.Namespace = j.namespace
	up.TakeOwnership = flags.takeOwnership
	up.Timeout = timeout
	up.Labels = labels
	_, err := up.RunWithContext(ctx, name, ch, vals)
	return err
}

func lastRelease(cfg *action.Configuration, name string) (*release.Release, release.Status) {
	h, err := cfg.Releases.History(name)
	if err != nil || len(h) == 0 {
		return nil, ""
	}
	sort.Slice(h, func(i, j int) bool { return h[i].Version > h[j].Version })
	if h[0].Info == nil {
		return h[0], release.StatusUnknown
	}
	return h[0], h[0].Info.Status
}

type installFlags struct {
	createNamespace, takeOwnership bool
	set, setString                 []string
}

func parseInstallArgs(args []string) (installFlags, error) {
	var f installFlags
	for i := 1; i < len(args); i++ {
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", args[i])
			}
			i++
			return args[i], nil
		}
		switch args[i] {
		case "--create-namespace":
			f.createNamespace = true
		case "--take-ownership":
			f.takeOwnership = true
		case "--namespace", "--version":
			if _, err := next(); err != nil {
				return f, err
			}
		case "--set":
			v, err := next()
			if err != nil {
				return f, err
			}
			f.set = append(f.set, v)
		case "--set-string":
			v, err := next()
			if err != nil {
				return f, err
			}
			f.setString = append(f.setString, v)
		default:
			return f, fmt.Errorf("unexpected helm job argument %q", args[i])
		}
	}
	return f, nil
}

// loadChart takes the chart the way klipper-helm does: the content ConfigMap first, else CHART (a
// %{KUBERNETES_API}% URL of the server's static dir). Repositories cannot be reached air-gapped.
func (r *Runner) loadChart(ctx context.Context, pod *corev1.Pod, j job) (*chart.Chart, error) {
	name := j.env["NAME"]
	for _, v := range pod.Spec.Volumes {
		if v.Name != "content" || v.ConfigMap == nil {
			continue
		}
		cm, err := r.Node.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading chart content ConfigMap %s: %w", v.ConfigMap.Name, err)
		}
		if b64, ok := cm.Data[name+".tgz.base64"]; ok {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
			if err != nil {
				return nil, fmt.Errorf("decoding chartContent: %w", err)
			}
			return loader.LoadArchive(bytes.NewReader(raw))
		}
	}
	ref := j.env["CHART"]
	if j.env["REPO"] != "" {
		return nil, fmt.Errorf("chart %q from repo %s: repositories are not reachable (air-gapped stand-in); use chartContent or a static chart", ref, j.env["REPO"])
	}
	if strings.Contains(ref, "%{KUBERNETES_API}%") {
		ref = strings.ReplaceAll(ref, "https://%{KUBERNETES_API}%", strings.TrimSuffix(r.Server, "/"))
	}
	if !strings.HasPrefix(ref, "https://") {
		return nil, fmt.Errorf("chart %q: only chartContent and https URLs are supported by the stand-in", ref)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.CA)
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching chart %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching chart %s: %s", ref, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	return loader.LoadArchive(bytes.NewReader(b))
}

// values reads the "values" projected volume as the container would see /config/*.yaml, in file name
// order, and merges them with --set/--set-string as `helm --values ... --set ...` does.
func (r *Runner) values(ctx context.Context, pod *corev1.Pod, f installFlags) (map[string]any, error) {
	dir, err := os.MkdirTemp("", "standin-klipper-values-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files := map[string][]byte{}
	for _, v := range pod.Spec.Volumes {
		if v.Name != "values" || v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.Secret == nil {
				continue
			}
			s, err := r.Node.CoreV1().Secrets(pod.Namespace).Get(ctx, src.Secret.Name, metav1.GetOptions{})
			if err != nil {
				if ptr.Deref(src.Secret.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("reading values Secret %s: %w", src.Secret.Name, err)
			}
			for _, it := range src.Secret.Items {
				if b, ok := s.Data[it.Key]; ok {
					files[it.Path] = b
				}
			}
		}
	}
	var names []string
	for n := range files {
		if strings.HasSuffix(n, ".yaml") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	opts := values.Options{Values: f.set, StringValues: f.setString}
	for _, n := range names {
		p := filepath.Join(dir, filepath.Base(n))
		if err := os.WriteFile(p, files[n], 0o600); err != nil {
			return nil, err
		}
		opts.ValueFiles = append(opts.ValueFiles, p)
	}
	return opts.MergeValues(getter.All(cli.New()))
}

// podCredentials returns a helm client getter authenticated as the pod's service account.
func (r *Runner) podCredentials(ctx context.Context, pod *corev1.Pod, namespace string) (*restGetter, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := r.Node.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To(int64(3600)),
			BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	cfg := &rest.Config{
		Host:            r.Server,
		BearerToken:     tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: r.CA},
		QPS:             50,
		Burst:           100,
	}
	return &restGetter{cfg: cfg, namespace: namespace}, nil
}

// restGetter is the genericclioptions.RESTClientGetter helm needs, from a rest.Config.
type restGetter struct {
	cfg       *rest.Config
	namespace string
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.cfg))
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(dc), dc, nil), nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	c := clientcmdapi.NewConfig()
	c.Clusters["default"] = &clientcmdapi.Cluster{Server: g.cfg.Host, CertificateAuthorityData: g.cfg.CAData}
	c.AuthInfos["default"] = &clientcmdapi.AuthInfo{Token: g.cfg.BearerToken}
	c.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default", Namespace: g.namespace}
	c.CurrentContext = "default"
	return clientcmd.NewDefaultClientConfig(*c, &clientcmd.ConfigOverrides{})
}
