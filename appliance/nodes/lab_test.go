package nodes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/internal/testimage"
	"github.com/ferry-delivery/ferry/payload"
	"github.com/ferry-delivery/ferry/test/lab"
)

// LabID is this scenario's site lab (docs/testing.md: 3-4 appliance).
const LabID = 3

const standinUnit = `[Unit]
Description=Lightweight Kubernetes (k3s stand-in)
After=network-online.target
[Service]
Type=notify
KillMode=process
Delegate=yes
LimitNOFILE=1048576
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=/usr/local/bin/k3s server
[Install]
WantedBy=multi-user.target
`

// On a lab host running the k3s stand-in (real containerd 1.6, k3s's start-up image import and pin
// handling): land v1, then v2 whose first image changed one layer (only that layer, its manifest and
// config travel), restart k3s (every kept image stays pinned while a k3s-pinned control image is
// un-pinned by the start-up pass, proving it ran), prune v1 (its images go, v2's stay), and place a chart.
func TestNodesOnStandinLab(t *testing.T) {
	bin := lab.NeedEnv(t, "FERRY_STANDIN_BIN", "test-appliance-nodes")
	_, inv := lab.TestSite(t, LabID, []lab.HostSpec{{Arch: lab.AMD64, Containers: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	lh := inv.Hosts[0]
	h, err := ssh.Dial(ctx, ssh.Config{Name: lh.Name, Address: lh.Address, Port: lh.Port, User: lh.User, KeyFile: lh.KeyFile, KnownHosts: inv.KnownHostsFile})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	run := func(line string, stdin []byte) string {
		t.Helper()
		c := host.Cmd{Line: line, Sudo: true}
		if stdin != nil {
			c.Stdin = bytes.NewReader(stdin)
		}
		r, err := h.Run(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return string(r.Stdout)
	}
	ready := func(what string) {
		t.Helper()
		lab.WaitFor(t, what, 6*time.Minute, 2*time.Second, func() error {
			r, err := h.Run(ctx, host.Cmd{Line: "k3s kubectl get --raw /readyz && k3s ctr -n k8s.io version", Sudo: true})
			if err != nil {
				return err
			}
			if !strings.HasPrefix(string(r.Stdout), "ok") {
				return fmt.Errorf("readyz %q", r.Stdout)
			}
			return nil
		})
	}

	// The stand-in installed by hand, as test/standinlab does.
	began := time.Now()
	if _, err := h.Upload(ctx, bin, "/usr/local/bin/k3s", host.UploadOptions{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	run("install -d -m 0755 /etc/rancher/k3s && cat > /etc/rancher/k3s/config.yaml", []byte("token: labsecret\nwrite-kubeconfig-mode: \"0600\"\n"))
	run("cat > /etc/systemd/system/k3s.service && systemctl daemon-reload && systemctl enable --now --no-block k3s.service", []byte(standinUnit))
	ready("stand-in ready")
	t.Logf("MEASURE stand-in installed and ready: %s", time.Since(began).Round(time.Second))

	// Layers of 1 MiB of random (incompressible) data: a changed layer dominates v2's delta.
	f := newFixture(t, 1<<20)
	s := &Site{Targets: []Target{{Host: h, Server: true}}, Bundle: f.bundles, TempDir: t.TempDir()}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Platform != amd64 {
		t.Fatalf("nodes %v %v", nodes, err)
	}
	n := nodes[0]
	land(t, s, n, "1.0.0", f.v1i)
	st1 := s.Stats()[n.Name]
	present, err := s.Present(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range f.v1i.Blobs[amd64] {
		if !present[b.Digest] {
			t.Fatalf("v1 blob %s not in the node's content store after landing", b.Digest)
		}
	}

	// What v2 needs beyond v1, from the planner, must be what goes on the wire (plus tar framing).
	plan := appliance.PlanImages(f.v1i, f.v2i, []appliance.Node{n}, map[string]appliance.BlobSet{n.Name: present})
	land(t, s, n, "2.0.0", f.v2i)
	st2 := s.Stats()[n.Name]
	sent := st2.Sent - st1.Sent
	raw, _ := f.a2.RawManifest()
	m2, _ := f.a2.Manifest()
	need := layerSize(t, f.changed) + m2.Config.Size + int64(len(raw))
	var full bytes.Buffer
	if err := f.b2.WriteImageArchive(ctx, &full, amd64, payload.ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE v1 landing sent %d bytes (full v1 archive); v2 sent %d bytes, node lacked %d (plan: %d), full v2 archive %d: sent/lacked %.3f, sent/full %.3f",
		st1.Sent, sent, need, plan.Nodes[0].Bytes, full.Len(), float64(sent)/float64(need), float64(sent)/float64(full.Len()))
	if plan.Nodes[0].Bytes != need {
		t.Errorf("plan says %d bytes missing, want %d", plan.Nodes[0].Bytes, need)
	}
	if float64(sent) > 1.05*float64(need) || sent < need {
		t.Errorf("v2 sent %d bytes for %d the node lacked", sent, need)
	}
	all := []string{"registry.local/shop-a:1.0.0", "registry.local/shop-a:2.0.0", "registry.local/shop-b:1.0.0", "registry.local/shop-b:2.0.0", "registry.local/tools:stable"}
	if got := pinnedOn(t, run); !reflect.DeepEqual(got, all) {
		t.Fatalf("pinned after landing %v, want %v", got, all)
	}
	if out := run("ls -A /var/lib/rancher/k3s/agent/images 2>/dev/null; ls -A "+StagingDir, nil); strings.TrimSpace(out) != "" {
		t.Errorf("archives left on the node: %q", out)
	}

	// Control: an image pinned the way k3s pins agent/images content; k3s's start-up pass un-pins it.
	ctl := testimage.Random(t, 512, 1, "amd64")
	cb := writeBundle(t, t.TempDir(), "control", "1", map[string]v1.Image{"registry.local/control:1": ctl})
	var ca bytes.Buffer
	if err := cb.WriteImageArchive(ctx, &ca, amd64, payload.ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	run("k3s ctr -n k8s.io images import -", ca.Bytes())
	run("k3s ctr -n k8s.io images label registry.local/control:1 io.cattle.k3s.pinned=pinned io.cri-containerd.pinned=pinned", nil)

	if l := labelsOf(run)["registry.local/control:1"]; !strings.Contains(l, "io.cattle.k3s.pinned=pinned") {
		t.Fatalf("control image labels before restart: %q", l)
	}
	run("systemctl restart k3s.service", nil)
	ready("stand-in ready after restart")
	lab.WaitFor(t, "start-up label pass", 2*time.Minute, 2*time.Second, func() error {
		l, ok := labelsOf(run)["registry.local/control:1"]
		if !ok || strings.Contains(l, "pinned") {
			return fmt.Errorf("control image present %v, labels %q", ok, l)
		}
		return nil
	})
	if got := pinnedOn(t, run); !reflect.DeepEqual(got, all) {
		t.Fatalf("pinned after restart %v, want %v", got, all)
	}

	// Keep one version: v1's images go, v2's (and the image both share by name) stay, with their blobs.
	recs := []appliance.Record{
		{Seq: 1, App: "shop", Version: "1.0.0", State: appliance.StateSucceeded, Images: f.v1i},
		{Seq: 2, App: "shop", Version: "2.0.0", State: appliance.StateSucceeded, Images: f.v2i},
	}
	pr, err := s.Prune(ctx, recs, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pruned %v", pr.Unpinned)
	kept := []string{"registry.local/shop-a:2.0.0", "registry.local/shop-b:2.0.0", "registry.local/tools:stable"}
	if got := pinnedOn(t, run); !reflect.DeepEqual(got, kept) {
		t.Errorf("pinned after prune %v, want %v", got, kept)
	}
	labels := labelsOf(run)
	for _, gone := range []string{"registry.local/shop-a:1.0.0", "registry.local/shop-b:1.0.0"} {
		if _, ok := labels[gone]; ok {
			t.Errorf("%s still on the node after prune", gone)
		}
	}
	present, err = s.Present(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range f.v2i.Blobs[amd64] {
		if !present[b.Digest] {
			t.Errorf("v2 blob %s gone after prune", b.Digest)
		}
	}

	// A chart too big for chartContent, on the server's static charts dir.
	tgz := bytes.Repeat([]byte{0x1f, 0x8b, 1, 2}, 300000)
	p := appliance.StaticChartsDir + "/shop-2.0.0.tgz"
	if err := s.PlaceChart(ctx, p, tgz); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tgz)
	if got, err := h.Sha256(ctx, p); err != nil || got != hex.EncodeToString(sum[:]) {
		t.Errorf("chart on the server: %s %v", got, err)
	}
	if out := run("ls -A "+filepath.Dir(p), nil); strings.TrimSpace(out) != "shop-2.0.0.tgz" {
		t.Errorf("static charts dir holds %q", out)
	}

	// The same through a login whose sudo asks for a password: v1 comes back after its prune (only what
	// the prune took travels again), imported and pinned through sudo, and a chart placed through it.
	if lh.SudoUser == "" {
		return
	}
	pw, err := os.ReadFile(lh.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	pw = bytes.TrimSpace(pw)
	sh, err := ssh.Dial(ctx, ssh.Config{Name: lh.Name, Address: lh.Address, Port: lh.Port, User: lh.SudoUser, Password: pw, KnownHosts: inv.KnownHostsFile})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if sh.IsRoot() {
		t.Fatal("the sudo user logs in as root")
	}
	ss := &Site{Targets: []Target{{Host: sh, Server: true}}, Bundle: f.bundles, TempDir: t.TempDir()}
	sp, err := ss.Present(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sp, present) {
		t.Errorf("content seen through sudo differs: %d vs %d blobs", len(sp), len(present))
	}
	plan = appliance.PlanImages(f.v2i, f.v1i, []appliance.Node{n}, map[string]appliance.BlobSet{n.Name: sp})
	land(t, ss, n, "1.0.0", f.v1i)
	resent := ss.Stats()[n.Name].Sent
	t.Logf("MEASURE v1 re-landed after its prune through sudo: sent %d bytes, plan %d", resent, plan.Nodes[0].Bytes)
	if resent < plan.Nodes[0].Bytes || float64(resent) > 1.05*float64(plan.Nodes[0].Bytes) {
		t.Errorf("re-landing v1 sent %d bytes, plan %d", resent, plan.Nodes[0].Bytes)
	}
	if got := pinnedOn(t, run); !reflect.DeepEqual(got, all) {
		t.Errorf("pinned after re-landing v1 through sudo %v, want %v", got, all)
	}
	p1 := appliance.StaticChartsDir + "/shop-1.0.0.tgz"
	if err := ss.PlaceChart(ctx, p1, tgz[:1000]); err != nil {
		t.Fatal(err)
	}
	if out := run("stat -c '%U %a %s' "+p1, nil); strings.TrimSpace(out) != "root 644 1000" {
		t.Errorf("chart placed through sudo: %q", out)
	}
}

// labelsOf maps each image name in k8s.io to its LABELS column.
func labelsOf(run func(string, []byte) string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(run("k3s ctr -n k8s.io images ls", nil), "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		out[f[0]] = f[len(f)-1] // REF TYPE DIGEST SIZE(2 fields) PLATFORMS LABELS
	}
	return out
}

func pinnedOn(t *testing.T, run func(string, []byte) string) []string {
	t.Helper()
	var out []string
	for n, l := range labelsOf(run) {
		if strings.HasPrefix(n, "registry.local/") && strings.Contains(l, PinLabel+"=pinned") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
