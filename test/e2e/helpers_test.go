package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/payload"
	"github.com/ferry-delivery/ferry/test/lab"
)

// What every scenario of this package shares: one 2-host lab site (server + agent), the vendor's key
// pair, the TEST k3s, bundles of the app "shop", the site file and the ferryctl binary run step by step.

const amd64 = "linux/amd64"

// labSite is a scenario's lab brought up and what its bundles are made of.
type labSite struct {
	inv      *lab.Inventory
	dir      string             // the scenario's scratch directory (bundles, keys, site file)
	pub, key string             // the vendor's public and private key files
	k3s      payload.K3sRelease // the TEST k3s of every bundle
	ferryctl string             // the ferryctl binary under test
	began    time.Time
}

// EnvLabID, when set, replaces a scenario's own lab ID (make passes it on to its `lab down` too): to
// run a scenario while another run holds its usual lab.
const EnvLabID = "FERRY_E2E_LAB_ID"

// bringUp skips the scenario unless gate (an env var; "" for none) is "1", then boots lab id as a server
// + an agent (torn down by the lab's own test clean-up, and by target's `lab down`), and writes the
// vendor key pair and the TEST k3s assets. target is the make target that sets everything up.
func bringUp(t *testing.T, id int, target, gate, what string) *labSite {
	t.Helper()
	if gate != "" && os.Getenv(gate) != "1" {
		t.Skip(what + ": run it through make " + target + " (sets " + gate + "=1)")
	}
	standin, ferryctl := lab.NeedEnv(t, "FERRY_STANDIN_BIN", target), lab.NeedEnv(t, "FERRYCTL_BIN", target)
	if v := os.Getenv(EnvLabID); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 99 {
			t.Fatalf("%s=%q: want a lab ID 0..99", EnvLabID, v)
		}
		id = n
	}
	s := &labSite{began: time.Now(), ferryctl: ferryctl}
	_, s.inv = lab.TestSite(t, id, []lab.HostSpec{{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}})
	t.Logf("MEASURE lab up (2 hosts): %s", time.Since(s.began).Round(time.Second))

	s.dir = t.TempDir()
	priv, err := payload.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyBase := filepath.Join(s.dir, "vendor")
	if err := payload.WriteKeyPair(keyBase, priv); err != nil {
		t.Fatal(err)
	}
	s.pub, s.key = keyBase+payload.PublicKeySuffix, keyBase+payload.PrivateKeySuffix
	s.k3s = k3sAssets(t, s.dir, standin)
	return s
}

// k3sAssets is the TEST k3s of the bundles: the stand-in binary and a small random air-gap image, with
// the release's checksum file (shared by every version: upgrades leave k3s alone).
func k3sAssets(t *testing.T, dir, standin string) payload.K3sRelease {
	t.Helper()
	return payload.K3sRelease{Version: "v1.35.8+standin", Assets: map[payload.Platform]payload.K3sAssets{
		amd64: testk3s.StandinAssets(t, dir, "amd64", standin, "docker.io/rancher/mirrored-pause:3.6"),
	}}
}

// shopBundle is what one version of the app "shop" ships: the images it carries (ref -> image; they
// need not be those the chart names) and its chart's templates and values.yaml.
type shopBundle struct {
	version   string
	images    map[string]v1.Image
	templates []*chart.File
	values    string
}

