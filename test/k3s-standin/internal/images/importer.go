package images

import (
	"archive/tar"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/fsnotify/fsnotify"
	"github.com/klauspost/compress/zstd"
)

// ErrUnsupportedArchive is returned for an archive kind the stand-in cannot read.
var ErrUnsupportedArchive = errors.New("unsupported image archive")

// Settle is how long a file must stay unchanged before it is imported (k3s waits 2 s too).
const Settle = 2 * time.Second

// Importer imports the archives of one agent/images directory.
type Importer struct {
	C   *Containerd
	Dir string
	Log *slog.Logger
	// OnImport is called after each import, so pods waiting for images are looked at again.
	OnImport func()

	mu      sync.Mutex
	pending map[string]*time.Timer
}

// archiveKind returns the decompressor name for a supported file name, or "".
func archiveKind(name string) string {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return "" // editors' and rsync's temporary files
	}
	for _, s := range []struct{ suffix, kind string }{
		{".tar", "none"}, {".tar.gz", "gzip"}, {".tgz", "gzip"}, {".tar.zst", "zstd"}, {".tzst", "zstd"},
		{".tar.bz2", "bzip2"}, {".tar.lz4", "lz4"},
	} {
		if strings.HasSuffix(base, s.suffix) {
			return s.kind
		}
	}
	return ""
}

// Start un-pins every image bearing k3s's label, imports every archive, and keeps watching the
// directory until ctx ends. It returns once the first pass is done (kubelet waits for it in k3s).
func (im *Importer) Start(ctx context.Context) error {
	im.pending = map[string]*time.Timer{}
	if err := os.MkdirAll(im.Dir, 0o755); err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := w.Add(im.Dir); err != nil {
		w.Close()
		return fmt.Errorf("watching %s: %w", im.Dir, err)
	}
	if err := im.unpinAll(ctx); err != nil {
		w.Close()
		return err
	}
	entries, err := os.ReadDir(im.Dir)
	if err != nil {
		w.Close()
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		if e.Type().IsRegular() && archiveKind(e.Name()) != "" {
			im.importLogged(ctx, filepath.Join(im.Dir, e.Name()))
		}
	}
	go im.watch(ctx, w)
	return nil
}

func (im *Importer) watch(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) {
				continue // a rename INTO the dir arrives as Create; a rename away needs nothing
			}
			if archiveKind(ev.Name) == "" {
				continue
			}
			im.schedule(ctx, ev.Name)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			im.Log.Warn("watching image archives", "err", err)
		}
	}
}

// schedule imports a file once it has been quiet for Settle.
func (im *Importer) schedule(ctx context.Context, path string) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if t, ok := im.pending[path]; ok {
		t.Reset(Settle)
		return
	}
	im.pending[path] = time.AfterFunc(Settle, func() {
		im.mu.Lock()
		delete(im.pending, path)
		im.mu.Unlock()
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			return
		}
		im.importLogged(ctx, path)
	})
}

func (im *Importer) importLogged(ctx context.Context, path string) {
	start := time.Now()
	names, err := im.Import(ctx, path)
	if err != nil {
		im.Log.Error("importing image archive", "file", path, "err", err)
		return
	}
	im.Log.Info("imported image archive", "file", path, "images", names, "took", time.Since(start).Round(time.Millisecond))
	if im.OnImport != nil {
		im.OnImport()
	}
}

func (im *Importer) unpinAll(ctx context.Context) error {
	imgs, err := im.C.List(ctx)
	if err != nil {
		return fmt.Errorf("listing images to un-pin: %w", err)
	}
	for _, img := range imgs {
		if img.Labels[LabelK3sPinned] != "" {
			if err := im.C.Label(ctx, img.Name, LabelK3sPinned+"=", LabelCRIPinned+"="); err != nil {
				return fmt.Errorf("un-pinning %s: %w", img.Name, err)
			}
		}
	}
	return nil
}

// Import feeds one archive to containerd and pins the images it names.
func (im *Importer) Import(ctx context.Context, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := decompress(archiveKind(path), f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	// The archive is read once: ctr imports the stream while the tee'd copy is scanned for names.
	pr, pw := io.Pipe()
	var names []string
	var scanErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		tee := io.TeeReader(r, pw)
		names, scanErr = scanNames(tee)
		if _, err := io.Copy(io.Discard, tee); err != nil && scanErr == nil {
			scanErr = err
		}
		pw.CloseWithError(scanErr)
	}()
	args := []string{"images", "import"}
	if im.C.Snapshotter != "" {
		args = append(args, "--snapshotter", im.C.Snapshotter)
	}
	_, ctrErr := im.C.Ctr(ctx, pr, append(args, "-")...)
	pr.Close()
	<-done
	if ctrErr != nil {
		return nil, fmt.Errorf("importing %s: %w", path, ctrErr)
	}
	if scanErr != nil {
		return nil, fmt.Errorf("reading %s: %w", path, scanErr)
	}
	defer im.C.invalidate()
	for _, n := range names {
		if err := im.C.Label(ctx, n, LabelK3sPinned+"=pinned", LabelCRIPinned+"=pinned"); err != nil {
			return names, fmt.Errorf("pinning %s: %w", n, err)
		}
	}
	return names, nil
}

func decompress(kind string, r io.Reader) (io.Reader, error) {
	switch kind {
	case "none":
		return r, nil
	case "gzip":
		return gzip.NewReader(r)
	case "zstd":
		// k3s decodes with a 32 MiB window cap; an archive made with a larger window fails there too.
		d, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(32<<20))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case "bzip2":
		return bzip2.NewReader(r), nil
	case "lz4":
		return nil, fmt.Errorf("%w: .tar.lz4 is not implemented by the stand-in (real k3s reads it)", ErrUnsupportedArchive)
	}
	return nil, fmt.Errorf("%w: unknown extension", ErrUnsupportedArchive)
}

// scanNames reads image names from an OCI layout tar (index.json annotations) or a docker-save tar
// (manifest.json RepoTags), normalized as containerd stores them.
func scanNames(r io.Reader) ([]string, error) {
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "index.json":
			var idx struct {
				Manifests []struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"manifests"`
			}
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				return nil, fmt.Errorf("parsing index.json: %w", err)
			}
			for _, m := range idx.Manifests {
				n := m.Annotations["io.containerd.image.name"]
				if n == "" {
					// ref.name is often a bare tag ("latest"), which names no image by itself.
					if r := m.Annotations["org.opencontainers.image.ref.name"]; strings.ContainsAny(r, "/:@") {
						n = r
					}
				}
				if full := normalize(n); full != "" {
					names = append(names, n)
				}
			}
		case "manifest.json":
			var ms []struct{ RepoTags []string }
			if err := json.NewDecoder(tr).Decode(&ms); err != nil {
				return nil, fmt.Errorf("parsing manifest.json: %w", err)
			}
			for _, m := range ms {
				for _, t := range m.RepoTags {
					if full := normalize(t); full != "" {
						names = append(names, full)
					}
				}
			}
		}
	}
}

// normalize returns the fully qualified form of a reference (docker.io/library/x:latest), or "" when
// s is not a full reference (a bare tag in an OCI ref.name annotation).
func normalize(s string) string {
	if s == "" {
		return ""
	}
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ""
	}
	return reference.TagNameOnly(n).String()
}

// Normalize is normalize for other packages.
func Normalize(s string) string { return normalize(s) }
