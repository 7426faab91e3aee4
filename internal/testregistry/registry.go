package testregistry

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// Registry is a running in-process registry.
type Registry struct {
	// Host is host:port, usable as the registry part of an image reference.
	Host string
	// Transport trusts the server's certificate (TLS) or is a plain transport; pass it to pullers.
	Transport http.RoundTripper
	TLS       bool

	srv   *httptest.Server
	blobs registry.BlobHandler

	mu       sync.Mutex
	requests map[string]int // "GET /v2/.../blobs/sha256:..." -> count, for tests that check what was fetched
}

// Options configure Start.
type Options struct {
	// TLS serves HTTPS with a self-signed certificate trusted by Transport; otherwise plain HTTP on
	// 127.0.0.1, which go-containerregistry reaches over HTTP by default.
	TLS bool
	// Addr is the listen address (default 127.0.0.1:0).
	Addr string
	// BytesPerSecond, when set, slows blob downloads to about that rate, so a test can interrupt a
	// transfer while it runs.
	BytesPerSecond int64
}

// Start runs a registry until Close.
func Start(opts Options) (*Registry, error) {
	blobs := registry.NewInMemoryBlobHandler()
	r := &Registry{blobs: blobs, TLS: opts.TLS, requests: map[string]int{}}
	h := registry.New(registry.WithBlobHandler(blobs), registry.Logger(log.New(io.Discard, "", 0)))
	counted := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests[req.Method+" "+req.URL.Path]++
		r.mu.Unlock()
		if opts.BytesPerSecond > 0 && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			w = &slowWriter{ResponseWriter: w, rate: opts.BytesPerSecond}
		}
		h.ServeHTTP(w, req)
	})
	srv := httptest.NewUnstartedServer(counted)
	if opts.Addr != "" {
		srv.Listener.Close()
		l, err := listen(opts.Addr)
		if err != nil {
			return nil, err
		}
		srv.Listener = l
	}
	if opts.TLS {
		srv.StartTLS()
		t := srv.Client().Transport.(*http.Transport).Clone()
		r.Transport = t
	} else {
		srv.Start()
		r.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	r.srv = srv
	r.Host = strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
	return r, nil
}

// New starts a registry closed when the test ends.
func New(t testing.TB, opts Options) *Registry {
	t.Helper()
	r, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// slowWriter paces a response to about rate bytes per second, in chunks of a tenth of a second.
type slowWriter struct {
	http.ResponseWriter
	rate int64
}

func (s *slowWriter) Write(b []byte) (int, error) {
	chunk := int(max(s.rate/10, 1))
	n := 0
	for n < len(b) {
		end := min(n+chunk, len(b))
		k, err := s.ResponseWriter.Write(b[n:end])
		n += k
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(time.Duration(int64(k) * int64(time.Second) / s.rate))
	}
	return n, nil
}

// Close stops the server.
func (r *Registry) Close() { r.srv.Close() }

// TLSConfig is the client TLS configuration trusting the server (nil for plain HTTP).
func (r *Registry) TLSConfig() *tls.Config {
	if !r.TLS {
		return nil
	}
	return r.Transport.(*http.Transport).TLSClientConfig
}

// BlobGets is how many times a blob was downloaded (GET) from any repository.
func (r *Registry) BlobGets(h v1.Hash) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, c := range r.requests {
		if strings.HasPrefix(k, "GET ") && strings.HasSuffix(k, "/blobs/"+h.String()) {
			n += c
		}
	}
	return n
}

// Platform is a platform as "os/arch[/variant]".
type Platform = string

// ImageSpec describes a random image to build and push.
type ImageSpec struct {
	// Ref is repo:tag without the registry host, e.g. "ferry-test/web:1.0".
	Ref string
	// Platforms: one entry pushes a single-platform image; more push an OCI index of them.
	Platforms []Platform
	// Layers per platform image and the size of the random file in each.
	Layers    int
	LayerSize int64
	// Seed makes the content reproducible; images with different seeds share no layers.
	Seed int64
}

// Pushed records what was pushed.
type Pushed struct {
	// Ref is the full reference including the registry host.
	Ref string
	// Digest is the top-level digest (the index, or the image for a single platform).
	Digest v1.Hash
	// Manifests and Blobs (config + layers) of each platform's image.
	Manifests map[Platform]v1.Hash
	Blobs     map[Platform][]v1.Hash
	// Size is the sum of all blobs' sizes.
	Size int64
}

// Push builds spec's random image(s) and pushes them. Layer blobs go straight into the registry's store
// (the pusher then finds them present), so a large image is held in memory once.
func (r *Registry) Push(ctx context.Context, spec ImageSpec) (*Pushed, error) {
	ref, err := name.ParseReference(r.Host+"/"+spec.Ref, name.Insecure)
	if err != nil {
		return nil, err
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(r.Transport)}
	rnd := rand.New(rand.NewSource(spec.Seed))
	p := &Pushed{Ref: ref.String(), Manifests: map[Platform]v1.Hash{}, Blobs: map[Platform][]v1.Hash{}}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var img v1.Image
	for _, plat := range spec.Platforms {
		vp, err := v1.ParsePlatform(plat)
		if err != nil {
			return nil, err
		}
		img, err = r.randomImage(ctx, ref.Context(), rnd, *vp, spec.Layers, spec.LayerSize)
		if err != nil {
			return nil, err
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		p.Manifests[plat] = d
		cfg, _ := img.ConfigName()
		p.Blobs[plat] = append(p.Blobs[plat], cfg)
		ls, _ := img.Layers()
		for _, l := range ls {
			ld, _ := l.Digest()
			sz, _ := l.Size()
			p.Blobs[plat] = append(p.Blobs[plat], ld)
			p.Size += sz
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: vp}})
	}
	if len(spec.Platforms) == 1 {
		if err := remote.Write(ref, img, ropts...); err != nil {
			return nil, fmt.Errorf("pushing %s: %w", ref, err)
		}
		p.Digest = p.Manifests[spec.Platforms[0]]
		return p, nil
	}
	if err := remote.WriteIndex(ref, idx, ropts...); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", ref, err)
	}
	if p.Digest, err = idx.Digest(); err != nil {
		return nil, err
	}
	return p, nil
}

// randomImage builds an OCI image of n layers, each a tar holding one file of size random bytes,
// gzip-compressed at the fastest level (random data does not compress anyway).
func (r *Registry) randomImage(ctx context.Context, repo name.Repository, rnd *rand.Rand, plat v1.Platform, n int, size int64) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for i := 0; i < n; i++ {
		layer, err := randomLayer(rnd, fmt.Sprintf("data/%s-%d.bin", strings.ReplaceAll(plat.String(), "/", "-"), i), size)
		if err != nil {
			return nil, err
		}
		d, _ := layer.Digest()
		rc, _ := layer.Compressed()
		if err := r.blobs.(registry.BlobPutHandler).Put(ctx, repo.RepositoryStr(), d, rc); err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: layer, MediaType: types.OCILayer})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Config.Cmd = []string{"/bin/true"}
	return mutate.ConfigFile(img, cf)
}

func randomLayer(rnd *rand.Rand, file string, size int64) (v1.Layer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := io.CopyN(tw, rnd, size); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	gz := buf.Bytes()
	// tarball reads gzip input as the compressed form and derives the diffID from its content.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil },
		tarball.WithMediaType(types.OCILayer))
}
