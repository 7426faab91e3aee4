package packaging

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/internal/testregistry"
	"github.com/ferry-delivery/ferry/payload"
)

func TestBuildWritesVerifiableBundle(t *testing.T) {
	f := newFixture(t, testregistry.Options{})
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "demo-1.2.0.ferry")
	res, err := Build(context.Background(), f.spec(t), BuildOptions{
		Out: out, Key: key, WorkDir: t.TempDir(), Transport: f.reg.Transport,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := openVerified(t, out, pub)
	m := b.Manifest()
	if m.App.Name != "demo" || m.App.Version != "1.2.0" || m.App.UpgradeFrom != "1.0.0" || m.K3s.Version != testK3sVersion {
		t.Fatalf("manifest app/k3s: %+v %+v", m.App, m.K3s.Version)
	}
	var got []string
	for _, img := range m.Images {
		got = append(got, img.Ref)
		if len(img.Platforms) != 2 {
			t.Errorf("%s ships platforms %v, want amd64 and arm64", img.Ref, img.Platforms)
		}
	}
	sort.Strings(got)
	want := []string{f.db.Ref, f.init.Ref, f.tools.Ref, f.web.Ref}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("bundle images (-want +got):\n%s", d)
	}
	if len(res.Images) != 4 || res.Size == 0 {
		t.Fatalf("result: %+v", res)
	}
	for _, h := range append(f.web.Blobs["linux/amd64"], f.web.Blobs["linux/arm64"]...) {
		if _, ok := m.Member("images/blobs/sha256/" + h.Hex); !ok {
			t.Fatalf("the blob %s is not in the bundle", h)
		}
	}
	for _, h := range f.web.Blobs["linux/s390x"] {
		if _, ok := m.Member("images/blobs/sha256/" + h.Hex); ok {
			t.Fatalf("the s390x blob %s is in the bundle", h)
		}
	}
}

func TestBuildCancelledLeavesNoOutput(t *testing.T) {
	f := newFixture(t, testregistry.Options{})
	out := filepath.Join(t.TempDir(), "demo.ferry")
	for _, phase := range []string{"pulling images", payload.PhaseWrite} {
		t.Run(phase, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Build(ctx, f.spec(t), BuildOptions{
				Out: out, WorkDir: t.TempDir(), Transport: f.reg.Transport,
				Progress: func(e progress.Event) {
					if e.Phase == phase {
						cancel()
					}
				},
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled build returned %v", err)
			}
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 0 {
				t.Fatalf("a cancelled build left %v next to the output", entries)
			}
		})
	}
}

func ExampleBuild() {
	spec, err := LoadSpec("appliance.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := payload.LoadPrivateKey("vendor.key")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Ctrl-C (ctx cancelled) stops the build; re-running resumes from the work directory.
	res, err := Build(context.Background(), spec, BuildOptions{Out: "acme-1.2.0.ferry", Key: key})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("wrote", res.Out, "with", len(res.Images), "images")
}

func TestBuildDownloadsK3sAndRefusesTampered(t *testing.T) {
	f := newFixture(t, testregistry.Options{TLS: true})
	srv := testk3s.Serve(t, f.k3s.Dir)
	spec := f.spec(t)
	spec.K3s.Dir, spec.K3s.URL = "", srv.URL+"/k3s-io/k3s/releases/download/{version}"
	work := t.TempDir()
	out := filepath.Join(t.TempDir(), "demo.ferry")
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := BuildOptions{Out: out, Key: key, WorkDir: work, Transport: f.reg.Transport, HTTPClient: srv.Client}
	if _, err := Build(context.Background(), spec, opts); err != nil {
		t.Fatal(err)
	}
	openVerified(t, out, pub)

	// A local release dir with a flipped byte is refused, naming the file, and nothing is written.
	spec = f.spec(t)
	flipByte(t, filepath.Join(f.k3s.Dir, "k3s"), 3)
	out2 := filepath.Join(t.TempDir(), "demo.ferry")
	_, err = Build(context.Background(), spec, BuildOptions{Out: out2, WorkDir: work, Transport: f.reg.Transport})
	if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "k3s has sha256") {
		t.Fatalf("tampered k3s: %v", err)
	}
	if _, err := os.Stat(out2); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output written despite the error: %v", err)
	}
}

func TestBuildRefusesConcurrentBuildOfSameApp(t *testing.T) {
	f := newFixture(t, testregistry.Options{})
	work := t.TempDir()
	_, appDir, err := workDirs(work, "demo")
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockDir(context.Background(), appDir, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), f.spec(t), BuildOptions{Out: filepath.Join(t.TempDir(), "x.ferry"), WorkDir: work, Transport: f.reg.Transport})
	if !errors.Is(err, ErrBuildRunning) {
		t.Fatalf("second build ran alongside the first: %v", err)
	}
	unlock()
	if _, err := Build(context.Background(), f.spec(t), BuildOptions{Out: filepath.Join(t.TempDir(), "x.ferry"), WorkDir: work, Transport: f.reg.Transport}); err != nil {
		t.Fatal(err)
	}
}
