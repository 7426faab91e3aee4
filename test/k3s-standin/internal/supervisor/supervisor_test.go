package supervisor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/pki"
)

func TestSupervisorRoutes(t *testing.T) {
	d := pki.Dir(t.TempDir())
	if err := d.EnsureCAs(); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	static := filepath.Join(root, "static")
	os.MkdirAll(filepath.Join(static, "charts"), 0o755)
	os.WriteFile(filepath.Join(static, "charts", "a.tgz"), []byte("chart"), 0o644)
	os.WriteFile(filepath.Join(root, "secret.txt"), []byte("nope"), 0o644)
	s := &Server{TLS: d, StaticDir: static, Password: func() (string, string) { return "srvpw", "agentpw" }}
	h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))

	for _, c := range []struct {
		path, pw string
		want     int
	}{
		{"/cacerts", "", http.StatusOK},
		{NodeKubeconfigPath + "?node=n1", "srvpw", http.StatusOK},
		{NodeKubeconfigPath + "?node=n1", "agentpw", http.StatusOK},
		{NodeKubeconfigPath + "?node=n1", "wrong", http.StatusUnauthorized},
		{NodeKubeconfigPath + "?node=n1", "", http.StatusUnauthorized},
		{NodeKubeconfigPath + "?node=..%2Fx", "srvpw", http.StatusBadRequest},
		{BootstrapPath, "agentpw", http.StatusUnauthorized},
		{BootstrapPath, "srvpw", http.StatusOK},
		{"/static/charts/a.tgz", "", http.StatusOK},
		{"/static/../secret.txt", "", http.StatusNotFound},
		{"/static/charts/../../secret.txt", "", http.StatusNotFound},
		{"/api/v1/nodes", "", http.StatusTeapot}, // everything else reaches the API server
	} {
		req := httptest.NewRequest(http.MethodGet, "https://x"+c.path, nil)
		if c.pw != "" {
			req.SetBasicAuth("node", c.pw)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("GET %s (password %q) = %d, want %d", c.path, c.pw, rec.Code, c.want)
		}
	}
}

func TestFetchCAChecksTokenHash(t *testing.T) {
	d := pki.Dir(t.TempDir())
	if err := d.EnsureCAs(); err != nil {
		t.Fatal(err)
	}
	s := &Server{TLS: d, StaticDir: t.TempDir(), Password: func() (string, string) { return "pw", "" }}
	ts := httptest.NewTLSServer(s.Wrap(http.NotFoundHandler()))
	defer ts.Close()
	hash, _ := d.CAHash()
	ctx := context.Background()
	if _, err := FetchCA(ctx, ts.URL, pki.Token{CAHash: hash, Password: "pw"}); err != nil {
		t.Errorf("right hash refused: %v", err)
	}
	bad := "ff" + hash[2:]
	if hash[:2] == "ff" {
		bad = "00" + hash[2:]
	}
	if _, err := FetchCA(ctx, ts.URL, pki.Token{CAHash: bad, Password: "pw"}); !errors.Is(err, ErrCAHashMismatch) {
		t.Errorf("wrong hash: err = %v, want ErrCAHashMismatch", err)
	}
}
