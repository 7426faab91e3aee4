package nodes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

const (
	// PinLabel is the only pin Ferry sets: k3s strips and re-applies io.cattle.k3s.pinned at every start
	// from agent/images, but leaves this one alone (docs/appliance.md).
	PinLabel = "io.cri-containerd.pinned"
	// StagingDir holds uploaded archives until they are imported; it is outside agent/images so k3s
	// never re-imports a partial archive at start.
	StagingDir = "/var/lib/ferry/images"

	annotationName = "io.containerd.image.name"
)

var (
	// ErrUnknownNode is returned for a node not among the Site's targets.
	ErrUnknownNode = errors.New("node is not one of the site's hosts")
	// ErrNoBundle is returned when no bundle is at hand for the version being landed.
	ErrNoBundle = errors.New("no bundle for this version")
	// ErrBadChartPath is returned for a chart path outside the static charts dir.
	ErrBadChartPath = errors.New("chart path is not a file directly in the static charts dir")
	// ErrBadOutput is returned when a node's ctr output cannot be parsed.
	ErrBadOutput = errors.New("unexpected ctr output")
)

// Target is one cluster node reached over SSH.
type Target struct {
	Host host.Host
	// Platform is "linux/amd64" or "linux/arm64"; empty: learned from `uname -m` on first use.
	Platform string
	// Server says the node runs `k3s server` (charts are placed on servers only).
	Server bool
	// Paths are the node's k3s locations; zero: k3s's defaults.
	Paths k3s.Paths
}

// Stats is what landing sent to one node, summed over Land calls.
type Stats struct {
	Sent     int64 // bytes on the wire (uploads, resumed parts not counted twice)
	Archive  int64 // bytes of the archives built for the node
	Blobs    int   // blobs those archives held
	Fallback int   // partial imports that failed and were redone with a complete archive
}

// Site implements appliance.NodeImages and appliance.ChartPlacer over SSH hosts.
type Site struct {
	Targets []Target
	// Bundle returns the opened, verified bundle of an app version; Land reads blobs from it.
	Bundle func(app, version string) (*payload.Bundle, error)
	// TempDir holds archives built on the laptop before upload (default os.TempDir()).
	TempDir string
	// Sink receives progress (upload bytes per node); nil: none.
	Sink progress.Sink

	mu    sync.Mutex
	plats map[string]string
	stats map[string]Stats
}

var (
	_ appliance.NodeImages  = (*Site)(nil)
	_ appliance.ChartPlacer = (*Site)(nil)
)

// SingleBundle serves one opened bundle to Site.Bundle, refusing any other app or version.
func SingleBundle(b *payload.Bundle) func(app, version string) (*payload.Bundle, error) {
	return func(app, version string) (*payload.Bundle, error) {
		m := b.Manifest()
		if m.App.Name != app || m.App.Version != version {
			return nil, fmt.Errorf("%w: %s %s (the bundle at hand is %s %s)", ErrNoBundle, app, version, m.App.Name, m.App.Version)
		}
		return b, nil
	}
}

// Stats returns what was sent to each node so far, by node name.
func (s *Site) Stats() map[string]Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Stats{}
	for k, v := range s.stats {
		out[k] = v
	}
	return out
}

// Nodes lists the targets with their platforms.
func (s *Site) Nodes(ctx context.Context) ([]appliance.Node, error) {
	var out []appliance.Node
	var errs []error
	for _, t := range s.Targets {
		p, err := s.platform(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, appliance.Node{Name: t.Host.Name(), Platform: p})
	}
	return out, errors.Join(errs...)
}

// Present reads the node's containerd content store (k8s.io namespace).
func (s *Site) Present(ctx context.Context, node appliance.Node) (appliance.BlobSet, error) {
	t, err := s.target(node.Name)
	if err != nil {
		return nil, err
	}
	res, err := t.Host.Run(ctx, host.Cmd{Line: ctr(t, "content ls -q"), Sudo: true, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("listing containerd content on %s: %w", node.Name, err)
	}
	set, err := ParseContentList(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("listing containerd content on %s: %w", node.Name, err)
	}
	return set, nil
}

// ParseContentList reads `ctr content ls` output, quiet (-q: one digest a line) or not (a DIGEST header,
// the digest first on each line). Any other line is an error: a misread store would resend everything
// or, worse, skip a blob the node lacks.
func ParseContentList(out []byte) (appliance.BlobSet, error) {
	set := appliance.BlobSet{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if first && f[0] == "DIGEST" {
			first = false
			continue
		}
		first = false
		h, err := v1.NewHash(f[0])
		if err != nil || h.Algorithm != "sha256" {
			return nil, fmt.Errorf("%w: %q is not a sha256 digest", ErrBadOutput, truncate(f[0]))
		}
		set[h.String()] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOutput, err)
	}
	return set, nil
}

