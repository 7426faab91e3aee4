package remote

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
)

// siteFile writes a one-server site.yaml for the test sshd and returns it loaded.
func siteFile(t *testing.T, s *sshtest.Server) *site.Site {
	t.Helper()
	dir := t.TempDir()
	y := fmt.Sprintf(`name: lab
hosts:
  - name: node1
    address: 127.0.0.1
    port: %d
    role: server
    user: root
    auth:
      keyFile: %s
`, s.Port, s.ClientKey)
	p := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := site.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// apiServer stands in for k3s's API server on the host's loopback: a TLS server answering /version,
// and the kubeconfig the install would have stored for it (pointing at an address the laptop cannot
// reach, as k3s's does: 127.0.0.1:6443).
func apiServer(t *testing.T) (addr string, kubeconfig []byte) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"33","gitVersion":"v1.33.5+k3s1"}`)
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    server: https://127.0.0.1:6443
    tls-server-name: example.com
    certificate-authority-data: %s
contexts:
- name: default
  context: {cluster: default, user: default}
current-context: default
users:
- name: default
  user: {token: test}
`, b64(ca))
	return srv.Listener.Addr().String(), []byte(kc)
}

func TestOpenTunnelsToTheAPIWithTheStoredKubeconfig(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	st := siteFile(t, s)
	ctx := context.Background()
	o := Options{Installer: installer.Options{AcceptHostKeys: []string{s.Fingerprint}}}

	// No kubeconfig in the records: not installed, and nothing is dialled.
	if _, err := Open(ctx, st, o); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("open before install: err = %v, want ErrNotInstalled", err)
	}

	addr, kc := apiServer(t)
	if err := os.MkdirAll(st.RecordsDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.RecordsDir(), installer.KubeconfigRecord), kc, 0o600); err != nil {
		t.Fatal(err)
	}

	// Nothing listening at the API address on the server: a clear error naming the cause.
	o.APIAddr = "127.0.0.1:1"
	if _, err := Open(ctx, st, o); !errors.Is(err, ErrNoAPI) {
		t.Fatalf("open with no API: err = %v, want ErrNoAPI", err)
	}

	o.APIAddr = addr
	sess, err := Open(ctx, st, o)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if sess.Server != "node1" || len(sess.Nodes.Targets) != 1 || !sess.Nodes.Targets[0].Server {
		t.Fatalf("session: server %q, targets %+v", sess.Server, sess.Nodes.Targets)
	}
	v, err := sess.Cluster.Kube.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("API through the tunnel: %v", err)
	}
	if v.GitVersion != "v1.33.5+k3s1" {
		t.Fatalf("version %q", v.GitVersion)
	}
	sess.Close()

	// Host keys: the accepted key is now in the site's known_hosts; a changed key is refused.
	o.Installer.AcceptHostKeys = nil
	s2, err := Open(ctx, st, o)
	if err != nil {
		t.Fatalf("reopen with the recorded key: %v", err)
	}
	s2.Close()
	s.RestartWithNewHostKey()
	if _, err := Open(ctx, st, o); err == nil {
		t.Fatal("a changed host key was accepted")
	}
}

func TestAppOf(t *testing.T) {
	st := &site.Site{Name: "lab", Records: t.TempDir()}
	if _, err := AppOf(st); !errors.Is(err, ErrNoApp) {
		t.Fatalf("empty records: %v", err)
	}
	write := func(app string) {
		d := filepath.Join(st.RecordsDir(), app)
		os.MkdirAll(d, 0o700)
		os.WriteFile(filepath.Join(d, "ferry-record-"+app+"-000001.json"), []byte("{}"), 0o600)
	}
	os.MkdirAll(filepath.Join(st.RecordsDir(), "charts"), 0o700) // a directory without records is ignored
	write("shop")
	if app, err := AppOf(st); err != nil || app != "shop" {
		t.Fatalf("one app: %q %v", app, err)
	}
	write("crm")
	if _, err := AppOf(st); !errors.Is(err, ErrNoApp) {
		t.Fatalf("two apps: %v", err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
