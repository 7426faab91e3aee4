package realengine

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
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

// The management session logs into the site's hosts with the site record's known_hosts only, and
// reaches the API server on the first server's loopback (where k3s's listens on a real site) through
// that SSH connection, with the kubeconfig the install stored.
func TestSessionTrustsOnlyTheSiteRecord(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	ctx := context.Background()
	h := engine.Host{Name: "cp", Address: "127.0.0.1", Port: srv.Port, User: "root", KeyPath: srv.ClientKey, Role: engine.RoleServer}
	c, err := New(Options{}).TestConnection(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"33","gitVersion":"v1.33.5+k3s1"}`)
	}))
	defer api.Close()
	e := New(Options{APIAddr: api.Listener.Addr().String()})
	dir := t.TempDir()
	s := engine.Site{Name: "plant", Dir: dir, Hosts: []engine.Host{h}}
	write(t, filepath.Join(dir, "known_hosts"), nil)
	if _, err := e.session(ctx, s, nil); err == nil || !strings.Contains(err.Error(), "kubeconfig") {
		t.Fatalf("no kubeconfig: %v", err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    tls-server-name: example.com\n    certificate-authority-data: %s\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
		base64.StdEncoding.EncodeToString(ca))
	write(t, filepath.Join(dir, "kubeconfig"), []byte(kc))
	if _, err := e.session(ctx, s, nil); !errors.Is(err, engine.ErrUnreachable) || !strings.Contains(err.Error(), "never accepted") {
		t.Fatalf("key not in the record: %v", err)
	}
	write(t, filepath.Join(dir, "known_hosts"), []byte(c.KeyLine+"\n"))
	sess, err := e.session(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sess.Cluster.Kube.Discovery().ServerVersion()
	sess.Close()
	if err != nil || v.GitVersion != "v1.33.5+k3s1" {
		t.Fatalf("API through the session: %v %v", v, err)
	}
	srv.RestartWithNewHostKey()
	if _, err := e.session(ctx, s, nil); !errors.Is(err, engine.ErrHostKeyMismatch) {
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

// Through a jump host (two real sshd: bastion and target, the same client key on both): the bastion's key
// first (the host is not reached, no login offered), then the host's key fetched through the logged-in
// bastion, then a full login through both verified keys. A changed bastion key is a stop on the bastion;
// a changed host key a stop on the host; with the bastion down the host is unreachable.
func TestTestConnectionThroughJumpHost(t *testing.T) {
	bastion := sshtest.Start(t, sshtest.Options{})
	target := sshtest.Start(t, sshtest.Options{})
	target.Authorize(t, "root", bastion.ClientPub)
	e := New(Options{})
	ctx := context.Background()
	h := engine.Host{Name: "Node 1", Address: "127.0.0.1", Port: target.Port, User: "root", KeyPath: bastion.ClientKey, Role: engine.RoleServer,
		JumpHost: fmt.Sprintf("127.0.0.1:%d", bastion.Port)}

	first, err := e.TestConnection(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if first.KeyStatus != engine.KeyUnchecked || first.Jump == nil || first.Jump.Status != engine.KeyNew ||
		first.Jump.Fingerprint != bastion.Fingerprint || first.Jump.KeyLine == "" || first.Fingerprint != "" {
		t.Fatalf("first contact: %+v jump %+v", first, first.Jump)
	}

	h.JumpHostKey = first.Jump.KeyLine
	second, err := e.TestConnection(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if second.KeyStatus != engine.KeyNew || second.Fingerprint != target.Fingerprint || second.KeyLine == "" ||
		second.Jump.Status != engine.KeyKnown || second.Jump.Fingerprint != bastion.Fingerprint || second.OS != "" {
		t.Fatalf("host's first contact through the bastion: %+v jump %+v", second, second.Jump)
	}

	h.HostKey = second.KeyLine
	known, err := e.TestConnection(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if known.KeyStatus != engine.KeyKnown || known.Fingerprint != target.Fingerprint || known.Jump.Status != engine.KeyKnown ||
		known.OS != "linux" || known.Arch != runtime.GOARCH {
		t.Fatalf("known keys: %+v jump %+v", known, known.Jump)
	}

	// The host's key recorded for the bastion (or the reverse) is a changed key, not a login.
	swapped := h
	swapped.JumpHostKey = strings.Replace(h.HostKey, strconv.Itoa(target.Port), strconv.Itoa(bastion.Port), 1)
	c, err := e.TestConnection(ctx, swapped)
	if !errors.Is(err, engine.ErrHostKeyMismatch) || c.Jump == nil || c.Jump.Status != engine.KeyChanged || c.Jump.Fingerprint != bastion.Fingerprint ||
		c.KeyStatus != engine.KeyUnchecked || !strings.Contains(err.Error(), "jump host") {
		t.Fatalf("bastion presenting another key: %+v jump %+v, %v", c, c.Jump, err)
	}

	target.RestartWithNewHostKey()
	c, err = e.TestConnection(ctx, h)
	if !errors.Is(err, engine.ErrHostKeyMismatch) || c.KeyStatus != engine.KeyChanged || c.Fingerprint != target.Fingerprint || c.Jump.Status != engine.KeyKnown {
		t.Fatalf("host key changed behind the bastion: %+v jump %+v, %v", c, c.Jump, err)
	}

	bastion.Stop()
	for _, hk := range []string{"", h.HostKey} {
		down := h
		down.HostKey = hk
		if _, err := e.TestConnection(ctx, down); !errors.Is(err, engine.ErrUnreachable) || !strings.Contains(err.Error(), "jump") {
			t.Fatalf("bastion down (host key %q): %v", hk, err)
		}
	}
}

// A bastion with a login of its own (two real sshd): another user, a forward-only account without a shell,
// and another key than the host's, encrypted. Test connection goes through in its three steps with the
// bastion's credentials, and so does Preflight (the installer's path, which Install and the management
// session share). The host's credentials, or a wrong passphrase, on the bastion fail with ErrAuth and
// ErrJumpHost and an error naming the bastion, its user, not the host: the host itself was not reached.
func TestTestConnectionThroughJumpHostWithItsOwnLogin(t *testing.T) {
	bastion := sshtest.Start(t, sshtest.Options{})
	target := sshtest.Start(t, sshtest.Options{})
	jumpKey := filepath.Join(t.TempDir(), "bastion_key")
	bastion.Authorize(t, sshtest.BastionUser, sshtest.WriteKey(t, jumpKey, []byte("gate phrase")))
	e := New(Options{})
	ctx := context.Background()
	h := engine.Host{Name: "Node 1", Address: "127.0.0.1", Port: target.Port, User: "root", KeyPath: target.ClientKey, Role: engine.RoleServer,
		JumpHost:  fmt.Sprintf("127.0.0.1:%d", bastion.Port),
		JumpLogin: &engine.Login{User: sshtest.BastionUser, KeyPath: jumpKey, KeyEncrypted: true, KeyPassphrase: "gate phrase"}}

	first, err := e.TestConnection(ctx, h)
	if err != nil || first.Jump == nil || first.Jump.Status != engine.KeyNew || first.KeyStatus != engine.KeyUnchecked {
		t.Fatalf("first contact: %+v, %v", first, err)
	}
	h.JumpHostKey = first.Jump.KeyLine
	second, err := e.TestConnection(ctx, h)
	if err != nil || second.KeyStatus != engine.KeyNew || second.Fingerprint != target.Fingerprint {
		t.Fatalf("host's key through the bastion: %+v, %v", second, err)
	}
	h.HostKey = second.KeyLine
	known, err := e.TestConnection(ctx, h)
	if err != nil || known.KeyStatus != engine.KeyKnown || known.OS != "linux" || known.Jump.Status != engine.KeyKnown {
		t.Fatalf("logged in through the bastion: %+v, %v", known, err)
	}

	s := engine.Site{Name: "gated", Dir: filepath.Join(t.TempDir(), "gated"), Hosts: []engine.Host{h}}
	rows, err := e.Preflight(ctx, s, engine.Bundle{Platforms: []string{"linux/" + runtime.GOARCH}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == "connect" || r.ID == "arch" && r.Severity != engine.Pass {
			t.Fatalf("preflight through the bastion: %+v", r)
		}
	}
	if len(rows) < 10 {
		t.Fatalf("preflight through the bastion: %d rows", len(rows))
	}

	for name, l := range map[string]engine.Login{
		"the host's key":     {User: sshtest.BastionUser, KeyPath: target.ClientKey},
		"the host's user":    {User: "root", KeyPath: jumpKey, KeyEncrypted: true, KeyPassphrase: "gate phrase"},
		"a wrong passphrase": {User: sshtest.BastionUser, KeyPath: jumpKey, KeyEncrypted: true, KeyPassphrase: "not the phrase"},
	} {
		for _, step := range []struct {
			name    string
			hostKey string
		}{{"host key not accepted yet", ""}, {"both keys accepted", h.HostKey}} {
			bad := h
			bad.JumpLogin, bad.HostKey = &l, step.hostKey
			c, err := e.TestConnection(ctx, bad)
			if !errors.Is(err, engine.ErrJumpHost) || !strings.Contains(err.Error(), "jump host 127.0.0.1:"+strconv.Itoa(bastion.Port)) ||
				c.KeyStatus != engine.KeyUnchecked || c.Fingerprint != "" {
				t.Errorf("bastion login with %s (%s): %+v, %v", name, step.name, c, err)
			}
			if !errors.Is(err, engine.ErrAuth) {
				t.Errorf("bastion login with %s (%s): want ErrAuth: %v", name, step.name, err)
			}
			if name != "a wrong passphrase" && !strings.Contains(err.Error(), fmt.Sprintf("refused user %q", l.User)) {
				t.Errorf("bastion login with %s (%s): the error should name the bastion's user %s: %v", name, step.name, l.User, err)
			}
		}
	}

	// The host is reached only through the bastion: with the bastion down, nothing works.
	bastion.Stop()
	if _, err := e.TestConnection(ctx, h); !errors.Is(err, engine.ErrUnreachable) || !errors.Is(err, engine.ErrJumpHost) {
		t.Fatalf("bastion down: %v", err)
	}
}
