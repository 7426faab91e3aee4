package realengine

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
)

// A real sshd: first contact shows the key without logging in, the accepted key logs in, a wrong key file
// is ErrAuth, a changed host key is KeyChanged + ErrHostKeyMismatch, a closed port ErrUnreachable.
func TestTestConnectionOverRealSSH(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	e := New(Options{})
	ctx := context.Background()
	h := engine.Host{Name: "Node 1", Address: "127.0.0.1", Port: srv.Port, User: "root", KeyPath: srv.ClientKey, Role: engine.RoleServer}

	first, err := e.TestConnection(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if first.KeyStatus != engine.KeyNew || first.Fingerprint != srv.Fingerprint || first.KeyLine == "" || first.OS != "" {
		t.Fatalf("first contact: %+v (server key %s)", first, srv.Fingerprint)
	}

	h.HostKey = first.KeyLine
	known, err := e.TestConnection(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if known.KeyStatus != engine.KeyKnown || known.Fingerprint != srv.Fingerprint || known.OS != "linux" || known.Arch != runtime.GOARCH {
		t.Fatalf("known key: %+v", known)
	}

	bad := h
	bad.KeyPath = filepath.Join(t.TempDir(), "other_key")
	sshtest.WriteKey(t, bad.KeyPath, nil)
	if _, err := e.TestConnection(ctx, bad); !errors.Is(err, engine.ErrAuth) || !errors.Is(err, ssh.ErrAuthFailed) {
		t.Fatalf("foreign client key: %v", err)
	}

	srv.RestartWithNewHostKey()
	changed, err := e.TestConnection(ctx, h)
	if !errors.Is(err, engine.ErrHostKeyMismatch) || !errors.Is(err, ssh.ErrHostKeyMismatch) || changed.KeyStatus != engine.KeyChanged || changed.Fingerprint != srv.Fingerprint {
		t.Fatalf("changed key: %+v, %v", changed, err)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	for _, key := range []string{"", h.HostKey} {
		down := engine.Host{Name: "down", Address: "127.0.0.1", Port: port, User: "root", KeyPath: srv.ClientKey, HostKey: key}
		if _, err := e.TestConnection(ctx, down); !errors.Is(err, engine.ErrUnreachable) {
			t.Fatalf("closed port (key %q): %v", key, err)
		}
	}
}

// The management tunnel logs into the first server with the site record's known_hosts only, and carries
// TCP to the server's loopback (where k3s's API server listens on a real site).
func TestTunnelTrustsOnlyTheSiteRecord(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	e := New(Options{})
	ctx := context.Background()
	h := engine.Host{Name: "cp", Address: "127.0.0.1", Port: srv.Port, User: "root", KeyPath: srv.ClientKey, Role: engine.RoleServer}
	c, err := e.TestConnection(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := engine.Site{Name: "plant", Dir: dir, Hosts: []engine.Host{h}}
	write(t, filepath.Join(dir, "known_hosts"), nil)
	if _, _, err := tunnel(ctx, s); err == nil || !strings.Contains(err.Error(), "kubeconfig") {
		t.Fatalf("no kubeconfig: %v", err)
	}
	write(t, filepath.Join(dir, "kubeconfig"), []byte("kubeconfig"))
	if _, _, err := tunnel(ctx, s); !errors.Is(err, engine.ErrUnreachable) || !strings.Contains(err.Error(), "never accepted") {
		t.Fatalf("key not in the record: %v", err)
	}
	write(t, filepath.Join(dir, "known_hosts"), []byte(c.KeyLine+"\n"))
	client, kube, err := tunnel(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if conn, err := l.Accept(); err == nil {
			conn.Write([]byte("hello through ssh"))
			conn.Close()
		}
	}()
	conn, err := client.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(conn)
	client.Close()
	if string(kube) != "kubeconfig" || string(got) != "hello through ssh" {
		t.Fatalf("kubeconfig %q, forwarded %q", kube, got)
	}
	srv.RestartWithNewHostKey()
	if _, _, err := tunnel(ctx, s); !errors.Is(err, engine.ErrHostKeyMismatch) {
		t.Fatalf("changed key: %v", err)
	}
}

// Preflight over a real sshd before the site was ever saved: the key accepted on the Machines screen is
// trusted (and recorded in the site's known_hosts), a host whose key was never accepted is a failed
// connect row.
func TestPreflightOverRealSSH(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	other := sshtest.Start(t, sshtest.Options{})
	e := New(Options{})
	ctx := context.Background()
	cp := engine.Host{Name: "CP 1", Address: "127.0.0.1", Port: srv.Port, User: "root", KeyPath: srv.ClientKey, Role: engine.RoleServer}
	c, err := e.TestConnection(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	cp.HostKey = c.KeyLine
	agent := engine.Host{Name: "Agent", Address: "127.0.0.1", Port: other.Port, User: "root", KeyPath: other.ClientKey, Role: engine.RoleAgent}
	s := engine.Site{Name: "loop", Dir: filepath.Join(t.TempDir(), "loop"), Hosts: []engine.Host{cp, agent}}
	rows, err := e.Preflight(ctx, s, engine.Bundle{Platforms: []string{"linux/" + runtime.GOARCH}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]engine.Severity{}
	for _, r := range rows {
		if got[r.Host] == nil {
			got[r.Host] = map[string]engine.Severity{}
		}
		got[r.Host][r.ID] = r.Severity
	}
	if len(got["Agent"]) != 1 || got["Agent"]["connect"] != engine.Fail {
		t.Fatalf("never-accepted host: %v", got["Agent"])
	}
	if _, ok := got["CP 1"]["connect"]; ok || got["CP 1"]["arch"] != engine.Pass || len(got["CP 1"]) < 10 {
		t.Fatalf("accepted host: %v", got["CP 1"])
	}
	kh, err := os.ReadFile(filepath.Join(s.Dir, "known_hosts"))
	if err != nil || !strings.Contains(string(kh), keyPart(cp.HostKey)) || len(strings.Fields(string(kh))) != 3 {
		t.Fatalf("site known_hosts %q, %v", kh, err)
	}
}
