package demo

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ferry-delivery/ferry/internal/fsutil"
	"github.com/ferry-delivery/ferry/payload"
)

// Names of what Build makes.
const (
	App        = "hello-web"
	ImageRepo  = "demo.ferry.local/ferry-demo/hello-web"
	K3sVersion = "v1.35.8+standin" // the stand-in's own version: never a real k3s release name
	KeyBase    = "demo-signing"    // <Dir>/demo-signing.key and .pub
	webappPkg  = "github.com/ferry-delivery/ferry/test/demo/webapp"
)

// Versions are the demo's two releases, oldest first, with the greeting each ships as its default.
var Versions = []Release{
	{Version: "1.0.0", Greeting: "Hello from Ferry"},
	{Version: "1.1.0", Greeting: "Hello again: this is hello-web 1.1.0, installed by a Ferry upgrade"},
}

// Release is one demo version.
type Release struct{ Version, Greeting string }

// Platforms are the demo bundles' platforms.
var Platforms = []payload.Platform{"linux/amd64", "linux/arm64"}

// K3sDisable are the k3s add-ons the demo bundles switch off: the stand-in has none of them, so waiting
// for them would never end. (A real app's bundle lists only what it replaces, e.g. traefik.)
var K3sDisable = []string{"coredns", "servicelb", "traefik", "local-storage", "metrics-server"}

// Options say where to build.
type Options struct {
	// Dir receives the key pair (kept across runs), the work files and the bundles.
	Dir string
	// StandinDir holds bin/k3s-standin-amd64 and -arm64 (make standin).
	StandinDir string
	// Go is the toolchain that builds the web app (default "go"); it runs in the current directory, which
	// must be inside the Ferry module.
	Go string
	// Log receives one line per step; nil is silent.
	Log func(string)
}

// Result names what was built.
type Result struct {
	PrivateKey, PublicKey string
	// Bundles maps a version to its bundle file, e.g. "1.0.0" -> <Dir>/hello-web-1.0.0.ferry.
	Bundles map[string]string
}

// Build makes the demo key pair (once; later runs reuse it) and one signed bundle per version.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Go == "" {
		o.Go = "go"
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, a...))
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("building the demo: %w", err)
	}
	res := &Result{PrivateKey: filepath.Join(o.Dir, KeyBase+payload.PrivateKeySuffix),
		PublicKey: filepath.Join(o.Dir, KeyBase+payload.PublicKeySuffix), Bundles: map[string]string{}}
	if _, err := os.Stat(res.PrivateKey); errors.Is(err, fs.ErrNotExist) {
		k, err := payload.GenerateKey()
		if err != nil {
			return nil, err
		}
		if err := payload.WriteKeyPair(filepath.Join(o.Dir, KeyBase), k); err != nil {
			return nil, err
		}
		logf("demo signing key: %s (id %s)", res.PublicKey, payload.KeyID(k.Public().(ed25519.PublicKey)))
	}
	priv, err := payload.LoadPrivateKey(res.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("building the demo: %w", err)
	}
	work := filepath.Join(o.Dir, "work")
	k3s, err := k3sRelease(filepath.Join(work, "k3s"), o.StandinDir)
	if err != nil {
		return nil, err
	}
	for _, r := range Versions {
		began := time.Now()
		d := filepath.Join(work, r.Version)
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		idx, err := webImage(ctx, o.Go, d, r.Version)
		if err != nil {
			return nil, err
		}
		lp, err := layout.Write(filepath.Join(d, "layout"), empty.Index)
		if err != nil {
			return nil, fmt.Errorf("writing the image layout: %w", err)
		}
		ref := ImageRepo + ":" + r.Version
		if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
			return nil, fmt.Errorf("writing the image layout: %w", err)
		}
		chartPath, err := writeChart(d, r)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(o.Dir, fmt.Sprintf("%s-%s.ferry", App, r.Version))
		err = payload.Write(ctx, dst, payload.Source{
			App: payload.App{Name: App, Version: r.Version}, K3s: k3s, Platforms: Platforms,
			Chart: chartPath, Images: filepath.Join(d, "layout"),
		}, payload.WriteOptions{Key: priv})
		if err != nil {
			return nil, fmt.Errorf("writing the %s bundle: %w", r.Version, err)
		}
		res.Bundles[r.Version] = dst
		logf("bundle %s (%s)", dst, time.Since(began).Round(100*time.Millisecond))
	}
	return res, nil
}