// writeBundle writes b as a signed TEST bundle with payload directly (no builder: nothing is pulled, the
// bundle carries exactly b.images) and returns its path.
func (s *labSite) writeBundle(t *testing.T, b shopBundle) string {
	t.Helper()
	d := filepath.Join(s.dir, "shop-"+b.version)
	lp, err := layout.Write(filepath.Join(d, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]string, 0, len(b.images))
	for ref := range b.images {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		if err := lp.AppendImage(b.images[ref], layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
			t.Fatal(err)
		}
	}
	vals, err := chartutil.ReadValues([]byte(b.values))
	if err != nil {
		t.Fatal(err)
	}
	c := &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: b.version, AppVersion: b.version},
		Templates: b.templates, Values: vals, Raw: []*chart.File{{Name: "values.yaml", Data: []byte(b.values)}},
	}
	cp, err := chartutil.Save(c, d)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := payload.LoadPrivateKey(s.key)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(d, "shop-"+b.version+".ferry")
	err = payload.Write(context.Background(), dst, payload.Source{
		App: payload.App{Name: "shop", Version: b.version}, K3s: s.k3s, Platforms: []payload.Platform{amd64},
		Chart: cp, Images: filepath.Join(d, "layout"),
	}, payload.WriteOptions{Key: priv})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// siteFile writes the site file of the lab (first host the server, the others agents) and returns it
// with the --accept-host-key flags of every host.
func (s *labSite) siteFile(t *testing.T, name string) (string, []string) {
	t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "name: %s\ndefaults: {user: root, auth: {keyFile: %s}}\n", name, s.inv.Hosts[0].KeyFile)
	sb.WriteString(s.inv.SiteHosts(1))
	var accept []string
	for _, h := range s.inv.Hosts {
		accept = append(accept, "--accept-host-key", h.Fingerprint)
	}
	sb.WriteString("k3s: {disable: [coredns, servicelb, traefik, local-storage, metrics-server]}\n")
	p := filepath.Join(s.dir, "site.yaml")
	if err := os.WriteFile(p, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, accept
}

// ferryctlCLI runs the ferryctl binary against one site file, one step at a time, as the engineer would.
type ferryctlCLI struct {
	t    *testing.T
	ctx  context.Context
	bin  string
	site []string // --site FILE, appended to every command
}

// cli writes the site file (named name) and returns the ferryctl runner for it with the hosts'
// --accept-host-key flags (for install).
func (s *labSite) cli(t *testing.T, ctx context.Context, name string) (ferryctlCLI, []string) {
	t.Helper()
	f, accept := s.siteFile(t, name)
	return ferryctlCLI{t: t, ctx: ctx, bin: s.ferryctl, site: []string{"--site", f}}, accept
}

// install installs k3s from bundle on every host, accepting the hosts' keys and the lab's missing
// default route (like many air-gapped sites: the engineer accepts Ferry's fix).
func (f ferryctlCLI) install(bundle, pub string, accept []string) string {
	f.t.Helper()
	return f.run("install", append([]string{"install", "--bundle", bundle, "--key", pub, "--ready-timeout", "8m", "--fix", "--yes"}, accept...)...)
}

