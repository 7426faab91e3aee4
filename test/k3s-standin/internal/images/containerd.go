package images

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Namespace is the containerd namespace Kubernetes images live in.
const Namespace = "k8s.io"

// Pin labels, as k3s sets them.
const (
	LabelK3sPinned = "io.cattle.k3s.pinned"
	LabelCRIPinned = "io.cri-containerd.pinned"
)

// Containerd is a containerd child process and the ctr client for it.
type Containerd struct {
	Root        string // <data-dir>/agent/containerd
	State       string // /run/k3s/containerd
	Socket      string // /run/k3s/containerd/containerd.sock
	ConfigDir   string // <data-dir>/agent/etc/containerd
	Snapshotter string // "" = overlayfs
	LogFile     string // containerd's log (k3s: agent/containerd/containerd.log)
	cmd         *exec.Cmd
	exited      chan error

	mu      sync.Mutex
	cache   []Image
	cacheAt time.Time
}

// Start writes containerd's config and starts it, returning once it answers on its socket.
func (c *Containerd) Start(ctx context.Context) error {
	for _, d := range []string{c.Root, c.State, filepath.Dir(c.Socket), c.ConfigDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	cfg := filepath.Join(c.ConfigDir, "config.toml")
	// The CRI plugin is off: no kubelet talks CRI here, and it would only log CNI errors.
	body := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, c.Root, c.State, c.Socket, filepath.Join(c.Root, "opt"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return fmt.Errorf("writing containerd config: %w", err)
	}
	_ = os.Remove(c.Socket)
	log, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	c.cmd = exec.Command("containerd", "--config", cfg)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	// Its own process group, so a terminal's ^C reaches the stand-in only and it stops containerd itself.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting containerd (install Debian's containerd package): %w", err)
	}
	c.exited = make(chan error, 1)
	go func() { c.exited <- c.cmd.Wait(); log.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := c.Ctr(ctx, nil, "version"); err == nil {
			return nil
		}
		select {
		case err := <-c.exited:
			return fmt.Errorf("containerd exited at start (see %s): %v", c.LogFile, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd did not answer on %s within 60s (see %s)", c.Socket, c.LogFile)
		}
	}
}

// Exited reports containerd's exit.
func (c *Containerd) Exited() <-chan error { return c.exited }

// Stop terminates containerd.
func (c *Containerd) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
	}
}

// Ctr runs ctr against this containerd in the k8s.io namespace.
func (c *Containerd) Ctr(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	full := append([]string{"--address", c.Socket, "--namespace", Namespace}, args...)
	cmd := exec.CommandContext(ctx, "ctr", full...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// Image is one containerd image record.
type Image struct {
	Name   string
	Digest string
	Labels map[string]string
}

// List returns the images in the k8s.io namespace.
func (c *Containerd) List(ctx context.Context) ([]Image, error) {
	out, err := c.Ctr(ctx, nil, "images", "ls")
	if err != nil {
		return nil, err
	}
	return parseList(out), nil
}

// parseList reads `ctr images ls`: REF TYPE DIGEST SIZE(2 words) PLATFORMS LABELS.
func parseList(out []byte) []Image {
	var imgs []Image
	sc := bufio.NewScanner(bytes.NewReader(out))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		img := Image{Name: f[0], Digest: f[2], Labels: map[string]string{}}
		if last := f[len(f)-1]; len(f) >= 7 && last != "-" {
			for _, kv := range strings.Split(last, ",") {
				k, v, _ := strings.Cut(kv, "=")
				img.Labels[k] = v
			}
		}
		imgs = append(imgs, img)
	}
	return imgs
}

// Label sets (value non-empty) or clears (value "") labels on an image.
func (c *Containerd) Label(ctx context.Context, name string, kv ...string) error {
	_, err := c.Ctr(ctx, nil, append([]string{"images", "label", name}, kv...)...)
	return err
}
