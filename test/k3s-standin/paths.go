package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/config"
)

const defaultDataDir = "/var/lib/rancher/k3s"

// runDir is /run/k3s in k3s; K3S_STANDIN_RUN_DIR moves it so tests on one machine do not collide.
func runDir() string {
	if d := os.Getenv("K3S_STANDIN_RUN_DIR"); d != "" {
		return d
	}
	return "/run/k3s"
}

func containerdSocket() string { return filepath.Join(runDir(), "containerd", "containerd.sock") }

type paths struct {
	data string
}

func newPaths(c *config.Config) paths {
	d := c.String("data-dir")
	if d == "" {
		d = defaultDataDir
	}
	abs, err := filepath.Abs(d)
	if err == nil {
		d = abs
	}
	return paths{data: d}
}

func (p paths) server() string { return filepath.Join(p.data, "server") }
func (p paths) agent() string  { return filepath.Join(p.data, "agent") }
func (p paths) images() string { return filepath.Join(p.agent(), "images") }

// helmRuns keeps the helm job pods' runs across restarts (what containerd's state is to real k3s: an
// exited container is not started again after k3s restarts).
func (p paths) helmRuns() string      { return filepath.Join(p.agent(), "standin-helm-runs") }
func (p paths) tls() string           { return filepath.Join(p.server(), "tls") }
func (p paths) tokenFile() string     { return filepath.Join(p.server(), "token") }
func (p paths) nodeTokenFile() string { return filepath.Join(p.server(), "node-token") }

// nodeName is node-name, else the hostname; with-node-id appends a stable random suffix.
func nodeName(c *config.Config, p paths) (string, error) {
	n := c.String("node-name")
	if n == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", err
		}
		n = h
	}
	n = strings.ToLower(n)
	if c.Bool("with-node-id") {
		idFile := filepath.Join(p.data, "agent", "node-id")
		id, err := os.ReadFile(idFile)
		if err != nil {
			b := make([]byte, 4)
			_, _ = rand.Read(b)
			id = []byte(hex.EncodeToString(b))
			_ = os.MkdirAll(filepath.Dir(idFile), 0o755)
			if err := os.WriteFile(idFile, id, 0o600); err != nil {
				return "", err
			}
		}
		n += "-" + strings.TrimSpace(string(id))
	}
	return n, nil
}

// nodeIP is node-ip, else the first global unicast IPv4 of an up interface, else 127.0.0.1.
func nodeIP(c *config.Config) string {
	if l := c.List("node-ip"); len(l) > 0 {
		return l[0]
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func httpsPort(c *config.Config) (int, error) {
	s := c.String("https-listen-port")
	if s == "" {
		return 6443, nil
	}
	p, err := strconv.Atoi(s)
	if err != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("https-listen-port %q is not a port", s)
	}
	return p, nil
}

func kubeconfigMode(c *config.Config) (os.FileMode, error) {
	s := c.String("write-kubeconfig-mode")
	if s == "" {
		return 0o600, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("write-kubeconfig-mode %q is not an octal file mode (quote it in YAML: \"0600\")", s)
	}
	return os.FileMode(m), nil
}