// k3sRelease lays out the stand-in as a k3s release per platform (binary named as k3s names it, a small
// air-gap archive, the release's sha256sum file) in dir.
func k3sRelease(dir, standinDir string) (payload.K3sRelease, error) {
	rel := payload.K3sRelease{Version: K3sVersion, Assets: map[payload.Platform]payload.K3sAssets{}, Disable: K3sDisable}
	for _, p := range Platforms {
		arch := string(p)[len("linux/"):]
		d := filepath.Join(dir, arch)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return rel, err
		}
		binName := "k3s"
		if arch != "amd64" {
			binName = "k3s-" + arch
		}
		bin := filepath.Join(d, binName)
		src := filepath.Join(standinDir, "k3s-standin-"+arch)
		if _, err := os.Stat(src); err != nil {
			return rel, fmt.Errorf("finding the k3s stand-in: %w (run make standin)", err)
		}
		os.Remove(bin)
		if err := os.Link(src, bin); err != nil {
			if err := copyFile(src, bin); err != nil {
				return rel, fmt.Errorf("copying the k3s stand-in: %w", err)
			}
		}
		// The stand-in needs no air-gap image; a small placeholder image, named as one, keeps the bundle's
		// shape (k3s imports its air-gap archive on every node).
		// Fixed content, so rebuilding gives byte-identical bundles (make demo may run again).
		img, err := singleFileImage("README", []byte("Placeholder for k3s's air-gap images: the k3s stand-in needs none.\n"), 0o644)
		if err != nil {
			return rel, err
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return rel, err
		}
		tag, _ := name.NewTag("demo.ferry.local/k3s-standin/airgap-placeholder:" + arch)
		air := filepath.Join(d, "k3s-airgap-images-"+arch+".tar")
		if err := tarball.WriteToFile(air, tag, img); err != nil {
			return rel, fmt.Errorf("writing the air-gap archive: %w", err)
		}
		var sums bytes.Buffer
		for _, f := range []string{bin, air} {
			h, err := fsutil.SHA256File(f)
			if err != nil {
				return rel, err
			}
			fmt.Fprintf(&sums, "%s  %s\n", h, filepath.Base(f))
		}
		ck := filepath.Join(d, "sha256sum-"+arch+".txt")
		if err := os.WriteFile(ck, sums.Bytes(), 0o644); err != nil {
			return rel, err
		}
		rel.Assets[p] = payload.K3sAssets{Binary: bin, Checksums: ck, AirgapImages: air}
	}
	return rel, nil
}

// webImage builds the web app for every platform and returns its multi-arch index: per platform, one
// layer holding /hello-web over an empty base, entrypoint /hello-web, port 8080.
func webImage(ctx context.Context, goBin, dir, version string) (v1.ImageIndex, error) {
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, p := range Platforms {
		arch := string(p)[len("linux/"):]
		bin := filepath.Join(dir, "hello-web-"+arch)
		cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, webappPkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building the web app for %s: %w\n%s", arch, err, out)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		img, err := singleFileImage("hello-web", data, 0o755)
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		cf.Config.Entrypoint = []string{"/hello-web"}
		cf.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
		cf.Config.Labels = map[string]string{"org.opencontainers.image.version": version, "org.opencontainers.image.title": App}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return idx, nil
}

// singleFileImage is an OCI image of one layer holding one file, over an empty base (no base image is
// pulled from anywhere).
func singleFileImage(name string, data []byte, mode int64) (v1.Image, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := tb.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{Layer: layer})
	if err != nil {
		return nil, err
	}
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// writeChart packages the demo chart for r into dir and returns the .tgz path.
func writeChart(dir string, r Release) (string, error) {
	files := []*loader.BufferedFile{
		{Name: "Chart.yaml", Data: []byte(fmt.Sprintf("apiVersion: v2\nname: %s\ndescription: \"Ferry demo web app; with the k3s stand-in it never serves\"\nversion: %s\nappVersion: %q\n", App, r.Version, r.Version))},
		{Name: "values.yaml", Data: []byte(fmt.Sprintf("# hello-web: Ferry's demo app\nreplicas: 2\ngreeting: %q\nimage:\n  repository: %s\n", r.Greeting, ImageRepo))},
		{Name: "values.schema.json", Data: []byte(schema)},
		{Name: "templates/deployment.yaml", Data: []byte(deployment)},
		{Name: "templates/service.yaml", Data: []byte(service)},
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return "", fmt.Errorf("loading the demo chart: %w", err)
	}
	p, err := chartutil.Save(c, dir)
	if err != nil {
		return "", fmt.Errorf("packaging the demo chart: %w", err)
	}
	return p, nil
}

// schema lists only what a site may set: the image is the bundle's business, so it is left out of the
// Settings form (helm still accepts it: no additionalProperties: false).
const schema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["replicas", "greeting"],
  "properties": {
    "replicas": {"type": "integer", "title": "Replicas", "description": "How many copies of the web server run", "minimum": 1, "maximum": 5, "default": 2},
    "greeting": {"type": "string", "title": "Greeting", "description": "What the page says", "minLength": 1, "maxLength": 120}
  }
}
`

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/name: hello-web, app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app.kubernetes.io/name: hello-web, app.kubernetes.io/instance: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: hello-web, app.kubernetes.io/instance: {{ .Release.Name }}}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          env:
            - {name: GREETING, value: {{ .Values.greeting | quote }}}
          ports:
            - {name: http, containerPort: 8080}
          readinessProbe:
            httpGet: {path: /healthz, port: http}
`

const service = `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/name: hello-web, app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  selector: {app.kubernetes.io/name: hello-web, app.kubernetes.io/instance: {{ .Release.Name }}}
  ports:
    - {name: http, port: 80, targetPort: http}
`

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
