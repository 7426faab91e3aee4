package demo

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"

	"github.com/ferry-delivery/ferry/internal/fsutil"
	"github.com/ferry-delivery/ferry/payload"
	"github.com/ferry-delivery/ferry/test/lab"
)

// Build with tiny stand-in files: both bundles verify with the demo key, carry the add-on disable list
// and a two-platform image whose binary differs between versions; the chart renders the user's settings;
// a second Build reuses the key.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the web app twice")
	}
	standin := t.TempDir()
	for _, a := range []string{"amd64", "arm64"} {
		if err := os.WriteFile(filepath.Join(standin, "k3s-standin-"+a), []byte("stand-in "+a), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ctx := context.Background()
	res, err := Build(ctx, Options{Dir: dir, StandinDir: standin})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := payload.LoadPublicKey(res.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	manifests := map[string]string{}
	for _, r := range Versions {
		b, err := payload.Open(res.Bundles[r.Version])
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		v, err := b.Verify(ctx, []ed25519.PublicKey{pub}, nil)
		if err != nil || !v.Trusted {
			t.Fatalf("%s: verify %v %+v", r.Version, err, v)
		}
		m := b.Manifest()
		if diff := cmp.Diff(K3sDisable, m.K3s.Disable); diff != "" || m.K3s.Version != K3sVersion {
			t.Errorf("%s: k3s %s disable (-want +got):\n%s", r.Version, m.K3s.Version, diff)
		}
		if len(m.Images) != 1 || m.Images[0].Ref != ImageRepo+":"+r.Version || len(m.Images[0].Platforms) != 2 {
			t.Fatalf("%s: images %+v", r.Version, m.Images)
		}
		manifests[r.Version] = m.Images[0].Platforms["linux/amd64"].String()
		out := render(t, b, map[string]any{"replicas": 3, "greeting": "Hi plant 7"})
		for _, want := range []string{"replicas: 3", `value: "Hi plant 7"`, "image: \"" + ImageRepo + ":" + r.Version + "\"", "kind: Service"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: rendered chart lacks %q:\n%s", r.Version, want, out)
			}
		}
	}
	if manifests["1.0.0"] == manifests["1.1.0"] {
		t.Error("1.0.0 and 1.1.0 ship the same amd64 image: the binary should differ")
	}
	again, err := Build(ctx, Options{Dir: dir, StandinDir: standin})
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := payload.LoadPublicKey(again.PublicKey); !p2.Equal(pub) {
		t.Error("a second Build made a new key: sites trusting the first would refuse its bundles")
	}
	for _, r := range Versions {
		if a, b := sum(t, res.Bundles[r.Version]), sum(t, again.Bundles[r.Version]); a != b {
			t.Errorf("%s: a rebuild changed the bundle's bytes (%s -> %s)", r.Version, a, b)
		}
	}
}

// render renders the bundle's chart as helm would install it with the site's settings (schema checked).
func render(t *testing.T, b *payload.Bundle, settings map[string]any) string {
	t.Helper()
	r, err := b.OpenMember(b.Manifest().Chart.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := loader.LoadArchive(r)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(c, settings, chartutil.ReleaseOptions{Name: App, Namespace: App, IsInstall: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(c, vals)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, f := range files {
		out.WriteString(f + "\n")
	}
	return out.String()
}

func sum(t *testing.T, p string) string {
	t.Helper()
	h, err := fsutil.SHA256File(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDraftSite(t *testing.T) {
	inv := &lab.Inventory{Lab: "ferrylab0", Hosts: []lab.Host{
		{Name: "ferrylab0-1", Address: "10.231.0.11", User: "root", KeyFile: "/var/lib/ferry-lab/ferrylab0/id_ed25519"},
		{Name: "ferrylab0-2", Address: "10.231.0.12", Port: 22, User: "root", KeyFile: "/var/lib/ferry-lab/ferrylab0/id_ed25519"},
		{Name: "ferrylab0-3", Address: "10.231.0.13", Port: 22, User: "root", KeyFile: "/var/lib/ferry-lab/ferrylab0/id_ed25519"},
	}}
	doc, err := DraftSite(inv)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: demo", "keyFile: /var/lib/ferry-lab/ferrylab0/id_ed25519",
		"{name: ferrylab0-1, address: 10.231.0.11, port: 22, role: server}", "{name: ferrylab0-3, address: 10.231.0.13, port: 22, role: agent}"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("draft lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(string(doc), "ssh-ed25519") {
		t.Errorf("the draft vouches for host keys:\n%s", doc)
	}
	if _, err := DraftSite(&lab.Inventory{}); err == nil {
		t.Error("empty inventory accepted")
	}
}
