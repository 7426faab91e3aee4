package testk3s

import (
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ferry-delivery/ferry/internal/fsutil"
)

// Release is a stand-in k3s release written to Dir.
type Release struct {
	Dir     string
	Version string
	// Files maps each written file name to its sha256.
	Files map[string]string
}

// WriteRelease writes, for each arch ("amd64", "arm64"), the binary (k3s / k3s-arm64), an air-gap images
// archive k3s-airgap-images-<arch>.tar (a docker-save tarball of a small random image) and
// sha256sum-<arch>.txt listing them, plus k3s-images.txt.
func WriteRelease(dir, version string, arches ...string) (*Release, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Release{Dir: dir, Version: version, Files: map[string]string{}}
	pause := "docker.io/rancher/mirrored-pause:3.6"
	if err := os.WriteFile(filepath.Join(dir, "k3s-images.txt"), []byte(pause+"\n"), 0o644); err != nil {
		return nil, err
	}
	for i, arch := range arches {
		bin := "k3s"
		if arch != "amd64" {
			bin = "k3s-" + arch
		}
		script := fmt.Sprintf("#!/bin/sh\n# Ferry test stand-in for k3s %s (%s); not k3s.\necho 'k3s version %s (stand-in)'\n", version, arch, version)
		if err := os.WriteFile(filepath.Join(dir, bin), []byte(script), 0o755); err != nil {
			return nil, err
		}
		img, err := random.Image(2048, 1, random.WithSource(rand.NewSource(int64(i+1))))
		if err != nil {
			return nil, err
		}
		tag, _ := name.NewTag(pause)
		airgap := "k3s-airgap-images-" + arch + ".tar"
		if err := tarball.WriteToFile(filepath.Join(dir, airgap), tag, img); err != nil {
			return nil, err
		}
		var lines []string
		for _, f := range []string{bin, airgap, "k3s-images.txt"} {
			sum, err := fsutil.SHA256File(filepath.Join(dir, f))
			if err != nil {
				return nil, err
			}
			r.Files[f] = sum
			lines = append(lines, sum+"  "+f)
		}
		sort.Strings(lines)
		sums := "sha256sum-" + arch + ".txt"
		if err := os.WriteFile(filepath.Join(dir, sums), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		if r.Files[sums], err = fsutil.SHA256File(filepath.Join(dir, sums)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// New writes a release into a test temp dir.
func New(t testing.TB, version string, arches ...string) *Release {
	t.Helper()
	r, err := WriteRelease(filepath.Join(t.TempDir(), "k3s-release"), version, arches...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Server serves a release directory over HTTPS at URL + "/any/dirs/<file>" (range requests included; the
// directories are ignored, so any release URL layout works) and records
// each request's Range header, so tests can see resumed downloads.
type Server struct {
	URL    string
	Client *http.Client
	srv    *httptest.Server

	mu     sync.Mutex
	Ranges map[string][]string // file -> Range header of each GET ("" for a full fetch)
}

// Serve starts an HTTPS server for dir, closed when the test ends.
func Serve(t testing.TB, dir string) *Server {
	s := &Server{Ranges: map[string][]string{}}
	fs := http.FileServer(http.Dir(dir))
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := filepath.Base(r.URL.Path)
		s.Ranges[f] = append(s.Ranges[f], r.Header.Get("Range"))
		s.mu.Unlock()
		r.URL.Path = "/" + f
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	s.Client = s.srv.Client()
	return s
}

// Requests returns the Range headers of the GETs of file so far.
func (s *Server) Requests(file string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.Ranges[file]...)
}
