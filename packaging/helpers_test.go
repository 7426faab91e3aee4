package packaging

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/internal/testregistry"
	"github.com/ferry-delivery/ferry/payload"
)

const testK3sVersion = "v1.31.4+k3s1"

// fixture is a complete build input: an in-process registry serving the chart's images, a stand-in k3s
// release and a spec file pointing at both.
type fixture struct {
	dir      string
	reg      *testregistry.Registry
	k3s      *testk3s.Release
	web      *testregistry.Pushed // amd64 + arm64 + s390x
	db       *testregistry.Pushed // amd64 + arm64
	init     *testregistry.Pushed // amd64 + arm64
	tools    *testregistry.Pushed // amd64 + arm64, listed explicitly in the spec
	specPath string
}

func newFixture(t *testing.T, opts testregistry.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir(), reg: testregistry.New(t, opts)}
	push := func(ref string, seed int64, plats ...string) *testregistry.Pushed {
		p, err := f.reg.Push(ctx, testregistry.ImageSpec{Ref: ref, Platforms: plats, Layers: 2, LayerSize: 16 << 10, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.web = push("ferry-test/web:1.0", 1, "linux/amd64", "linux/arm64", "linux/s390x")
	f.db = push("ferry-test/db:1.0", 2, "linux/amd64", "linux/arm64")
	f.init = push("ferry-test/init:1.0", 3, "linux/amd64", "linux/arm64")
	f.tools = push("ferry-test/tools:2.0", 4, "linux/amd64", "linux/arm64")
	f.k3s = testk3s.New(t, testK3sVersion, "amd64", "arm64")

	values := fmt.Sprintf("registry: %s\ninit:\n  image: %s/ferry-test/init:1.0\n", f.reg.Host, f.reg.Host)
	writeFile(t, filepath.Join(f.dir, "values.yaml"), values)
	f.specPath = filepath.Join(f.dir, "appliance.yaml")
	writeFile(t, f.specPath, fmt.Sprintf(`app:
  name: demo
  version: 1.2.0
  upgradeFrom: 1.0.0
k3s:
  version: %s
  dir: %s
platforms: [linux/amd64, linux/arm64]
chart: %s
values: values.yaml
images:
  - %s/ferry-test/tools:2.0
`, testK3sVersion, f.k3s.Dir, chartDir(t), f.reg.Host))
	return f
}

func (f *fixture) spec(t *testing.T) *Spec {
	t.Helper()
	s, err := LoadSpec(f.specPath)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func chartDir(t *testing.T) string {
	d, err := filepath.Abs("testdata/chart")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// openVerified opens the bundle Build wrote at path (closed when the test ends) and verifies it against
// pub, failing the test if it does not verify.
func openVerified(t *testing.T, path string, pub ed25519.PublicKey) *payload.Bundle {
	t.Helper()
	b, err := payload.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.Verify(context.Background(), []ed25519.PublicKey{pub}, nil); err != nil {
		t.Fatalf("the built bundle does not verify: %v", err)
	}
	return b
}