// try runs ferryctl to the end and returns stdout and stderr and how it exited.
func (f ferryctlCLI) try(step string, args ...string) (stdout, stderr string, err error) {
	f.t.Helper()
	start := time.Now()
	cmd := exec.CommandContext(f.ctx, f.bin, append(args, f.site...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	f.t.Logf("MEASURE %s: %s", step, time.Since(start).Round(100*time.Millisecond))
	return out.String(), errb.String(), err
}

// run runs ferryctl to the end; a failure fails the test with its output.
func (f ferryctlCLI) run(step string, args ...string) string {
	f.t.Helper()
	out, errOut, err := f.try(step, args...)
	f.t.Logf("%s stdout:\n%s", step, out)
	if err != nil {
		f.t.Fatalf("%s: %v\nstderr:\n%s", step, err, errOut)
	}
	return out
}

// stream runs ferryctl, handing each line of its stdout to each as it comes (each may return a note to
// add to the output after the line), and returns the output, stderr and the process's end.
func (f ferryctlCLI) stream(args []string, each func(cmd *exec.Cmd, line string) string) (string, string, *exec.Cmd, error) {
	f.t.Helper()
	cmd := exec.CommandContext(f.ctx, f.bin, append(args, f.site...)...)
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = pw, &errb
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waited <- err
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		out.WriteString(each(cmd, line))
	}
	err := <-waited
	return out.String(), errb.String(), cmd, err
}

// onHost runs cmd on lab host h over a fresh SSH connection.
func onHost(ctx context.Context, h lab.Host, cmd string) (stdout, stderr string, err error) {
	c, err := h.KeyClient(ctx)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	return lab.Output(ctx, c, cmd, nil)
}

// newBlobBytes is what a node that has img's other layers lacks of img: fresh, img's config and its
// manifest.
func newBlobBytes(t *testing.T, img v1.Image, fresh v1.Layer) int64 {
	t.Helper()
	fl, err := fresh.Size()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return fl + m.Config.Size + int64(len(raw))
}

// imageBytes is the sum of an image's blobs: layers, config and manifest.
func imageBytes(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	n := m.Config.Size + int64(len(raw))
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// sentPerNode parses the "sent to NODE: N bytes (B blobs)" lines of a change: node -> {bytes, blobs}.
func sentPerNode(t *testing.T, out string) map[string][2]int64 {
	t.Helper()
	m := map[string][2]int64{}
	for _, s := range regexp.MustCompile(`sent to (\S+): (\d+) bytes \((\d+) blobs\)`).FindAllStringSubmatch(out, -1) {
		b, _ := strconv.ParseInt(s[2], 10, 64)
		n, _ := strconv.ParseInt(s[3], 10, 64)
		m[s[1]] = [2]int64{b, n}
	}
	return m
}

// checkSent fails the test for each node of sent that was not sent exactly blobs blobs of need bytes
// plus archive framing (under 64 KiB).
func checkSent(t *testing.T, step string, sent map[string][2]int64, blobs, need int64) {
	t.Helper()
	nodes := make([]string, 0, len(sent))
	for n := range sent {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		s := sent[n]
		t.Logf("MEASURE %s sent to %s: %d bytes, %d blobs (new blobs: %d bytes)", step, n, s[0], s[1], need)
		if s[1] != blobs || s[0] < need || s[0] > need+64<<10 {
			t.Errorf("%s, node %s: sent %d bytes in %d blobs, want the %d new blobs (%d bytes) plus framing", step, n, s[0], s[1], blobs, need)
		}
	}
}

// lackedPerNode parses the "[images] NODE: landing N blob(s) (B bytes)" lines: what each node lacked.
func lackedPerNode(out string) map[string][2]int64 {
	m := map[string][2]int64{}
	for _, s := range regexp.MustCompile(`(?m)^\[images\] (\S+): landing (\d+) blob\(s\) \((\d+) bytes\)$`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(s[2], 10, 64)
		b, _ := strconv.ParseInt(s[3], 10, 64)
		m[s[1]] = [2]int64{b, n}
	}
	return m
}

// release is one helm release revision of the app, as its Secret's labels say.
type release struct {
	Revision int
	Status   string
}

// releases lists the app's helm release revisions on the server, oldest first.
func releases(t *testing.T, ctx context.Context, h lab.Host, app string) []release {
	t.Helper()
	cmd := fmt.Sprintf(`k3s kubectl get secrets -n %s -l owner=helm,name=%s -o jsonpath='{range .items[*]}{.metadata.labels.version} {.metadata.labels.status}{"\n"}{end}'`, app, app)
	stdout, _, err := onHost(ctx, h, "PATH=$PATH:/usr/local/bin:/opt/bin "+cmd)
	if err != nil {
		t.Fatal(err)
	}
	var out []release
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("release line %q", l)
		}
		out = append(out, release{n, f[1]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

// helmTrace is what the server knows of the app's helm runs, for a failure message or a measurement's
// log: each release revision (status, config hash, description, when), the HelmChart's generation and
// Ferry's annotations, the helm jobs and pods, the events of Ferry's namespace in time order (the job
// controller's pod creations, suspends and resumes; helm-controller's ApplyJob, SuspendJob, ResumeJob)
// and the stand-in's log lines of each helm job pod's work.
func helmTrace(ctx context.Context, hosts []lab.Host, app string) string {
	k := "PATH=$PATH:/usr/local/bin:/opt/bin k3s kubectl "
	cmds := []string{
		k + fmt.Sprintf(`get secrets -n %s -l owner=helm,name=%s --sort-by=.metadata.creationTimestamp -o jsonpath='{range .items[*]}{.metadata.labels.version} {.metadata.labels.status} {.metadata.labels.helmcharts\.helm\.cattle\.io/configHash} {.metadata.creationTimestamp}{"\n"}{end}'`, app, app),
		k + fmt.Sprintf(`get helmchart -n ferry-system %s -o jsonpath='generation={.metadata.generation} annotations={.metadata.annotations} status={.status}{"\n"}'`, app),
		k + `get jobs,pods -n ferry-system -o wide --show-labels`,
		k + `get events -n ferry-system --sort-by=.metadata.creationTimestamp -o custom-columns=TIME:.metadata.creationTimestamp,LAST:.lastTimestamp,COUNT:.count,OBJ:.involvedObject.name,REASON:.reason,MSG:.message`,
	}
	var sb strings.Builder
	run := func(h lab.Host, c string) {
		out, errOut, err := onHost(ctx, h, c)
		fmt.Fprintf(&sb, "$ [%s] %s\n%s", h.Name, strings.TrimPrefix(c, "PATH=$PATH:/usr/local/bin:/opt/bin "), out)
		if err != nil {
			fmt.Fprintf(&sb, "(%v: %s)\n", err, strings.TrimSpace(errOut))
		}
	}
	for _, c := range cmds {
		run(hosts[0], c)
	}
	for _, h := range hosts { // a helm job pod may run on any node
		run(h, `journalctl -u k3s -u k3s-agent --no-pager -o short-iso 2>/dev/null | grep -E 'helm-(install|delete)-|already run|klipper|Started k3s|leaderelection lost|Main process exited' | tail -n 80`)
	}
	return sb.String()
}

// chartGeneration is the app's HelmChart metadata.generation: the API server moves it by one for each
// write that changes the spec (metadata and status writes leave it), so it counts spec writes.
func chartGeneration(t *testing.T, ctx context.Context, h lab.Host, app string) int {
	t.Helper()
	out, errOut, err := onHost(ctx, h, "PATH=$PATH:/usr/local/bin:/opt/bin k3s kubectl get helmchart -n ferry-system "+app+" -o jsonpath='{.metadata.generation}'")
	if err != nil {
		t.Fatalf("reading HelmChart %s: %v: %s", app, err, errOut)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("HelmChart %s generation %q", app, out)
	}
	return n
}

// checkOneRevision fails the test unless, from before to after one applied change, the app gained
// exactly one helm revision (deployed, every older one superseded) and its HelmChart exactly one spec
// write. On failure it logs what the server knows of the helm runs.
func checkOneRevision(t *testing.T, ctx context.Context, hosts []lab.Host, step string, before, after []release, genBefore, genAfter int) {
	t.Helper()
	ok := len(after) == len(before)+1 && genAfter == genBefore+1
	for i, r := range after {
		want := "superseded"
		if i == len(after)-1 {
			want = "deployed"
		}
		if r.Status != want {
			ok = false
		}
	}
	t.Logf("MEASURE %s: helm revisions %v -> %v, HelmChart generation %d -> %d", step, before, after, genBefore, genAfter)
	if !ok {
		t.Errorf("%s: want exactly one new helm revision (deployed, the others superseded) and one HelmChart spec write; revisions %+v -> %+v, generation %d -> %d\n%s",
			step, before, after, genBefore, genAfter, helmTrace(ctx, hosts, "shop"))
	}
}
