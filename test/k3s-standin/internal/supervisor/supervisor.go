package supervisor

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/pki"
)

// Routes served by the supervisor.
const (
	NodeKubeconfigPath = "/v1-k3s/standin/node-kubeconfig"
	BootstrapPath      = "/v1-k3s/standin/server-bootstrap"
)

// Server holds what the routes need.
type Server struct {
	TLS       pki.Dir
	StaticDir string
	// Password returns the server token's password and the agent token's password ("" when unset).
	Password func() (server, agent string)
}

var nodeName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// Wrap puts the supervisor's routes in front of next.
func (s *Server) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/cacerts":
			http.ServeFile(w, r, s.TLS.Path(pki.ServerCACert))
		case r.URL.Path == "/ping":
			w.Write([]byte("pong"))
		case strings.HasPrefix(r.URL.Path, "/static/"):
			// Only files under the static dir; ServeFile cleans the path and refuses "..".
			rel := filepath.Clean("/" + strings.TrimPrefix(r.URL.Path, "/static/"))
			p := filepath.Join(s.StaticDir, rel)
			if fi, err := os.Stat(p); err != nil || fi.IsDir() {
				http.NotFound(w, r)
				return
			}
			http.ServeFile(w, r, p)
		case r.URL.Path == NodeKubeconfigPath:
			s.nodeKubeconfig(w, r)
		case r.URL.Path == BootstrapPath:
			s.bootstrap(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// authorized checks basic auth against the server token (agents may also use the agent token).
func (s *Server) authorized(r *http.Request, allowAgent bool) bool {
	_, pw, ok := r.BasicAuth()
	if !ok || pw == "" {
		return false
	}
	server, agent := s.Password()
	if subtle.ConstantTimeCompare([]byte(pw), []byte(server)) == 1 {
		return true
	}
	return allowAgent && agent != "" && subtle.ConstantTimeCompare([]byte(pw), []byte(agent)) == 1
}

func (s *Server) nodeKubeconfig(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r, true) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	node := r.URL.Query().Get("node")
	if !nodeName.MatchString(node) {
		http.Error(w, "bad node name", http.StatusBadRequest)
		return
	}
	ca, err := os.ReadFile(s.TLS.Path(pki.ServerCACert))
	if err != nil {
		http.Error(w, "reading CA", http.StatusInternalServerError)
		return
	}
	cert, key, err := s.TLS.IssueClient("system:node:"+node, "system:nodes")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(NodeCredentials{CA: ca, Cert: cert, Key: key})
}

// NodeCredentials is what an agent receives.
type NodeCredentials struct {
	CA   []byte `json:"ca"`
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

func (s *Server) bootstrap(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r, false) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	out := map[string][]byte{}
	for _, f := range pki.BootstrapFiles {
		b, err := os.ReadFile(s.TLS.Path(f))
		if err != nil {
			http.Error(w, "reading bootstrap data", http.StatusInternalServerError)
			return
		}
		out[f] = b
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
