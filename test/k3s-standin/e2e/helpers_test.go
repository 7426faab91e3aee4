package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// proc is one stand-in process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    string
	notify *net.UnixConn
	done   chan struct{}
	err    error
}

func standinBin(t *testing.T) string {
	b := os.Getenv("STANDIN_BIN")
	if b == "" {
		t.Skip("STANDIN_BIN not set: run `make test-standin`")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (containerd)")
	}
	return b
}

// start runs `k3s-standin args...` with its own run dir and a notify socket.
func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	bin := standinBin(t)
	sock := filepath.Join(dir, "notify.sock")
	_ = os.Remove(sock)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("standin-%d.log", time.Now().UnixNano()))
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "K3S_STANDIN_RUN_DIR="+runDirFor(t, dir), "KUBECONFIG=")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, log: logPath, notify: conn, done: make(chan struct{})}
	runDir := runDirFor(t, dir)
	go func() { p.err = cmd.Wait(); lf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		conn.Close()
		os.RemoveAll(runDir)
		if d := os.Getenv("STANDIN_KEEP_LOGS"); d != "" {
			b, _ := os.ReadFile(logPath)
			_ = os.WriteFile(filepath.Join(d, filepath.Base(logPath)), b, 0o600)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- %s (last 6000 bytes) ----\n%s", logPath, tailStr(string(b), 6000))
		}
	})
	return p
}

// runDirFor gives each test dir a short run dir: a unix socket path must stay under 108 bytes, and
// subtest temp dirs are long.
func runDirFor(t *testing.T, dir string) string {
	d := filepath.Join(os.TempDir(), "ksr-"+hashOf(dir))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitReady waits for READY=1 on the notify socket.
func (p *proc) waitReady(timeout time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 256)
		_ = p.notify.SetReadDeadline(time.Now().Add(timeout))
		n, _, err := p.notify.ReadFromUnix(buf)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		if s != "READY=1" {
			p.t.Fatalf("notify socket got %q, want READY=1", s)
		}
	case <-p.done:
		p.t.Fatalf("stand-in exited before READY: %v", p.err)
	}
	return time.Since(start)
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) rssMiB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

// run runs the stand-in binary as a one-shot command.
func run(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(standinBin(t), args...)
	rd := filepath.Join(os.TempDir(), "ksr-"+hashOf(dir))
	_, statErr := os.Stat(rd)
	cmd.Env = append(append(os.Environ(), "K3S_STANDIN_RUN_DIR="+runDirFor(t, dir)), env...)
	out, err := cmd.CombinedOutput()
	if statErr != nil {
		os.RemoveAll(rd) // created for this command only; a running process's dir is left alone
	}
	return string(out), err
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func clientFor(t *testing.T, kubeconfig string) (*rest.Config, *kubernetes.Clientset) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cs
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// writeImageArchive builds a small image with go-containerregistry and writes it as an OCI-layout tar
// (with the io.containerd.image.name annotation) into dir under a temporary name, then renames it
// into place, as Ferry must.
func writeImageArchive(t *testing.T, dir, file, ref string) v1.Hash {
	t.Helper()
	layer, err := random.Layer(512, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = runtime.GOARCH, "linux"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	if _, err := name.ParseReference(ref); err != nil {
		t.Fatal(err)
	}
	lp := t.TempDir()
	p, err := layout.Write(lp, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": ref,
	})); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.Walk(lp, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(lp, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+file+".partial")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, file)); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// chartTgz builds a chart archive from files (path -> content) under a top directory.
func chartTgz(t *testing.T, top string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for p, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + p, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
