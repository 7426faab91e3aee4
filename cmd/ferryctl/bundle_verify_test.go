package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/payload"
)

// smallBundle writes a bundle without images (stand-in k3s files, a one-file chart) signed with key.
func smallBundle(t *testing.T, keyFile string) string {
	t.Helper()
	dir := t.TempDir()
	put := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rel := payload.K3sRelease{Version: "v1.33.4+k3s1", Assets: map[payload.Platform]payload.K3sAssets{}}
	for _, arch := range []string{"amd64", "arm64"} {
		rel.Assets[payload.Platform("linux/"+arch)] = testk3s.Assets(t, dir, arch, []byte("stand-in k3s "+arch), []byte("stand-in images "+arch))
	}
	var chart bytes.Buffer
	gz := gzip.NewWriter(&chart)
	tw := tar.NewWriter(gz)
	body := "apiVersion: v2\nname: demo\nversion: 0.1.0\n"
	tw.WriteHeader(&tar.Header{Name: "demo/Chart.yaml", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	gz.Close()
	src := payload.Source{App: payload.App{Name: "demo", Version: "1.2.0"}, K3s: rel,
		Platforms: []payload.Platform{"linux/amd64", "linux/arm64"}, Chart: put("demo.tgz", chart.Bytes())}
	var opts payload.WriteOptions
	if keyFile != "" {
		k, err := payload.LoadPrivateKey(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		opts.Key = k
	}
	dst := filepath.Join(dir, "demo.ferry")
	if err := payload.Write(context.Background(), dst, src, opts); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestKeyGenerateVerifyInspect(t *testing.T) {
	dir := t.TempDir()
	vendor, other := filepath.Join(dir, "vendor"), filepath.Join(dir, "other")
	for _, base := range []string{vendor, other} {
		if out, _, err := run(t, "key", "generate", "--out", base); err != nil || !strings.Contains(out, "key id") {
			t.Fatalf("key generate: %v %q", err, out)
		}
	}
	fi, err := os.Stat(vendor + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v (%v), want 0600", fi.Mode(), err)
	}
	if _, _, err := run(t, "key", "generate", "--out", vendor); err == nil {
		t.Fatal("key generate overwrote an existing key")
	}
	bundle := smallBundle(t, vendor+".key")

	out, stderr, err := run(t, "bundle", "verify", "--key", other+".pub", "--key", vendor+".pub", bundle)
	if err != nil || !strings.HasPrefix(out, "OK: demo 1.2.0") || !strings.Contains(stderr, "verify bundle") {
		t.Fatalf("verify with the vendor key: err %v\nstdout %q\nstderr %q", err, out, stderr)
	}
	if _, _, err := run(t, "bundle", "verify", "--key", other+".pub", bundle); !errors.Is(err, payload.ErrUntrusted) {
		t.Fatalf("verify with a foreign key: %v", err)
	}
	if _, _, err := run(t, "bundle", "verify", "--key", vendor+".key", bundle); err == nil || !strings.Contains(err.Error(), "PRIVATE key") {
		t.Fatalf("verify given the private key file: %v", err)
	}
	data, _ := os.ReadFile(bundle)
	i := bytes.Index(data, []byte("stand-in k3s arm64"))
	data[i] ^= 1
	tampered := filepath.Join(dir, "tampered.ferry")
	os.WriteFile(tampered, data, 0o644)
	if _, _, err := run(t, "bundle", "verify", "--key", vendor+".pub", tampered); !errors.Is(err, payload.ErrChecksumMismatch) ||
		!strings.Contains(err.Error(), "k3s/linux-arm64/k3s-arm64") {
		t.Fatalf("verify of a tampered bundle: %v", err)
	}

	out, _, err = run(t, "bundle", "inspect", "--json", bundle)
	if err != nil {
		t.Fatal(err)
	}
	var rep inspectReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("inspect --json output: %v\n%s", err, out)
	}
	if rep.Manifest.App.Name != "demo" || !rep.Signed || len(rep.Manifest.Platforms) != 2 {
		t.Fatalf("inspect report %+v", rep)
	}
	out, _, err = run(t, "bundle", "inspect", bundle)
	if err != nil || !strings.Contains(out, "v1.33.4+k3s1") || !strings.Contains(out, "k3s-binary") {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
}

func TestBundleVerifyUnsigned(t *testing.T) {
	bundle := smallBundle(t, "")
	_, stderr, err := run(t, "bundle", "verify", bundle)
	if !errors.Is(err, payload.ErrUnsigned) || !strings.Contains(stderr, "members intact") {
		t.Fatalf("unsigned bundle: %v\n%s", err, stderr)
	}
}
