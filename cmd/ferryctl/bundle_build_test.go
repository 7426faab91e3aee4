package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/internal/testregistry"
	"github.com/ferry-delivery/ferry/payload"
)

// writeAppliance writes an appliance.yaml whose chart images are served by an in-process registry.
func writeAppliance(t *testing.T) (dir, spec string) {
	t.Helper()
	reg := testregistry.New(t, testregistry.Options{})
	for i, ref := range []string{"ferry-test/web:1.0", "ferry-test/db:1.0", "ferry-test/init:1.0"} {
		if _, err := reg.Push(context.Background(), testregistry.ImageSpec{Ref: ref, Platforms: []string{"linux/amd64", "linux/arm64"},
			Layers: 1, LayerSize: 64 << 10, Seed: int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	rel := testk3s.New(t, "v1.31.4+k3s1", "amd64", "arm64")
	chart, err := filepath.Abs("../../packaging/testdata/chart")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	values := fmt.Sprintf("registry: %s\ninit:\n  image: %s/ferry-test/init:1.0\n", reg.Host, reg.Host)
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	spec = filepath.Join(dir, "appliance.yaml")
	body := fmt.Sprintf("app: {name: demo, version: 1.2.0}\nk3s: {version: v1.31.4+k3s1, dir: %s}\nplatforms: [linux/amd64, linux/arm64]\nchart: %s\nvalues: values.yaml\n", rel.Dir, chart)
	if err := os.WriteFile(spec, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, spec
}

func TestBundleBuildSigned(t *testing.T) {
	dir, spec := writeAppliance(t)
	key, err := payload.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := payload.WriteKeyPair(filepath.Join(dir, "vendor"), key); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "demo-1.2.0.ferry")
	stdout, stderr, err := runCmd(context.Background(), "bundle", "build", "-f", spec, "-o", out,
		"--key", filepath.Join(dir, "vendor.key"), "--work-dir", filepath.Join(dir, "work"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) || !strings.Contains(stdout, "3 images") {
		t.Fatalf("stdout: %q", stdout)
	}
	if !strings.Contains(stderr, "pulling images") {
		t.Fatalf("no progress on stderr: %q", stderr)
	}
	b, err := payload.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.Signed() {
		t.Fatal("bundle built with --key is unsigned")
	}
}

func TestBundleBuildRefusesMissingKeyAndCancels(t *testing.T) {
	dir, spec := writeAppliance(t)
	out := filepath.Join(dir, "x.ferry")
	if _, _, err := runCmd(context.Background(), "bundle", "build", "-f", spec, "-o", out); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Fatalf("built without a key or a clear error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := runCmd(ctx, "bundle", "build", "-f", spec, "-o", out, "--unsigned", "--work-dir", filepath.Join(dir, "work"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build returned %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cancelled build left output: %v", err)
	}
}
