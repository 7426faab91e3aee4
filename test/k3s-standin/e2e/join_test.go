package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServerJoin: a second server joins the first (cluster-init) with server + token, shares its
// datastore (the documented simplification of embedded etcd) and its CAs.
func TestServerJoin(t *testing.T) {
	ctx := ctxT(t)
	d1, d2 := t.TempDir(), t.TempDir()
	p1, p2 := freePort(t), freePort(t)
	cfg1 := fmt.Sprintf("cluster-init: true\ndata-dir: %s\nhttps-listen-port: %d\nwrite-kubeconfig: %s\nnode-name: cp-1\nnode-ip: 127.0.0.1\ntoken: jointoken\n",
		filepath.Join(d1, "data"), p1, filepath.Join(d1, "k3s.yaml"))
	os.WriteFile(filepath.Join(d1, "config.yaml"), []byte(cfg1), 0o600)
	s1 := start(t, d1, "server", "--config", filepath.Join(d1, "config.yaml"))
	s1.waitReady(3 * time.Minute)
	tok, err := os.ReadFile(filepath.Join(d1, "data", "server", "token"))
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := fmt.Sprintf("server: https://127.0.0.1:%d\ntoken: %s\ndata-dir: %s\nhttps-listen-port: %d\nwrite-kubeconfig: %s\nnode-name: cp-2\nnode-ip: 127.0.0.1\n",
		p1, strings.TrimSpace(string(tok)), filepath.Join(d2, "data"), p2, filepath.Join(d2, "k3s.yaml"))
	os.WriteFile(filepath.Join(d2, "config.yaml"), []byte(cfg2), 0o600)
	s2 := start(t, d2, "server", "--config", filepath.Join(d2, "config.yaml"))
	s2.waitReady(3 * time.Minute)

	tok2, _ := os.ReadFile(filepath.Join(d2, "data", "server", "token"))
	if string(tok2) != string(tok) {
		t.Errorf("joined server's token %q differs from the first's %q (same CA and password expected)", tok2, tok)
	}
	_, cs2 := clientFor(t, filepath.Join(d2, "k3s.yaml"))
	eventually(t, time.Minute, "both servers' nodes Ready with server roles, seen through the second server", func() error {
		for _, n := range []string{"cp-1", "cp-2"} {
			node, err := cs2.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if err := nodeOK(node, true); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			if node.Labels["node-role.kubernetes.io/etcd"] != "true" {
				return fmt.Errorf("%s: no etcd role label", n)
			}
		}
		return nil
	})
	// A wrong token is refused by the first server.
	d3 := t.TempDir()
	out, err := run(t, d3, nil, "server", "--server", fmt.Sprintf("https://127.0.0.1:%d", p1), "--token", "wrongpassword",
		"--data-dir", filepath.Join(d3, "data"), "--https-listen-port", fmt.Sprint(freePort(t)), "--write-kubeconfig", filepath.Join(d3, "k3s.yaml"))
	if err == nil || !strings.Contains(out, "401") {
		t.Errorf("join with a wrong token: err=%v out=%q", err, tailStr(out, 400))
	}
}
