//go:build standinlab

package standinlab

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-delivery/ferry/internal/testimage"
	"github.com/ferry-delivery/ferry/test/lab"
)

// LabID is the lab this scenario boots (the lab's own tests use 7 and 8, `make lab-up` 0).
const LabID = 5

func unit(kind string) string {
	// The install script's unit, as docs/k3s-contract.md section 3 lists it; like upstream's install.sh,
	// the server is Type=notify and the agent Type=exec.
	typ := "notify"
	if kind == "agent" {
		typ = "exec"
	}
	return fmt.Sprintf(`[Unit]
Description=Lightweight Kubernetes (k3s stand-in)
Wants=network-online.target
After=network-online.target

[Service]
Type=%s
EnvironmentFile=-/etc/default/%%N
EnvironmentFile=-/etc/sysconfig/%%N
EnvironmentFile=-/etc/systemd/system/%%N.service.env
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/k3s %s

[Install]
WantedBy=multi-user.target
`, typ, kind)
}

func TestStandinOnLab(t *testing.T) {
	if os.Getenv("FERRY_LAB") != "1" || os.Geteuid() != 0 {
		t.Skip("needs root and FERRY_LAB=1 (make test-standin-lab)")
	}
	binDir := os.Getenv("STANDIN_BIN_DIR")
	if binDir == "" {
		t.Fatal("STANDIN_BIN_DIR not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	began := time.Now()
	l, err := lab.Up(ctx, lab.Options{ID: LabID, Hosts: []lab.HostSpec{
		{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}, {Arch: lab.ARM64, Containers: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), "", LabID); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	t.Logf("MEASURE lab up (3 hosts): %s", time.Since(began).Round(time.Second))
	hosts := l.Inventory().Hosts
	server, agents := hosts[0], hosts[1:]

	install := func(h lab.Host, kind, config string) {
		t.Helper()
		c, err := l.Client(ctx, h.Name)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		bin, err := os.Open(filepath.Join(binDir, "k3s-standin-"+h.Arch))
		if err != nil {
			t.Fatal(err)
		}
		defer bin.Close()
		if _, stderr, err := lab.Output(ctx, c, "install -d /usr/local/bin && cat > /usr/local/bin/k3s.tmp && chmod 0755 /usr/local/bin/k3s.tmp && mv /usr/local/bin/k3s.tmp /usr/local/bin/k3s", bin); err != nil {
			t.Fatalf("uploading the stand-in to %s: %v %s", h.Name, err, stderr)
		}
		svc := "k3s"
		if kind == "agent" {
			svc = "k3s-agent"
		}
		script := fmt.Sprintf(`set -e
install -d -m 0755 /etc/rancher/k3s
umask 077
cat > /etc/rancher/k3s/config.yaml <<'CFG'
%sCFG
cat > /etc/systemd/system/%s.service <<'UNIT'
%sUNIT
systemctl daemon-reload
systemctl enable --now --no-block %s.service
`, config, svc, unit(kind), svc)
		if _, stderr, err := lab.Output(ctx, c, script, nil); err != nil {
			t.Fatalf("installing %s on %s: %v %s", svc, h.Name, err, stderr)
		}
	}

	// The app image's archive goes into the server's agent/images under a temporary name, then mv.
	archive := imageArchive(t, appImage, server.Arch)
	if _, stderr, err := output(ctx, l, server.Name, "install -d /var/lib/rancher/k3s/agent/images && cat > /var/lib/rancher/k3s/agent/images/.app.tar.tmp && mv /var/lib/rancher/k3s/agent/images/.app.tar.tmp /var/lib/rancher/k3s/agent/images/app.tar", bytes.NewReader(archive)); err != nil {
		t.Fatalf("placing the image archive: %v %s", err, stderr)
	}
	install(server, "server", fmt.Sprintf("token: labsecret\ntls-san:\n  - %s\nwrite-kubeconfig-mode: \"0600\"\n", server.Address))
	var out string
	lab.WaitFor(t, "server /readyz via k3s kubectl", 5*time.Minute, 2*time.Second, func() error {
		out, err = l.Run(ctx, server.Name, "k3s kubectl get --raw /readyz")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "ok" {
			return fmt.Errorf("readyz %q", out)
		}
		return nil
	})
	// The stand-in sends READY=1 once the API server is ready AND the node's first image import is done
	// (as k3s), so /readyz can answer before the unit leaves "activating": wait for it, bounded.
	lab.WaitFor(t, "k3s.service active (READY=1 reached systemd, Type=notify)", time.Minute, 2*time.Second, func() error {
		active, _ := l.Run(ctx, server.Name, "systemctl is-active k3s.service")
		if strings.TrimSpace(active) != "active" {
			return fmt.Errorf("k3s.service is %q", strings.TrimSpace(active))
		}
		return nil
	})
	token, err := l.Run(ctx, server.Name, "cat /var/lib/rancher/k3s/server/token")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		install(a, "agent", fmt.Sprintf("server: https://%s:6443\ntoken: %s\n", server.Address, strings.TrimSpace(token)))
	}

	want := map[string]string{server.Name: server.Arch}
	for _, a := range agents {
		want[a.Name] = a.Arch
	}
	lab.WaitFor(t, "all Nodes Ready with their arch labels", 8*time.Minute, 2*time.Second, func() error {
		out, err := l.Run(ctx, server.Name, "k3s kubectl get nodes -o json")
		if err != nil {
			return err
		}
		var nl struct {
			Items []struct {
				Metadata struct {
					Name   string            `json:"name"`
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Status struct {
					Conditions []struct{ Type, Status string } `json:"conditions"`
					NodeInfo   struct{ Architecture string }   `json:"nodeInfo"`
				} `json:"status"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &nl); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, n := range nl.Items {
			arch, ok := want[n.Metadata.Name]
			if !ok {
				return fmt.Errorf("unexpected node %s", n.Metadata.Name)
			}
			if n.Metadata.Labels["kubernetes.io/arch"] != arch || n.Status.NodeInfo.Architecture != arch {
				return fmt.Errorf("node %s arch label %q nodeInfo %q, want %s", n.Metadata.Name, n.Metadata.Labels["kubernetes.io/arch"], n.Status.NodeInfo.Architecture, arch)
			}
			ready := false
			for _, c := range n.Status.Conditions {
				ready = ready || (c.Type == "Ready" && c.Status == "True")
			}
			if !ready {
				return fmt.Errorf("node %s not Ready", n.Metadata.Name)
			}
			seen[n.Metadata.Name] = true
		}
		if len(seen) != len(want) {
			return fmt.Errorf("nodes %v, want %v", seen, want)
		}
		return nil
	})
	t.Logf("MEASURE lab up to 3 Nodes Ready: %s", time.Since(began).Round(time.Second))

	// A HelmChart pinned to the server, whose image was imported there, becomes a Ready release; the
	// same chart pinned to the arm64 agent, which has no archive, fails to pull: air-gap per node.
	arm := agents[len(agents)-1]
	for _, hc := range []struct{ name, node string }{{"onserver", server.Name}, {"onarm", arm.Name}} {
		if _, stderr, err := output(ctx, l, server.Name, "k3s kubectl apply -f -", strings.NewReader(helmChart(t, hc.name, hc.node))); err != nil {
			t.Fatalf("applying HelmChart %s: %v %s", hc.name, err, stderr)
		}
	}
	lab.WaitFor(t, "deployment onserver available on the server", 5*time.Minute, 2*time.Second, func() error {
		out, err := l.Run(ctx, server.Name, "k3s kubectl -n demo get deploy onserver -o jsonpath='{.status.availableReplicas}'")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "1" {
			return fmt.Errorf("availableReplicas %q", out)
		}
		return nil
	})
	lab.WaitFor(t, "pod of onarm waits on an image pull error on the arm64 agent", 5*time.Minute, 2*time.Second, func() error {
		out, err := l.Run(ctx, server.Name, "k3s kubectl -n demo get pods -l app=onarm -o jsonpath='{.items[0].spec.nodeName} {.items[0].status.containerStatuses[0].state.waiting.reason}'")
		if err != nil {
			return err
		}
		if f := strings.Fields(out); len(f) != 2 || f[0] != arm.Name || (f[1] != "ErrImagePull" && f[1] != "ImagePullBackOff") {
			return fmt.Errorf("got %q", out)
		}
		return nil
	})
	pins, err := l.Run(ctx, server.Name, "k3s ctr images ls")
	if err != nil || !strings.Contains(pins, appImage) || !strings.Contains(pins, "io.cattle.k3s.pinned=pinned") {
		t.Errorf("server's containerd images: %v\n%s", err, pins)
	}
	if v, err := l.Run(ctx, agents[len(agents)-1].Name, "k3s --version; uname -m"); err == nil {
		t.Logf("arm64 agent: %s", strings.ReplaceAll(strings.TrimSpace(v), "\n", " | "))
	}
}

const appImage = "registry.standin.test/ferry/labapp:1.0"

func output(ctx context.Context, l *lab.Lab, host, cmd string, stdin io.Reader) (string, string, error) {
	c, err := l.Client(ctx, host)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	return lab.Output(ctx, c, cmd, stdin)
}

// imageArchive builds a one-layer image with go-containerregistry and returns it as an OCI-layout tar
// carrying the io.containerd.image.name annotation (what Ferry's bundle writes).
func imageArchive(t *testing.T, ref, arch string) []byte {
	t.Helper()
	layer, err := random.Layer(256, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	return testimage.LayoutTar(t, testimage.WithPlatform(t, img, arch), map[string]string{"io.containerd.image.name": ref})
}

// helmChart renders a HelmChart manifest whose chart (in chartContent) runs appImage on one node.
func helmChart(t *testing.T, name, node string) string {
	t.Helper()
	files := map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      nodeSelector: {kubernetes.io/hostname: {{ .Values.node | quote }}}
      containers: [{name: app, image: {{ .Values.image }}}]
`,
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "app/" + n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(c))
	}
	tw.Close()
	gz.Close()
	return fmt.Sprintf(`apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata: {name: %s, namespace: kube-system}
spec:
  targetNamespace: demo
  createNamespace: true
  chartContent: %s
  valuesContent: |
    image: %s
    node: %s
`, name, base64.StdEncoding.EncodeToString(buf.Bytes()), appImage, node)
}
