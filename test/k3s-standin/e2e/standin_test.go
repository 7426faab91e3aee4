package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

var helmChartGVR = schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}

const (
	imgPresent = "registry.standin.test/ferry/hello:1.0"
	imgLate    = "registry.standin.test/ferry/late:1.0"
	imgAbsent  = "registry.standin.test/ferry/absent:1.0"
)

// testChart renders a Deployment of .Values.image pinned to one node; "broken" adds an object the API
// server rejects, so helm itself fails.
func testChart(t *testing.T, broken bool) string {
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: hello\nversion: 0.1.0\nappVersion: \"1.0\"\n",
		"values.yaml": "image: none\nreplicas: 1\nnode: \"\"\n",
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      nodeSelector:
        kubernetes.io/hostname: {{ .Values.node | quote }}
      containers:
      - name: app
        image: {{ .Values.image }}
`,
	}
	if broken {
		files["templates/bad.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\ndata: {}\n"
	}
	return base64.StdEncoding.EncodeToString(chartTgz(t, "hello", files))
}

func helmChart(name, content, values string, extra map[string]any) *unstructured.Unstructured {
	spec := map[string]any{
		"chartContent":    content,
		"targetNamespace": "demo",
		"createNamespace": true,
		"valuesContent":   values,
	}
	for k, v := range extra {
		spec[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
		"metadata": map[string]any{"name": name, "namespace": "kube-system"},
		"spec":     spec,
	}}
}

type cluster struct {
	dir, cfgFile, kubeconfig, dataDir string
	port                              int
}

func newCluster(t *testing.T) *cluster {
	dir := t.TempDir()
	c := &cluster{dir: dir, cfgFile: filepath.Join(dir, "etc", "config.yaml"), kubeconfig: filepath.Join(dir, "k3s.yaml"),
		dataDir: filepath.Join(dir, "data"), port: freePort(t)}
	if err := os.MkdirAll(filepath.Join(dir, "etc", "config.yaml.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`data-dir: %s
https-listen-port: %d
write-kubeconfig: %s
write-kubeconfig-mode: "0640"
node-name: server-1
node-ip: 127.0.0.1
token: firstpassword
tls-san: [standin.test]
`, c.dataDir, c.port, c.kubeconfig)
	if err := os.WriteFile(c.cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// A drop-in that appends a SAN and replaces the token: both must take effect.
	if err := os.WriteFile(filepath.Join(dir, "etc", "config.yaml.d", "50-ferry.yaml"),
		[]byte("tls-san+: [extra.standin.test]\ntoken: secretpw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStandin(t *testing.T) {
	c := newCluster(t)
	ctx := ctxT(t)
	imagesDir := filepath.Join(c.dataDir, "agent", "images")
	// One archive is there before the start (imported at start), one arrives while running.
	writeImageArchive(t, imagesDir, "hello.tar", imgPresent)

	if out, err := run(t, c.dir, nil, "--version"); err != nil || !regexp.MustCompile(`^k3s version v1\.35\.8\+standin `).MatchString(out) {
		t.Fatalf("--version: %q %v", out, err)
	}

	srv := start(t, c.dir, "server", "--config", c.cfgFile)
	took := srv.waitReady(3 * time.Minute)
	t.Logf("MEASURE time to READY=1 (cold data dir): %s", took.Round(time.Millisecond))
	restCfg, cs := clientFor(t, c.kubeconfig)
	dyn := dynamic.NewForConfigOrDie(restCfg)

	t.Run("kubeconfig", func(t *testing.T) {
		fi, err := os.Stat(c.kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("k3s.yaml mode %o, want 640 from write-kubeconfig-mode", fi.Mode().Perm())
		}
		b, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil || string(b) != "ok" {
			t.Errorf("/readyz = %q, %v", b, err)
		}
		if !strings.HasPrefix(restCfg.Host, "https://127.0.0.1:") {
			t.Errorf("kubeconfig server %s, want https://127.0.0.1:<port>", restCfg.Host)
		}
		v, err := cs.Discovery().ServerVersion()
		if err != nil || v.GitVersion != "v1.35.8" {
			t.Errorf("server version %v %v", v, err)
		}
	})

	var caPEM []byte
	t.Run("token and CA", func(t *testing.T) {
		tok, err := os.ReadFile(filepath.Join(c.dataDir, "server", "token"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`^K10([0-9a-f]{64})::server:(.+)\n$`).FindStringSubmatch(string(tok))
		if m == nil {
			t.Fatalf("token %q not in K10<hash>::server:<password> form", tok)
		}
		if m[2] != "secretpw" {
			t.Errorf("token password %q, want the drop-in's secretpw", m[2])
		}
		nt, _ := os.ReadFile(filepath.Join(c.dataDir, "server", "node-token"))
		if string(nt) != string(tok) {
			t.Error("node-token differs from token")
		}
		// The hash is of the CA as served on /cacerts, without trusting anything first.
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/cacerts", c.port))
		if err != nil {
			t.Fatal(err)
		}
		caPEM, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256(caPEM)
		if hex.EncodeToString(sum[:]) != m[1] {
			t.Error("token CA hash is not sha256 of /cacerts")
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		for _, name := range []string{"standin.test", "extra.standin.test", "127.0.0.1"} {
			conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), &tls.Config{RootCAs: pool, ServerName: name})
			if err != nil {
				t.Errorf("serving cert for tls-san %s: %v", name, err)
				continue
			}
			conn.Close()
		}
		if conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), &tls.Config{RootCAs: pool, ServerName: "not-a-san.test"}); err == nil {
			conn.Close()
			t.Error("serving cert accepted for a name not in tls-san")
		}
	})

	t.Run("server node", func(t *testing.T) {
		eventually(t, time.Minute, "node server-1 Ready with labels", func() error {
			n, err := cs.CoreV1().Nodes().Get(ctx, "server-1", metav1.GetOptions{})
			if err != nil {
				return err
			}
			return nodeOK(n, true)
		})
	})

	var firstPodReady time.Duration
	t.Run("helm release with present image becomes Ready", func(t *testing.T) {
		began := time.Now()
		hc := helmChart("hello", testChart(t, false), "image: "+imgPresent+"\nreplicas: 2\nnode: server-1\n", nil)
		if _, err := dyn.Resource(helmChartGVR).Namespace("kube-system").Create(ctx, hc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 3*time.Minute, "release hello deployed with config hash", func() error {
			return releaseDeployed(ctx, cs, "hello")
		})
		eventually(t, 2*time.Minute, "job helm-install-hello Complete", func() error {
			j, err := cs.BatchV1().Jobs("kube-system").Get(ctx, "helm-install-hello", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if j.Status.Succeeded < 1 {
				return fmt.Errorf("job status %+v", j.Status)
			}
			return nil
		})
		eventually(t, 2*time.Minute, "deployment hello 2/2 available", func() error {
			d, err := cs.AppsV1().Deployments("demo").Get(ctx, "hello", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if d.Status.AvailableReplicas != 2 {
				return fmt.Errorf("available %d", d.Status.AvailableReplicas)
			}
			return nil
		})
		firstPodReady = time.Since(began)
		t.Logf("MEASURE HelmChart created -> 2/2 pods Ready: %s", firstPodReady.Round(time.Millisecond))
	})

	t.Run("missing image gives ErrImagePull until its archive arrives", func(t *testing.T) {
		hc := helmChart("late", testChart(t, false), "image: "+imgLate+"\nnode: server-1\n", nil)
		if _, err := dyn.Resource(helmChartGVR).Namespace("kube-system").Create(ctx, hc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 3*time.Minute, "pod of late waits on an image pull error naming the image", func() error {
			return podsWaitingOnImage(ctx, cs, "late", imgLate)
		})
		// It stays that way: nothing makes it Ready while the image is absent.
		time.Sleep(5 * time.Second)
		if err := podsWaitingOnImage(ctx, cs, "late", imgLate); err != nil {
			t.Fatalf("pod changed without its image: %v", err)
		}
		writeImageArchive(t, imagesDir, "late.tar", imgLate)
		eventually(t, time.Minute, "deployment late available after its archive was dropped in", func() error {
			d, err := cs.AppsV1().Deployments("demo").Get(ctx, "late", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if d.Status.AvailableReplicas != 1 {
				return fmt.Errorf("available %d", d.Status.AvailableReplicas)
			}
			return nil
		})
	})

	t.Run("image never imported stays not Ready", func(t *testing.T) {
		hc := helmChart("absent", testChart(t, false), "image: "+imgAbsent+"\nnode: server-1\n", nil)
		if _, err := dyn.Resource(helmChartGVR).Namespace("kube-system").Create(ctx, hc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 3*time.Minute, "absent pod reports ImagePullBackOff", func() error {
			return podsWaitingOnImage(ctx, cs, "absent", imgAbsent, "ImagePullBackOff")
		})
		d, err := cs.AppsV1().Deployments("demo").Get(ctx, "absent", metav1.GetOptions{})
		if err != nil || d.Status.AvailableReplicas != 0 {
			t.Errorf("deployment absent: %v available=%d", err, d.Status.AvailableReplicas)
		}
	})

	t.Run("chart failing in helm gives Failed under failurePolicy abort", func(t *testing.T) {
		hc := helmChart("broken", testChart(t, true), "image: "+imgPresent+"\nnode: server-1\n",
			map[string]any{"failurePolicy": "abort", "backOffLimit": int64(0)})
		if _, err := dyn.Resource(helmChartGVR).Namespace("kube-system").Create(ctx, hc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 3*time.Minute, "HelmChart broken has condition Failed=True", func() error {
			u, err := dyn.Resource(helmChartGVR).Namespace("kube-system").Get(ctx, "broken", metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, ci := range conds {
				m := ci.(map[string]any)
				if m["type"] == "Failed" && m["status"] == "True" {
					return nil
				}
			}
			return fmt.Errorf("conditions %v", conds)
		})
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "helmcharts.helm.cattle.io/chart=broken"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("helm job pods: %v %d", err, len(pods.Items))
		}
		p := pods.Items[0]
		if p.Status.Phase != corev1.PodFailed || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Terminated == nil ||
			!strings.Contains(p.Status.ContainerStatuses[0].State.Terminated.Message, "Not_A_Valid_Name") {
			t.Errorf("helm job pod should fail naming helm's error; status %+v", p.Status)
		}
		if _, err := cs.AppsV1().Deployments("demo").Get(ctx, "broken", metav1.GetOptions{}); !apierrors.IsNotFound(err) && err != nil {
			t.Error(err)
		}
	})

	t.Run("chart from the static charts dir", func(t *testing.T) {
		raw, _ := base64.StdEncoding.DecodeString(testChart(t, false))
		if err := os.WriteFile(filepath.Join(c.dataDir, "server", "static", "charts", "hello-0.1.0.tgz"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		hc := helmChart("static", "", "image: "+imgPresent+"\nnode: server-1\n",
			map[string]any{"chart": "https://%{KUBERNETES_API}%/static/charts/hello-0.1.0.tgz"})
		delete(hc.Object["spec"].(map[string]any), "chartContent")
		if _, err := dyn.Resource(helmChartGVR).Namespace("kube-system").Create(ctx, hc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "release static deployed", func() error { return releaseDeployed(ctx, cs, "static") })
	})

	t.Run("deleting a HelmChart uninstalls its release", func(t *testing.T) {
		// Deleted right after its release is deployed, while its install pod may still look Running to the
		// kubelet: that pod must not run again (it once upgraded the release while helm-delete-static
		// uninstalled it, leaving a release Secret behind; see klipper.Runner).
		if err := dyn.Resource(helmChartGVR).Namespace("kube-system").Delete(ctx, "static", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "release static and its Deployment gone", func() error {
			ss, err := cs.CoreV1().Secrets("demo").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=static"})
			if err != nil {
				return err
			}
			if len(ss.Items) > 0 {
				return fmt.Errorf("%d release secrets left", len(ss.Items))
			}
			if _, err := cs.AppsV1().Deployments("demo").Get(ctx, "static", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("deployment still there: %v", err)
			}
			if _, err := dyn.Resource(helmChartGVR).Namespace("kube-system").Get(ctx, "static", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("HelmChart still there: %v", err)
			}
			return nil
		})
	})

	t.Run("kubectl ctr and etcd-snapshot", func(t *testing.T) {
		out, err := run(t, c.dir, []string{"KUBECONFIG=" + c.kubeconfig}, "kubectl", "get", "nodes", "-o", "name")
		if err != nil || !strings.Contains(out, "node/server-1") {
			t.Errorf("k3s kubectl get nodes: %q %v", out, err)
		}
		out, err = run(t, c.dir, nil, "ctr", "images", "ls", "-q")
		if err != nil || !strings.Contains(out, imgPresent) || !strings.Contains(out, imgLate) {
			t.Errorf("k3s ctr images ls: %q %v", out, err)
		}
		out, err = run(t, c.dir, nil, "etcd-snapshot", "save", "--name", "pre-upgrade", "--data-dir", c.dataDir)
		if err != nil {
			t.Fatalf("etcd-snapshot save: %q %v", out, err)
		}
		snaps, _ := filepath.Glob(filepath.Join(c.dataDir, "server", "db", "snapshots", "pre-upgrade-*"))
		if len(snaps) != 1 {
			t.Fatalf("snapshots %v", snaps)
		}
		if fi, err := os.Stat(snaps[0]); err != nil || fi.Size() < 4096 {
			t.Errorf("snapshot %s: %v", snaps[0], err)
		}
	})

	t.Run("images pinned with k3s labels", func(t *testing.T) {
		labels := imageLabels(t, c.dir)
		for _, ref := range []string{imgPresent, imgLate} {
			if labels[ref]["io.cattle.k3s.pinned"] != "pinned" || labels[ref]["io.cri-containerd.pinned"] != "pinned" {
				t.Errorf("%s labels %v, want both pinned labels", ref, labels[ref])
			}
		}
	})

	t.Run("agent joins with the token; wrong CA hash refused", func(t *testing.T) {
		tok, _ := os.ReadFile(filepath.Join(c.dataDir, "server", "token"))
		adir := t.TempDir()
		bad := "K10" + strings.Repeat("0", 64) + "::server:secretpw"
		out, err := run(t, adir, nil, "agent", "--server", fmt.Sprintf("https://127.0.0.1:%d", c.port), "--token", bad,
			"--data-dir", filepath.Join(adir, "bad"), "--node-name", "intruder")
		if err == nil || !strings.Contains(out, "CA") {
			t.Errorf("agent with a wrong CA hash: err=%v out=%q", err, tailStr(out, 500))
		}
		cfg := fmt.Sprintf("server: https://127.0.0.1:%d\ntoken: %s\ndata-dir: %s\nnode-name: agent-1\nnode-ip: 127.0.0.1\nnode-label: [ferry.example/role=worker]\ntls-san: [ignored-by-agent]\n",
			c.port, strings.TrimSpace(string(tok)), filepath.Join(adir, "data"))
		if err := os.WriteFile(filepath.Join(adir, "config.yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		ag := start(t, adir, "agent", "--config", filepath.Join(adir, "config.yaml"))
		ag.waitReady(2 * time.Minute)
		eventually(t, time.Minute, "node agent-1 Ready", func() error {
			n, err := cs.CoreV1().Nodes().Get(ctx, "agent-1", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if n.Labels["ferry.example/role"] != "worker" {
				return fmt.Errorf("node-label missing: %v", n.Labels)
			}
			return nodeOK(n, false)
		})
		// The agent's kubelet acts as system:node:agent-1: NodeRestriction stops it editing other nodes.
		_, acs := clientFor(t, filepath.Join(adir, "data", "agent", "kubelet.kubeconfig"))
		_, err = acs.CoreV1().Nodes().Patch(ctx, "server-1", types.MergePatchType, []byte(`{"metadata":{"labels":{"hijacked":"yes"}}}`), metav1.PatchOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("agent credentials patching another node: err=%v, want Forbidden", err)
		}
		ag.stop()
	})

	rss := srv.rssMiB()
	t.Logf("MEASURE server RSS after the scenarios: %.0f MiB", rss)

	t.Run("restart un-pins images of removed archives", func(t *testing.T) {
		srv.stop()
		if err := os.Remove(filepath.Join(imagesDir, "hello.tar")); err != nil {
			t.Fatal(err)
		}
		srv2 := start(t, c.dir, "server", "--config", c.cfgFile)
		took := srv2.waitReady(3 * time.Minute)
		t.Logf("MEASURE time to READY=1 (warm restart): %s", took.Round(time.Millisecond))
		labels := imageLabels(t, c.dir)
		if _, ok := labels[imgPresent]; !ok {
			t.Fatalf("image %s vanished on restart (it should only be un-pinned)", imgPresent)
		}
		if labels[imgPresent]["io.cattle.k3s.pinned"] != "" || labels[imgPresent]["io.cri-containerd.pinned"] != "" {
			t.Errorf("%s still pinned after its archive was removed: %v", imgPresent, labels[imgPresent])
		}
		if labels[imgLate]["io.cattle.k3s.pinned"] != "pinned" {
			t.Errorf("%s lost its pin though its archive is still there: %v", imgLate, labels[imgLate])
		}
		// The release survived the restart in the datastore.
		if err := releaseDeployed(ctx, cs, "hello"); err != nil {
			t.Error(err)
		}
	})
}

func TestUnknownConfigKeyRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("data-dir: %s\ntls-sans: [typo]\n", filepath.Join(dir, "data"))), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, dir, nil, "server", "--config", cfg)
	if err == nil || !strings.Contains(out, "tls-sans") {
		t.Fatalf("server with unknown key: err=%v out=%q", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "server")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused config still created state: %v", err)
	}
}

func nodeOK(n *corev1.Node, server bool) error {
	want := map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": runtime.GOARCH, "node.kubernetes.io/instance-type": "k3s"}
	if server {
		want["node-role.kubernetes.io/control-plane"] = "true"
	}
	for k, v := range want {
		if n.Labels[k] != v {
			return fmt.Errorf("label %s=%q, want %q", k, n.Labels[k], v)
		}
	}
	if !server && n.Labels["node-role.kubernetes.io/control-plane"] != "" {
		return errors.New("agent has the control-plane role label")
	}
	for _, cnd := range n.Status.Conditions {
		if cnd.Type == corev1.NodeReady && cnd.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return errors.New("not Ready")
}

func releaseDeployed(ctx context.Context, cs *kubernetes.Clientset, name string) error {
	ss, err := cs.CoreV1().Secrets("demo").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		return err
	}
	for _, s := range ss.Items {
		if s.Labels["status"] == "deployed" && s.Labels["helmcharts.helm.cattle.io/configHash"] != "" && s.Type == "helm.sh/release.v1" {
			return nil
		}
	}
	return fmt.Errorf("no deployed release secret with a config hash among %d", len(ss.Items))
}

func podsWaitingOnImage(ctx context.Context, cs *kubernetes.Clientset, app, image string, reasons ...string) error {
	if len(reasons) == 0 {
		reasons = []string{"ErrImagePull", "ImagePullBackOff"}
	}
	pods, err := cs.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return err
	}
	if len(pods.Items) == 0 {
		return errors.New("no pods yet")
	}
	for _, p := range pods.Items {
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return fmt.Errorf("pod %s not waiting: %+v", p.Name, p.Status.ContainerStatuses)
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		ok := false
		for _, r := range reasons {
			ok = ok || w.Reason == r
		}
		if !ok || !strings.Contains(w.Message, image) {
			return fmt.Errorf("pod %s waiting %q %q", p.Name, w.Reason, w.Message)
		}
		for _, cnd := range p.Status.Conditions {
			if cnd.Type == corev1.PodReady && cnd.Status == corev1.ConditionTrue {
				return fmt.Errorf("pod %s Ready without its image", p.Name)
			}
		}
	}
	return nil
}

// imageLabels reads `k3s ctr images ls` (through the stand-in's own ctr command).
func imageLabels(t *testing.T, dir string) map[string]map[string]string {
	t.Helper()
	out, err := run(t, dir, nil, "ctr", "images", "ls")
	if err != nil {
		t.Fatalf("k3s ctr images ls: %v %s", err, out)
	}
	res := map[string]map[string]string{}
	for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 3 {
			continue
		}
		m := map[string]string{}
		if last := f[len(f)-1]; last != "-" && strings.Contains(last, "=") {
			for _, kv := range strings.Split(last, ",") {
				k, v, _ := strings.Cut(kv, "=")
				m[k] = v
			}
		}
		res[f[0]] = m
	}
	return res
}
