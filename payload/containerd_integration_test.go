//go:build integration

package payload

// Real containerd check of the per-node image archives (run by `make test-payload`, root only): Debian's
// containerd 1.6 + runc, started with its own config, root, state and socket under a temp dir, imports the
// archive the way k3s does at agent start (`ctr -n k8s.io images import`) and runs a static Go binary
// from it. This is the proof that k3s's containerd accepts what Ferry ships.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

const helloRef = "registry.example.com/ferry/hello:1.0"

type containerd struct {
	t    *testing.T
	dir  string
	sock string
	cmd  *exec.Cmd
}

func startContainerd(t *testing.T) *containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the containerd integration test needs root (run it through `make test-payload`)")
	}
	for _, bin := range []string{"containerd", "ctr", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install with scripts/install-deps.sh containerd (%v)", bin, err)
		}
	}
	// A short path: the socket must fit in sun_path (108 bytes).
	dir, err := os.MkdirTemp("/var/tmp", "ferry-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{t: t, dir: dir, sock: filepath.Join(dir, "ctrd.sock")}
	t.Cleanup(c.stop)
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(dir, "opt"))
	cfgPath := writeFile(t, filepath.Join(dir, "config.toml"), []byte(cfg))
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command("containerd", "--config", cfgPath)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.ctrErr(nil, "version"); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Fatalf("containerd did not come up in 30s; log:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *containerd) ctrErr(stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command("ctr", append([]string{"--address", c.sock, "--namespace", "k8s.io"}, args...)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *containerd) ctr(stdin io.Reader, args ...string) string {
	c.t.Helper()
	out, err := c.ctrErr(stdin, args...)
	if err != nil {
		c.t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// stop tears everything down even after a failed test: tasks (and their shims), containerd, mounts, files.
func (c *containerd) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		if out, err := c.ctrErr(nil, "tasks", "ls", "-q"); err == nil {
			for _, id := range strings.Fields(out) {
				c.ctrErr(nil, "tasks", "kill", "-s", "SIGKILL", id)
				time.Sleep(200 * time.Millisecond)
				c.ctrErr(nil, "tasks", "delete", "-f", id)
			}
		}
		if out, err := c.ctrErr(nil, "containers", "ls", "-q"); err == nil {
			for _, id := range strings.Fields(out) {
				c.ctrErr(nil, "containers", "delete", id)
			}
		}
		c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- c.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	// Unmount anything containerd left under its root (deepest first), then remove the tree.
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		lines := strings.Split(string(data), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			f := strings.Fields(lines[i])
			if len(f) > 4 && strings.HasPrefix(f[4], c.dir+"/") {
				syscall.Unmount(f[4], syscall.MNT_DETACH)
			}
		}
	}
	os.RemoveAll(c.dir)
}

// helloImage builds a one-file image: a static Go binary that prints its greeting and architecture.
func helloImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	dir := t.TempDir()
	src := writeFile(t, filepath.Join(dir, "main.go"), []byte(`package main

import (
	"fmt"
	"runtime"
)

func main() { fmt.Println("hello from a ferry bundle on", runtime.GOARCH) }
`))
	bin := filepath.Join(dir, "hello")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hello for %s: %v\n%s", arch, err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: fixedTime})
	tw.Write(data)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tb.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Entrypoint = []string{"/hello"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// helloBundle writes a signed two-platform bundle whose only app image is a multi-arch hello index.
func helloBundle(t *testing.T) (*Bundle, v1.Hash) {
	t.Helper()
	dir := t.TempDir()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var amdDigest v1.Hash
	for _, arch := range []string{"amd64", "arm64"} {
		img := helloImage(t, arch)
		if arch == "amd64" {
			amdDigest = digestOf(t, img)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationRefName: helloRef})); err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	src := Source{
		App:       App{Name: "hello", Version: "1.0.0"},
		K3s:       fakeK3s(t, filepath.Join(dir, "k3s"), 4096),
		Platforms: []Platform{amd64, arm64},
		Chart:     makeChart(t, filepath.Join(dir, "demo.tgz"), false),
		Images:    filepath.Join(dir, "layout"),
	}
	b := openBundle(t, writeBundle(t, src, key))
	if _, err := b.Verify(context.Background(), []ed25519.PublicKey{pub(key)}, nil); err != nil {
		t.Fatal(err)
	}
	return b, amdDigest
}