// Land sends the node the blobs of req's images it lacks, imports them and pins every image.
//
// What is excluded is decided from the content store as it is now, not from req.Missing alone: a blob
// that appeared since the plan is not resent, one that vanished is. If the import of a partial archive
// still fails (a blob it leans on was garbage-collected in between), the version is landed again with a
// complete archive, so a landing never depends on a race with containerd's GC.
func (s *Site) Land(ctx context.Context, node appliance.Node, req appliance.LandRequest) error {
	t, err := s.target(node.Name)
	if err != nil {
		return err
	}
	if s.Bundle == nil {
		return fmt.Errorf("%w: %s %s", ErrNoBundle, req.App, req.Version)
	}
	b, err := s.Bundle(req.App, req.Version)
	if err != nil {
		return err
	}
	plat := payload.Platform(req.Platform)
	have, err := s.Present(ctx, node)
	if err != nil {
		return err
	}
	all, err := b.ArchiveBlobs(plat)
	if err != nil {
		return fmt.Errorf("listing %s blobs of %s %s: %w", plat, req.App, req.Version, err)
	}
	exclude := map[v1.Hash]bool{}
	for _, h := range all {
		if have[h.String()] {
			exclude[h] = true
		}
	}
	names, err := s.landArchive(ctx, t, b, plat, req.Images, exclude)
	var imp *importError
	if err != nil && len(exclude) > 0 && errors.As(err, &imp) {
		s.add(node.Name, Stats{Fallback: 1})
		s.Sink.Emit(progress.Event{Phase: appliance.PhaseImages, Host: node.Name, Msg: "partial import failed, sending the complete archive: " + err.Error()})
		names, err = s.landArchive(ctx, t, b, plat, req.Images, nil)
	}
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := t.Host.Run(ctx, host.Cmd{Line: ctr(t, "images label "+host.Quote(n)+" "+PinLabel+"=pinned"), Sudo: true}); err != nil {
			return fmt.Errorf("pinning %s on %s: %w", n, node.Name, err)
		}
	}
	return nil
}

type importError struct{ err error }

func (e *importError) Error() string { return e.err.Error() }
func (e *importError) Unwrap() error { return e.err }

// landArchive builds the archive locally, uploads it to the staging dir, imports it and removes it. It
// returns the image names the archive's index holds, as containerd names them.
func (s *Site) landArchive(ctx context.Context, t Target, b *payload.Bundle, plat payload.Platform, images []string, exclude map[v1.Hash]bool) ([]string, error) {
	name := t.Host.Name()
	f, err := os.CreateTemp(s.TempDir, "ferry-images-*.tar")
	if err != nil {
		return nil, fmt.Errorf("building the image archive for %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	if err := b.WriteImageArchive(ctx, io.MultiWriter(f, h), plat, payload.ArchiveOptions{Exclude: exclude, Images: images}); err != nil {
		return nil, fmt.Errorf("building the image archive for %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("building the image archive for %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	ac, err := payload.ReadArchiveContents(f)
	if err != nil {
		return nil, fmt.Errorf("reading back the image archive for %s: %w", name, err)
	}
	var names []string
	for _, d := range ac.Index.Manifests {
		if n := d.Annotations[annotationName]; n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// Named by content: a re-run after a cut resumes the same file, a different archive never does.
	remote := path.Join(StagingDir, sum+".tar")
	res, err := t.Host.Upload(ctx, f.Name(), remote, host.UploadOptions{Mode: 0o600, Phase: string(appliance.PhaseImages), Progress: s.Sink, Sha256: sum})
	s.add(name, Stats{Sent: res.Sent, Archive: fi.Size(), Blobs: len(ac.Blobs)})
	if err != nil {
		return nil, fmt.Errorf("uploading the image archive to %s: %w", name, err)
	}
	defer func() {
		// Best effort: a leftover staging file only costs disk and is overwritten by content name.
		_, _ = t.Host.Run(context.WithoutCancel(ctx), host.Cmd{Line: "rm -f " + host.Quote(remote), Sudo: true})
	}()
	line := ctr(t, "images import --platform "+host.Quote(string(plat))+" "+host.Quote(remote))
	if _, err := t.Host.Run(ctx, host.Cmd{Line: line, Sudo: true}); err != nil {
		return nil, &importError{fmt.Errorf("importing images on %s: %w", name, err)}
	}
	return names, nil
}

func (s *Site) add(node string, d Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats == nil {
		s.stats = map[string]Stats{}
	}
	st := s.stats[node]
	st.Sent += d.Sent
	st.Archive += d.Archive
	st.Blobs += d.Blobs
	st.Fallback += d.Fallback
	s.stats[node] = st
}

func (s *Site) target(name string) (Target, error) {
	for _, t := range s.Targets {
		if t.Host.Name() == name {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("%w: %s", ErrUnknownNode, name)
}

func (s *Site) platform(ctx context.Context, t Target) (string, error) {
	if t.Platform != "" {
		return t.Platform, nil
	}
	name := t.Host.Name()
	s.mu.Lock()
	p, ok := s.plats[name]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	res, err := t.Host.Run(ctx, host.Cmd{Line: "uname -m", ReadOnly: true})
	if err != nil {
		return "", fmt.Errorf("reading the architecture of %s: %w", name, err)
	}
	switch m := strings.TrimSpace(string(res.Stdout)); m {
	case "x86_64", "amd64":
		p = "linux/amd64"
	case "aarch64", "arm64":
		p = "linux/arm64"
	default:
		return "", fmt.Errorf("reading the architecture of %s: unsupported machine %q", name, truncate(m))
	}
	s.mu.Lock()
	if s.plats == nil {
		s.plats = map[string]string{}
	}
	s.plats[name] = p
	s.mu.Unlock()
	return p, nil
}

func paths(t Target) k3s.Paths {
	p := t.Paths
	if p.BinDir == "" {
		p.BinDir = k3s.DefaultBinDir
	}
	if p.DataDir == "" {
		p.DataDir = k3s.DefaultDataDir
	}
	return p
}

// ctr is a `k3s ctr` line in the namespace the CRI (kubelet) uses. The binary's full path: sudo's
// secure_path may not include the bin dir.
func ctr(t Target, args string) string {
	return host.Quote(paths(t).Binary()) + " ctr -n k8s.io " + args
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
