// Command benchverify is the memory half of the wizard's benchmark (gui/xtest/bench.sh): it builds a
// large bundle of random image layers once into a cache dir, then verifies it through the exact code path
// the wizard's "Open bundle" screen uses (realengine.Engine.OpenBundle) and prints the process's peak RSS
// (VmHWM from /proc/self/status). It measures this harness process: bench.sh uses it as the no-GUI
// baseline next to the GUI process (ferry --bundle) verifying the same bundle.
//
//	benchverify build <dir> <MiB>   writes <dir>/bench.ferry unless it is already there
//	benchverify verify <bundle>     verifies it and prints peak_rss_mib and the verify seconds
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-delivery/ferry/gui/realengine"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

const layerMiB = 64

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: benchverify build <dir> <MiB> | verify <bundle>")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		mib := 2048
		if len(os.Args) > 3 {
			mib, _ = strconv.Atoi(os.Args[3])
		}
		err = build(os.Args[2], mib)
	case "verify":
		err = verify(os.Args[2])
	default:
		err = fmt.Errorf("unknown verb %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchverify:", err)
		os.Exit(1)
	}
}

func verify(path string) error {
	var last int64
	start := time.Now()
	b, err := realengine.New(realengine.Options{}).OpenBundle(context.Background(), path, func(e progress.Event) { last = e.Done })
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	hwm := ""
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			hwm = strings.Fields(l)[1]
		}
	}
	kb, _ := strconv.Atoi(hwm)
	fmt.Printf("verified %s %s (%d images, %.0f MiB checked) in %.1f s\npeak_rss_mib %.1f\n", b.App, b.Version, len(b.Images), float64(last)/(1<<20), secs, float64(kb)/1024)
	return nil
}

// hashWriter writes a file while hashing it.
type hashWriter struct {
	f *os.File
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	return w.f.Write(p)
}

// blob writes data produced by fill into the layout's blob store under its digest.
func blob(dir string, fill func(io.Writer) error) (string, int64, error) {
	tmp, err := os.CreateTemp(dir, ".blob-*")
	if err != nil {
		return "", 0, err
	}
	w := &hashWriter{f: tmp, h: sha256.New()}
	if err := fill(w); err != nil {
		tmp.Close()
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	hexd := hex.EncodeToString(w.h.Sum(nil))
	return "sha256:" + hexd, w.n, os.Rename(tmp.Name(), filepath.Join(dir, hexd))
}

func jsonBlob(dir string, v any) (string, int64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", 0, err
	}
	return blob(dir, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// build writes a bundle with one linux/amd64 image of random, incompressible layers totalling mib MiB,
// streamed to disk one layer at a time (the build itself stays small in memory).
func build(dir string, mib int) error {
	out := filepath.Join(dir, "bench.ferry")
	if _, err := os.Stat(out); err == nil {
		fmt.Println("reusing", out)
		return nil
	}
	src := filepath.Join(dir, "src")
	os.RemoveAll(src)
	blobs := filepath.Join(src, "oci", "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var layers []desc
	var diffIDs []string
	for i := 0; i*layerMiB < mib; i++ {
		d, n, err := blob(blobs, func(w io.Writer) error {
			tw := tar.NewWriter(w)
			size := int64(layerMiB) << 20
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/%03d.bin", i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := io.CopyN(tw, rand.Reader, size); err != nil {
				return err
			}
			return tw.Close()
		})
		if err != nil {
			return err
		}
		layers = append(layers, desc{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: d, Size: n})
		diffIDs = append(diffIDs, d)
	}
	cfg := map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}, "config": map[string]any{}}
	cd, cn, err := jsonBlob(blobs, cfg)
	if err != nil {
		return err
	}
	man := map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: cd, Size: cn}, "layers": layers}
	md, mn, err := jsonBlob(blobs, man)
	if err != nil {
		return err
	}
	idx := map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []desc{{
		MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: md, Size: mn,
		Annotations: map[string]string{"org.opencontainers.image.ref.name": "registry.local/bench/blob:1.0.0"}}}}
	data, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(src, "oci", "index.json"), data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "oci", "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}
	s, err := smallParts(src)
	if err != nil {
		return err
	}
	s.Images = filepath.Join(src, "oci")
	if err := payload.Write(context.Background(), out+".tmp", s, payload.WriteOptions{}); err != nil {
		return err
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return err
	}
	os.RemoveAll(src)
	fmt.Println("built", out)
	return nil
}

// smallParts stages a k3s stand-in and a tiny chart: the bundle's bulk is the image.
func smallParts(dir string) (payload.Source, error) {
	wr := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		return p
	}
	bin := wr("k3s", bytes.Repeat([]byte("k3s stand-in\n"), 1000))
	air := wr("k3s-airgap-images-amd64.tar.zst", []byte("airgap"))
	var sums bytes.Buffer
	for _, f := range []string{bin, air} {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(data), filepath.Base(f))
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct{ name, body string }{
		{"bench/Chart.yaml", "apiVersion: v2\nname: bench\nversion: 1.0.0\nappVersion: \"1.0.0\"\n"},
		{"bench/values.yaml", "replicas: 1\n"},
		{"bench/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench\n"},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	gz.Close()
	return payload.Source{
		App: payload.App{Name: "bench", Version: "1.0.0"},
		K3s: payload.K3sRelease{Version: "v1.33.4+k3s1", Assets: map[payload.Platform]payload.K3sAssets{
			"linux/amd64": {Binary: bin, AirgapImages: air, Checksums: wr("sha256sum-amd64.txt", sums.Bytes())},
		}},
		Platforms: []payload.Platform{"linux/amd64"},
		Chart:     wr("bench-1.0.0.tgz", buf.Bytes()),
	}, nil
}