func TestContainerdImportsAndRunsArchive(t *testing.T) {
	b, amdDigest := helloBundle(t)
	ctrd := startContainerd(t)
	for i, c := range []struct {
		name        string
		compression Compression
	}{{"tar", CompressionNone}, {"tar.zst", CompressionZstd}} {
		t.Run(c.name, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "hello-amd64."+c.name)
			f, err := os.Create(archive)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.WriteImageArchive(context.Background(), f, amd64, ArchiveOptions{Compression: c.compression}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			// Start from an empty store each time, so the second import proves itself.
			ctrd.ctrErr(nil, "images", "rm", helloRef)
			in, err := os.Open(archive)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var stream io.Reader = in
			if c.compression == CompressionZstd {
				// k3s decodes .tar.zst itself with a 32 MiB memory cap before handing the tar to
				// containerd's importer; do the same.
				zr, err := zstd.NewReader(in, zstd.WithDecoderMaxMemory(32<<20), zstd.WithDecoderMaxWindow(MaxZstdWindow))
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				stream = zr
			}
			ctrd.ctr(stream, "images", "import", "-")
			ls := ctrd.ctr(nil, "images", "ls")
			if !strings.Contains(ls, helloRef) || !strings.Contains(ls, amdDigest.String()) {
				t.Fatalf("imported image %s with digest %s not listed:\n%s", helloRef, amdDigest, ls)
			}
			out := ctrd.ctr(nil, "run", "--rm", helloRef, fmt.Sprintf("ferry-hello-%d-%d", os.Getpid(), i))
			if want := "hello from a ferry bundle on amd64"; !strings.Contains(out, want) {
				t.Fatalf("container printed %q, want %q", out, want)
			}
		})
	}
	// An upgrade ships only the blobs a node lacks (docs/bundle-format.md): with the layer already in the
	// node's content store, an archive without it imports and runs.
	t.Run("layer excluded", func(t *testing.T) {
		all, err := b.ArchiveBlobs(amd64)
		if err != nil {
			t.Fatal(err)
		}
		layers := map[v1.Hash]bool{}
		for _, h := range all[2:] { // manifest, config, then layers
			layers[h] = true
		}
		var buf bytes.Buffer
		if err := b.WriteImageArchive(context.Background(), &buf, amd64, ArchiveOptions{Exclude: layers}); err != nil {
			t.Fatal(err)
		}
		ac, err := ReadArchiveContents(bytes.NewReader(buf.Bytes()))
		if err != nil || len(ac.Blobs) != 2 {
			t.Fatalf("partial archive holds %v (%v), want manifest and config only", ac, err)
		}
		// On a node the layer stays in the content store because a kept version's image still uses it
		// (k3s-contract.md §11). Model that with a second name for the image: removing the only name would
		// let containerd's asynchronous garbage collector take the layer at any moment before the import.
		kept := helloRef + "-kept"
		ctrd.ctr(nil, "images", "tag", "--force", helloRef, kept)
		defer ctrd.ctrErr(nil, "images", "rm", kept)
		ctrd.ctr(nil, "images", "rm", helloRef)
		ctrd.ctr(&buf, "images", "import", "-")
		out := ctrd.ctr(nil, "run", "--rm", helloRef, fmt.Sprintf("ferry-hello-%d-x", os.Getpid()))
		if !strings.Contains(out, "hello from a ferry bundle on amd64") {
			t.Fatalf("container printed %q", out)
		}
	})
}
