package nodes

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/transfer"
	"github.com/ferry-delivery/ferry/internal/testimage"
	"github.com/ferry-delivery/ferry/payload"
)

func TestParseContentList(t *testing.T) {
	d1 := "sha256:" + strings.Repeat("a", 64)
	d2 := "sha256:" + strings.Repeat("b", 64)
	for _, tc := range []struct {
		name, out string
		want      []string
		err       bool
	}{
		{"quiet", d1 + "\n" + d2 + "\n", []string{d1, d2}, false},
		{"quiet, blank lines and CRLF", "\n" + d1 + "\r\n\n" + d2, []string{d1, d2}, false},
		{"long form with header", "DIGEST\tSIZE\tAGE\tLABELS\n" + d1 + "\t1.2kB\t3 days\tcontainerd.io/gc.ref.content.l.0=x\n", []string{d1}, false},
		{"empty store", "", nil, false},
		{"garbage", d1 + "\nctr: failed to dial\n", nil, true},
		{"other algorithm", "sha512:" + strings.Repeat("c", 128) + "\n", nil, true},
		{"short digest", "sha256:abc\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseContentList([]byte(tc.out))
			if tc.err {
				if !errors.Is(err, ErrBadOutput) {
					t.Fatalf("err %v, want ErrBadOutput", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := appliance.BlobSet{}
			for _, d := range tc.want {
				want[d] = true
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

// fixture: v1 has two images; v2 changes one layer of the first and re-tags the second unchanged.
type fixture struct {
	b1, b2     *payload.Bundle
	v1i, v2i   appliance.VersionImages
	a1, a2, bb v1.Image
	tools      v1.Image // same name and content in both versions
	changed    v1.Layer
}

func newFixture(t *testing.T, layer int64) fixture {
	t.Helper()
	dir := t.TempDir()
	var f fixture
	f.a1 = testimage.Random(t, layer, 3, "amd64")
	f.bb = testimage.Random(t, layer, 2, "amd64")
	f.tools = testimage.Random(t, 1024, 1, "amd64")
	f.a2, f.changed = testimage.NextVersion(t, f.a1, layer)
	f.b1 = writeBundle(t, dir, "shop", "1.0.0", map[string]v1.Image{"registry.local/shop-a:1.0.0": f.a1, "registry.local/shop-b:1.0.0": f.bb, "registry.local/tools:stable": f.tools})
	f.b2 = writeBundle(t, dir, "shop", "2.0.0", map[string]v1.Image{"registry.local/shop-a:2.0.0": f.a2, "registry.local/shop-b:2.0.0": f.bb, "registry.local/tools:stable": f.tools})
	f.v1i, f.v2i = versionImages(t, f.b1), versionImages(t, f.b2)
	return f
}

func (f fixture) bundles(app, version string) (*payload.Bundle, error) {
	switch version {
	case "1.0.0":
		return f.b1, nil
	case "2.0.0":
		return f.b2, nil
	}
	return nil, ErrNoBundle
}

func land(t *testing.T, s *Site, n appliance.Node, version string, vi appliance.VersionImages) {
	t.Helper()
	set, err := s.Present(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	p := appliance.PlanImages(appliance.VersionImages{}, vi, []appliance.Node{n}, map[string]appliance.BlobSet{n.Name: set})
	req := appliance.LandRequest{App: "shop", Version: version, Platform: n.Platform, Images: vi.Images[n.Platform], Missing: p.Nodes[0].Missing}
	if err := s.Land(context.Background(), n, req); err != nil {
		t.Fatal(err)
	}
}

func TestLandSendsOnlyMissingBlobsAndPins(t *testing.T) {
	const layer = 64 << 10
	f := newFixture(t, layer)
	h, ctrd := newFakeNode(t, "node1")
	ctrd.know(t, f.a1, f.a2, f.bb, f.tools)
	s := &Site{Targets: []Target{{Host: h, Server: true}}, Bundle: f.bundles, TempDir: t.TempDir()}
	nodes, err := s.Nodes(context.Background())
	if err != nil || len(nodes) != 1 || nodes[0].Platform != amd64 {
		t.Fatalf("nodes %v %v", nodes, err)
	}
	n := nodes[0]

	land(t, s, n, "1.0.0", f.v1i)
	st1 := s.Stats()["node1"]
	var full1 bytes.Buffer
	if err := f.b1.WriteImageArchive(context.Background(), &full1, amd64, payload.ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if st1.Sent != int64(full1.Len()) || st1.Archive != int64(full1.Len()) {
		t.Fatalf("v1 on an empty node: sent %d, archive %d, want the full archive %d", st1.Sent, st1.Archive, full1.Len())
	}
	for _, b := range f.v1i.Blobs[amd64] {
		if !ctrd.has(b.Digest) {
			t.Fatalf("blob %s of v1 not in the content store", b.Digest)
		}
	}

	land(t, s, n, "2.0.0", f.v2i)
	st2 := s.Stats()["node1"]
	sent := st2.Sent - st1.Sent
	m2, _ := f.a2.Manifest()
	raw, _ := f.a2.RawManifest()
	need := layerSize(t, f.changed) + m2.Config.Size + int64(len(raw))
	var full2 bytes.Buffer
	if err := f.b2.WriteImageArchive(context.Background(), &full2, amd64, payload.ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE v1->v2: sent %d bytes, changed layer+manifest+config %d, full v2 archive %d (ratio %.3f vs needed, %.3f vs full)",
		sent, need, full2.Len(), float64(sent)/float64(need), float64(sent)/float64(full2.Len()))
	if st2.Blobs-st1.Blobs != 3 { // new manifest, new config, changed layer
		t.Errorf("v2 archive held %d blobs, want 3", st2.Blobs-st1.Blobs)
	}
	// Tar headers and the index only: a few KiB over what the node lacked.
	if sent < need || sent > need+16<<10 {
		t.Errorf("v2 sent %d bytes, want %d plus tar overhead", sent, need)
	}
	want := []string{"registry.local/shop-a:1.0.0", "registry.local/shop-a:2.0.0", "registry.local/shop-b:1.0.0", "registry.local/shop-b:2.0.0", "registry.local/tools:stable"}
	if got := ctrd.pinned(); !reflect.DeepEqual(got, want) {
		t.Errorf("pinned %v, want %v", got, want)
	}
	if ctrd.imports != 2 || st2.Fallback != 0 {
		t.Errorf("imports %d, fallbacks %d", ctrd.imports, st2.Fallback)
	}
	// Nothing left in staging, and never anything in agent/images.
	for _, d := range []string{StagingDir, "/var/lib/rancher/k3s/agent/images"} {
		ents, _ := os.ReadDir(filepath.Join(h.Root, d))
		if len(ents) != 0 {
			t.Errorf("%s holds %d file(s) after landing", d, len(ents))
		}
	}
	for _, c := range h.Cmds() {
		if strings.Contains(c.Line, "agent/images") {
			t.Errorf("command touches agent/images: %s", c.Line)
		}
	}
}

// A blob reported present but collected before the import: the partial import fails, and the version is
// landed again with a complete archive.
func TestLandFallsBackToCompleteArchive(t *testing.T) {
	f := newFixture(t, 8<<10)
	h, ctrd := newFakeNode(t, "node1")
	ctrd.know(t, f.a1, f.a2, f.bb, f.tools)
	s := &Site{Targets: []Target{{Host: h, Platform: amd64}}, Bundle: f.bundles, TempDir: t.TempDir()}
	n := appliance.Node{Name: "node1", Platform: amd64}
	land(t, s, n, "1.0.0", f.v1i)
	before := s.Stats()["node1"].Sent
	ctrd.afterList = func() {
		// Runs under the fake's lock: v1's images vanish and GC takes their blobs.
		ctrd.images = map[string]*fakeImage{}
		ctrd.gc()
	}
	if err := s.Land(context.Background(), n, appliance.LandRequest{App: "shop", Version: "2.0.0", Platform: amd64, Images: f.v2i.Images[amd64]}); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()["node1"]
	if st.Fallback != 1 {
		t.Fatalf("fallbacks %d, want 1", st.Fallback)
	}
	var full bytes.Buffer
	if err := f.b2.WriteImageArchive(context.Background(), &full, amd64, payload.ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := st.Sent - before; got <= int64(full.Len()) {
		t.Errorf("sent %d after the fallback, want the partial archive plus the full one (%d)", got, full.Len())
	}
	if got := ctrd.pinned(); !reflect.DeepEqual(got, []string{"registry.local/shop-a:2.0.0", "registry.local/shop-b:2.0.0", "registry.local/tools:stable"}) {
		t.Errorf("pinned %v", got)
	}
}

func TestLandRefusals(t *testing.T) {
	f := newFixture(t, 1<<10)
	h, _ := newFakeNode(t, "node1")
	s := &Site{Targets: []Target{{Host: h, Platform: amd64}}, Bundle: SingleBundle(f.b1), TempDir: t.TempDir()}
	err := s.Land(context.Background(), appliance.Node{Name: "other", Platform: amd64}, appliance.LandRequest{App: "shop", Version: "1.0.0", Platform: amd64})
	if !errors.Is(err, ErrUnknownNode) {
		t.Errorf("unknown node: %v", err)
	}
	err = s.Land(context.Background(), appliance.Node{Name: "node1", Platform: amd64}, appliance.LandRequest{App: "shop", Version: "2.0.0", Platform: amd64})
	if !errors.Is(err, ErrNoBundle) {
		t.Errorf("other version: %v", err)
	}
	if len(h.Cmds()) != 0 {
		t.Errorf("refusals ran commands: %v", h.Cmds())
	}
	h.Handler = func(host.Cmd) (host.Result, error) { return host.Result{Stdout: []byte("ctr: not running\n")}, nil }
	if _, err := s.Present(context.Background(), appliance.Node{Name: "node1"}); !errors.Is(err, ErrBadOutput) {
		t.Errorf("unparseable listing: %v", err)
	}
}

func TestPruneKeepsKeptVersions(t *testing.T) {
	f := newFixture(t, 8<<10)
	h, ctrd := newFakeNode(t, "node1")
	ctrd.know(t, f.a1, f.a2, f.bb, f.tools)
	s := &Site{Targets: []Target{{Host: h, Platform: amd64, Server: true}}, Bundle: f.bundles, TempDir: t.TempDir()}
	n := appliance.Node{Name: "node1", Platform: amd64}
	land(t, s, n, "1.0.0", f.v1i)
	land(t, s, n, "2.0.0", f.v2i)
	// v1's chart file, placed earlier, that no kept version references.
	old := filepath.Join(h.Root, appliance.StaticChartsDir, "shop-1.0.0.tgz")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	recs := []appliance.Record{
		{Seq: 1, App: "shop", Version: "1.0.0", State: appliance.StateSucceeded, Images: f.v1i, StaticChart: appliance.StaticChartsDir + "/shop-1.0.0.tgz"},
		{Seq: 2, App: "shop", Version: "2.0.0", State: appliance.StateSucceeded, Images: f.v2i},
	}
	// Keeping two: nothing moves.
	if r, err := s.Prune(context.Background(), recs, 2); err != nil || len(r.Unpinned["node1"]) != 0 {
		t.Fatalf("keep 2: %+v %v", r, err)
	}
	r, err := s.Prune(context.Background(), recs, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"registry.local/shop-a:1.0.0", "registry.local/shop-b:1.0.0"}; !reflect.DeepEqual(r.Unpinned["node1"], want) {
		t.Errorf("unpinned %v, want %v", r.Unpinned["node1"], want)
	}
	if got := ctrd.pinned(); !reflect.DeepEqual(got, []string{"registry.local/shop-a:2.0.0", "registry.local/shop-b:2.0.0", "registry.local/tools:stable"}) {
		t.Errorf("pinned after prune %v", got)
	}
	for _, b := range f.v2i.Blobs[amd64] {
		if !ctrd.has(b.Digest) {
			t.Errorf("v2 blob %s gone after prune", b.Digest)
		}
	}
	ls, _ := f.a1.Layers()
	gone, _ := ls[len(ls)-1].Digest()
	if ctrd.has(gone.String()) {
		t.Errorf("v1-only layer %s still in the store", gone)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("v1 static chart still there: %v", err)
	}
	// v1 in progress again (a rollback under way): its images are kept.
	recs = append(recs, appliance.Record{Seq: 3, App: "shop", Version: "1.0.0", State: appliance.StateInProgress, Images: f.v1i})
	land(t, s, n, "1.0.0", f.v1i)
	if r, err := s.Prune(context.Background(), recs, 1); err != nil || len(r.Unpinned["node1"]) != 0 {
		t.Errorf("prune with v1 in progress: %+v %v", r, err)
	}
}

func TestPlaceChartOnEveryServer(t *testing.T) {
	s1, _ := newFakeNode(t, "server1")
	s2, _ := newFakeNode(t, "server2")
	a1, _ := newFakeNode(t, "agent1")
	s := &Site{TempDir: t.TempDir(), Targets: []Target{
		{Host: s1, Server: true, Platform: amd64},
		{Host: s2, Server: true, Platform: amd64},
		{Host: a1, Platform: amd64},
	}}
	tgz := bytes.Repeat([]byte("chart"), 300000) // 1.5 MB: too big for chartContent
	p := appliance.StaticChartsDir + "/shop-2.0.0.tgz"
	if err := s.PlaceChart(context.Background(), p, tgz); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{s1.Root, s2.Root} {
		got, err := os.ReadFile(filepath.Join(h, p))
		if err != nil || !bytes.Equal(got, tgz) {
			t.Errorf("chart on %s: %d bytes, %v", h, len(got), err)
		}
		fi, _ := os.Stat(filepath.Join(h, p))
		if fi != nil && fi.Mode().Perm() != 0o644 {
			t.Errorf("chart mode %v", fi.Mode())
		}
		ents, _ := os.ReadDir(filepath.Join(h, appliance.StaticChartsDir))
		if len(ents) != 1 {
			t.Errorf("static charts dir holds %d entries (temp left?)", len(ents))
		}
	}
	if _, err := os.Stat(filepath.Join(a1.Root, p)); !os.IsNotExist(err) {
		t.Errorf("chart on the agent: %v", err)
	}
	for _, bad := range []string{"/etc/passwd", appliance.StaticChartsDir + "/../../../etc/x.tgz", appliance.StaticChartsDir + "/", appliance.StaticChartsDir + "/.x.tgz", appliance.StaticChartsDir + "/sub/x.tgz"} {
		if err := s.PlaceChart(context.Background(), bad, tgz); !errors.Is(err, ErrBadChartPath) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// A data-dir other than the default moves the file with it.
	o, _ := newFakeNode(t, "server3")
	s = &Site{TempDir: t.TempDir(), Targets: []Target{{Host: o, Server: true, Platform: amd64, Paths: kPaths("/srv/k3s")}}}
	if err := s.PlaceChart(context.Background(), p, tgz); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(o.Root, "/srv/k3s/server/static/charts/shop-2.0.0.tgz")); err != nil {
		t.Error(err)
	}
	s = &Site{TempDir: t.TempDir(), Targets: []Target{{Host: a1, Platform: amd64}}}
	if err := s.PlaceChart(context.Background(), p, tgz); err == nil {
		t.Error("no server: no error")
	}
}

// A link cut mid-upload: the landing fails, nothing is imported; the re-run builds the same archive (same
// content name) and resumes it instead of starting over.
func TestLandResumesAfterCut(t *testing.T) {
	// Small verify chunks so a ~1.3 MB archive has whole chunks to keep.
	old := transfer.VerifyChunk
	transfer.VerifyChunk = 64 << 10
	t.Cleanup(func() { transfer.VerifyChunk = old })
	f := newFixture(t, 256<<10)
	h, ctrd := newFakeNode(t, "node1")
	ctrd.know(t, f.a1, f.a2, f.bb, f.tools)
	s := &Site{Targets: []Target{{Host: h, Platform: amd64}}, Bundle: f.bundles, TempDir: t.TempDir()}
	n := appliance.Node{Name: "node1", Platform: amd64}
	req := appliance.LandRequest{App: "shop", Version: "1.0.0", Platform: amd64, Images: f.v1i.Images[amd64]}
	h.CutAfter = 600 << 10
	if err := s.Land(context.Background(), n, req); err == nil {
		t.Fatal("landing over a cut link succeeded")
	}
	if ctrd.imports != 0 || len(ctrd.pinned()) != 0 {
		t.Fatalf("imports %d, pinned %v after a failed upload", ctrd.imports, ctrd.pinned())
	}
	cut := s.Stats()["node1"].Sent
	h.CutAfter = 0
	if err := s.Land(context.Background(), n, req); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()["node1"]
	var full bytes.Buffer
	if err := f.b1.WriteImageArchive(context.Background(), &full, amd64, payload.ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	resent := st.Sent - cut
	t.Logf("MEASURE cut after %d bytes, re-run sent %d of %d", cut, resent, full.Len())
	// At most what the cut had written is kept; at worst each stream's chunk in flight is lost.
	if lo, hi := int64(full.Len())-cut, int64(full.Len())-cut+int64(transfer.Streams)*transfer.VerifyChunk; resent < lo || resent > hi {
		t.Errorf("re-run sent %d bytes of a %d-byte archive cut after %d: not resumed", resent, full.Len(), cut)
	}
	if len(ctrd.pinned()) != 3 {
		t.Errorf("pinned %v", ctrd.pinned())
	}
}
