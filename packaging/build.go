package packaging

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

// BuildOptions tune Build.
type BuildOptions struct {
	// Out is the bundle file to write. It appears only when the whole bundle is written.
	Out string
	// Key signs the bundle; nil writes an unsigned (untrusted) bundle.
	Key ed25519.PrivateKey
	// WorkDir keeps downloads and pulled images between runs, so an interrupted build resumes. Default:
	// the user cache directory (~/.cache/ferry/build).
	WorkDir string
	// Progress receives events with byte counts; nil discards them. It is called from several goroutines
	// at once (parallel downloads) and must be cheap: wrap a slow listener with progress.NonBlocking.
	Progress progress.Sink

	// Concurrency bounds parallel image blob downloads (DefaultConcurrency when zero).
	Concurrency int
	// Transport reaches image registries; HTTPClient downloads k3s. Defaults: the standard ones.
	Transport  http.RoundTripper
	HTTPClient *http.Client
	// Keychain authenticates to registries; default authn.DefaultKeychain (the docker config).
	Keychain authn.Keychain
}

// Result describes a written bundle.
type Result struct {
	Out        string
	Size       int64
	App        AppSpec
	K3sVersion string
	Platforms  []string
	Images     []PulledImage
	// Discovered are the images found by rendering the chart, as written in it.
	Discovered []string
}

// Build gathers everything spec names, checks it, and writes the signed bundle to opts.Out. Work done is
// kept in opts.WorkDir so a re-run after a failure or Ctrl-C resumes; the output file itself is only
// ever complete or absent.
func Build(ctx context.Context, spec *Spec, opts BuildOptions) (*Result, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if opts.Out == "" {
		return nil, errors.New("building bundle: no output file given")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	base, work, err := workDirs(opts.WorkDir, spec.App.Name)
	if err != nil {
		return nil, err
	}
	// One build per app at a time: two would rewrite the same staged image index under each other.
	unlock, err := lockDir(ctx, work, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	sink := opts.Progress
	res := &Result{Out: opts.Out, App: spec.App, K3sVersion: spec.K3s.Version, Platforms: spec.Platforms}

	// Cheap checks first: a bad chart or a tampered k3s file fails before any image moves.
	sink.Emit(progress.Event{Phase: "loading chart", Msg: spec.Path(spec.Chart)})
	ch, err := loadChart(spec.Path(spec.Chart), spec.Path(spec.Values))
	if err != nil {
		return nil, err
	}
	chartDir, err := os.MkdirTemp(work, "chart-*")
	if err != nil {
		return nil, fmt.Errorf("preparing work dir: %w", err)
	}
	defer os.RemoveAll(chartDir)
	chartTgz, err := ch.packageChart(chartDir)
	if err != nil {
		return nil, err
	}
	schema, err := ch.writeSchema(chartDir)
	if err != nil {
		return nil, err
	}
	if res.Discovered, err = ch.discoverImages(spec.App.Name); err != nil {
		return nil, err
	}
	refs, err := normalizeRefs(append(append([]string(nil), res.Discovered...), spec.Images...), spec.InsecureRegistries)
	if err != nil {
		return nil, fmt.Errorf("reading image references: %w", err)
	}

	k3s := payload.K3sRelease{Version: spec.K3s.Version, Assets: map[payload.Platform]payload.K3sAssets{}, Disable: spec.K3s.Disable}
	for _, plat := range spec.Platforms {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var a k3sAssets
		if spec.K3s.Dir != "" {
			a, err = localK3s(ctx, spec.Path(spec.K3s.Dir), plat, sink)
		} else {
			a, err = downloadK3s(ctx, opts.HTTPClient, spec.K3s.URL, spec.K3s.Version,
				filepath.Join(base, "k3s", spec.K3s.Version), plat, sink)
		}
		if err != nil {
			return nil, fmt.Errorf("gathering k3s %s for %s: %w", spec.K3s.Version, plat, err)
		}
		k3s.Assets[payload.Platform(plat)] = payload.K3sAssets(a)
	}

	imagesDir := filepath.Join(work, "images")
	// The bundle is written while the images download: the pull stages each blob (verified, under its
	// digest) and the writer copies blobs in its fixed order as soon as the next one is staged, so the
	// output's bytes do not depend on download order and writing overlaps the network.
	pullCtx, cancelPull := context.WithCancel(ctx)
	defer cancelPull()
	pl, err := startPull(pullCtx, imagesDir, refs, PullOptions{
		Platforms: spec.Platforms, Concurrency: opts.Concurrency, Transport: opts.Transport,
		Keychain: opts.Keychain, Progress: sink,
	}, true)
	if err != nil {
		return nil, fmt.Errorf("pulling images: %w", err)
	}

	src := payload.Source{
		App:    payload.App{Name: spec.App.Name, Version: spec.App.Version, UpgradeFrom: spec.App.UpgradeFrom},
		K3s:    k3s,
		Chart:  chartTgz,
		Values: spec.Path(spec.Values),
		Schema: schema,
		Images: imagesDir,
	}
	for _, p := range spec.Platforms {
		src.Platforms = append(src.Platforms, payload.Platform(p))
	}
	// payload.Write writes beside Out and renames into place only when complete, so a cancelled or
	// failed write leaves no file at Out. Its byte counts are held back while the pull reports its own
	// (one phase at a time on the user's screen); the write then shows only the part still left to do.
	writeSink := func(e progress.Event) {
		select {
		case <-pl.allStaged:
			sink.Emit(e)
		default:
		}
	}
	// BlobsVerified: fetchBlob gives a blob its digest name only after the registry stream ended with
	// that digest (go-containerregistry checks it), and writeSmallBlob hashes manifests itself.
	werr := payload.Write(ctx, opts.Out, src, payload.WriteOptions{Key: opts.Key, Progress: writeSink, Stager: pl, BlobsVerified: true})
	if werr != nil {
		cancelPull()
	}
	images, perr := pl.wait()
	switch {
	case perr != nil && werr != nil && errors.Is(perr, context.Canceled) && ctx.Err() == nil:
		return nil, werr // the write failed and stopped the pull
	case perr != nil:
		if werr == nil {
			os.Remove(opts.Out) // the bundle is whole, but the staging must be too before we report success
		}
		return nil, fmt.Errorf("pulling images: %w", perr)
	case werr != nil:
		return nil, werr
	}
	res.Images = images
	if fi, err := os.Stat(opts.Out); err == nil {
		res.Size = fi.Size()
	}
	return res, nil
}

// workDirs returns the work directory (shared k3s downloads) and the app's own, creating them.
func workDirs(base, app string) (string, string, error) {
	if base == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", "", fmt.Errorf("finding a work directory (set one explicitly): %w", err)
		}
		base = filepath.Join(cache, "ferry", "build")
	}
	dir := filepath.Join(base, "apps", app)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("creating work directory: %w", err)
	}
	return base, dir, nil
}
