package payload

import (
	"archive/zip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// K3sAssets are local paths of one platform's k3s release files, named as in the k3s release (k3s or
// k3s-arm64, sha256sum-amd64.txt, k3s-airgap-images-amd64.tar.zst...). The names are kept in the bundle.
type K3sAssets struct {
	Binary, Checksums, AirgapImages string
}

// K3sRelease is one k3s version's assets per platform.
type K3sRelease struct {
	Version string
	Assets  map[Platform]K3sAssets
	// Disable lists k3s's packaged components the app does not want (k3s's --disable: traefik, servicelb,
	// ...). It goes into the manifest; every install of the bundle disables them on top of the site's own
	// list.
	Disable []string
}

// Source is everything a bundle is made of, as local files. The builder (package packaging) fetches and
// stages them; Write only copies, checks and indexes.
type Source struct {
	App       App
	K3s       K3sRelease
	Platforms []Platform
	// Chart is the path of the chart .tgz.
	Chart string
	// Values is a default values YAML file; empty means the chart's own values.yaml.
	Values string
	// Schema is a values.schema.json file; empty means the chart's own, if it has one.
	Schema string
	// Images is an OCI image layout directory. Each index.json entry is one image named by its
	// org.opencontainers.image.ref.name annotation (a full reference); an entry is a multi-arch index
	// (upstream digest kept, blobs present for the bundle's platforms only) or a single-platform manifest.
	// Empty means the app has no images.
	Images string
}

// WriteOptions tune Write.
type WriteOptions struct {
	// Key signs the manifest; nil writes an unsigned bundle (readable, but never trusted).
	Key ed25519.PrivateKey
	// Progress receives PhaseWrite events with bytes done/total across all members, synchronously from
	// the copy loop: wrap a slow listener with progress.NonBlocking.
	Progress progress.Sink

	// Stager, when set, lets Write start while image blobs are still arriving in Source.Images, so writing
	// the bundle overlaps downloading it (see ImageStager). Nil: every blob must already be there.
	Stager ImageStager
	// BlobsVerified is the caller's guarantee that every file Source.Images/blobs/sha256/<hex> holds
	// content whose sha256 is <hex> (the stager verified each blob before giving it that name). Write
	// then records <hex> as the member's sha256 instead of hashing the blob again; sizes are still
	// checked, and Verify still hashes every member. Leave it false for layouts from anywhere else.
	BlobsVerified bool
}

// ImageStager is a source of image blobs still being staged while Write runs. Write plans the bundle
// from IndexJSON and the manifests already in Source.Images (they must be there when Write starts, and
// so must the config of a single-platform entry whose descriptor names no platform; layers and other
// configs may be missing, their sizes then come from the manifests), writes members in the
// same fixed order as always (so the bundle's bytes do not depend on which download finished first) and,
// before copying each image blob, waits for it with Await.
type ImageStager interface {
	// IndexJSON is the OCI index the layout will hold once staging is complete; Write uses it instead of
	// Source.Images/index.json, which a stager writes last.
	IndexJSON() []byte
	// Await blocks until blob h is complete under Source.Images/blobs/sha256/<hex>, and returns the
	// error that prevented it, or ctx's error.
	Await(ctx context.Context, h v1.Hash) error
}

// PhaseWrite and PhaseVerify name the progress phases of Write and Verify; PhaseArchive that of
// WriteImageArchive.
const (
	PhaseWrite   = "write bundle"
	PhaseVerify  = "verify bundle"
	PhaseArchive = "write image archive"
)

// fixedTime stamps every zip entry so equal inputs give byte-identical bundles.
var fixedTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

type pending struct {
	path     string
	role     Role
	platform Platform
	file     string // source file, or
	data     []byte // in-memory content
	size     int64
	want     string // expected sha256 hex ("" = none)
	wantWhy  string // where want comes from, for the error
	mode     os.FileMode
}

// Write builds a bundle at dst from src. It writes dst+".partial" and renames it into place only when
// complete, so an interrupted or failed run never leaves something that looks like a bundle; the partial
// file is removed on error or cancellation. The k3s binary (and air-gap archive, when listed) are checked
// against the release's sha256sum file, and every image blob against its digest, while they are copied.
func Write(ctx context.Context, dst string, src Source, opts WriteOptions) (err error) {
	members, images, facts, err := planBundle(src, opts.Stager)
	if err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	partial := dst + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	bw := newOutFile(f)
	defer func() {
		bw.Close()
		if err != nil {
			f.Close()
			os.Remove(partial)
		}
	}()
	zw := zip.NewWriter(bw)
	w := &bundleWriter{ctx: ctx, zw: zw, sink: opts.Progress, buf: make([]byte, 1<<20), stager: opts.Stager, trusted: opts.BlobsVerified}
	for _, m := range members {
		w.total += m.size
	}
	man := &Manifest{
		FormatVersion: FormatVersion,
		App:           src.App,
		K3s:           K3sInfo{Version: src.K3s.Version, Assets: map[Platform]K3sFiles{}, Disable: src.K3s.Disable},
		Platforms:     src.Platforms,
		Images:        images.images,
	}
	for _, m := range members {
		sum, err := w.add(m)
		if err != nil {
			return fmt.Errorf("writing bundle %s: %w", dst, err)
		}
		man.Members = append(man.Members, Member{Path: m.path, Size: m.size, SHA256: sum, Role: m.role, Platform: m.platform})
		switch m.role {
		case RoleK3sBinary:
			a := man.K3s.Assets[m.platform]
			a.Binary = m.path
			man.K3s.Assets[m.platform] = a
		case RoleK3sChecksums:
			a := man.K3s.Assets[m.platform]
			a.Checksums = m.path
			man.K3s.Assets[m.platform] = a
		case RoleK3sAirgapImages:
			a := man.K3s.Assets[m.platform]
			a.AirgapImages = m.path
			man.K3s.Assets[m.platform] = a
		case RoleChart:
			man.Chart.Path = m.path
		case RoleValues:
			man.Values = m.path
		case RoleValuesSchema:
			man.Schema = m.path
		}
	}
	man.Chart.Name, man.Chart.Version, man.Chart.AppVersion = facts.Name, facts.Version, facts.AppVersion
	mbytes, err := man.marshal()
	if err != nil {
		return fmt.Errorf("writing bundle %s: encoding manifest: %w", dst, err)
	}
	// Re-read what we are about to sign: a writer bug must not produce a bundle the reader refuses.
	if _, err := ParseManifest(mbytes); err != nil {
		return fmt.Errorf("writing bundle %s: self-check of the manifest: %w", dst, err)
	}
	w.total += int64(len(mbytes))
	if _, err := w.add(pending{path: ManifestPath, data: mbytes, size: int64(len(mbytes)), mode: 0o644}); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	if opts.Key != nil {
		if len(opts.Key) != ed25519.PrivateKeySize {
			return fmt.Errorf("writing bundle %s: signing key has %d bytes, want an ed25519 key", dst, len(opts.Key))
		}
		sig, err := signManifest(mbytes, opts.Key)
		if err != nil {
			return fmt.Errorf("writing bundle %s: %w", dst, err)
		}
		w.total += int64(len(sig))
		if _, err := w.add(pending{path: SignaturePath, data: sig, size: int64(len(sig)), mode: 0o644}); err != nil {
			return fmt.Errorf("writing bundle %s: %w", dst, err)
		}
	}
	if err := zw.SetComment(fmt.Sprintf("Ferry bundle, format %d (%s %s)", FormatVersion, src.App.Name, src.App.Version)); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	if err := os.Rename(partial, dst); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dst, err)
	}
	opts.Progress.Emit(progress.Event{Phase: PhaseWrite, Msg: "done", Done: w.done, Total: w.total})
	return nil
}

// planBundle checks the source and lists the members in write order: marker, k3s per platform, chart,
// values, schema, image layout files, blobs sorted by digest.
func planBundle(src Source, stager ImageStager) (_ []pending, _ *imagePlan, _ *chartFacts, err error) {
	if strings.TrimSpace(src.App.Name) == "" || strings.TrimSpace(src.App.Version) == "" {
		return nil, nil, nil, fmt.Errorf("%w: app name and version are required", ErrBadSource)
	}
	if src.K3s.Version == "" {
		return nil, nil, nil, fmt.Errorf("%w: k3s version is required", ErrBadSource)
	}
	if err := checkK3sDisable(src.K3s.Disable); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrBadSource, err)
	}
	if len(src.Platforms) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: no platforms", ErrBadSource)
	}
	seen := map[Platform]bool{}
	for _, p := range src.Platforms {
		if _, _, _, err := p.Parse(); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrBadSource, err)
		}
		if seen[p] {
			return nil, nil, nil, fmt.Errorf("%w: platform %s listed twice", ErrBadSource, p)
		}
		seen[p] = true
	}
	members := []pending{{path: MarkerPath, role: RoleMarker, data: []byte(markerContent), size: int64(len(markerContent)), mode: 0o644}}
	for _, p := range src.Platforms {
		a, ok := src.K3s.Assets[p]
		if !ok {
			return nil, nil, nil, fmt.Errorf("%w: no k3s assets for %s", ErrBadSource, p)
		}
		sums, err := readChecksums(a.Checksums)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: k3s %s: %w", ErrBadSource, p, err)
		}
		for _, c := range []struct {
			file     string
			role     Role
			required bool
			mode     os.FileMode
		}{{a.Binary, RoleK3sBinary, true, 0o755}, {a.Checksums, RoleK3sChecksums, false, 0o644}, {a.AirgapImages, RoleK3sAirgapImages, false, 0o644}} {
			m, err := fileMember(c.file, k3sMemberPath(p, filepath.Base(c.file)), c.role, c.mode)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%w: k3s %s: %w", ErrBadSource, p, err)
			}
			m.platform = p
			if c.role != RoleK3sChecksums {
				m.want = sums[filepath.Base(c.file)]
				m.wantWhy = filepath.Base(a.Checksums)
				if m.want == "" && c.required {
					return nil, nil, nil, fmt.Errorf("%w: k3s %s: %s has no line for %s; use the sha256sum file of the same release",
						ErrBadSource, p, a.Checksums, filepath.Base(c.file))
				}
			}
			members = append(members, m)
		}
	}
	if src.Chart == "" {
		return nil, nil, nil, fmt.Errorf("%w: no chart", ErrBadSource)
	}
	facts, err := readChart(src.Chart)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrBadSource, err)
	}
	m, err := fileMember(src.Chart, chartPath, RoleChart, 0o644)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrBadSource, err)
	}
	members = append(members, m)
	if src.Values != "" {
		m, err = fileMember(src.Values, valuesPath, RoleValues, 0o644)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrBadSource, err)
		}
	} else {
		m = pending{path: valuesPath, role: RoleValues, data: facts.Values, size: int64(len(facts.Values)), mode: 0o644}
	}
	members = append(members, m)
	if src.Schema != "" {
		m, err = fileMember(src.Schema, schemaPath, RoleValuesSchema, 0o644)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrBadSource, err)
		}
		members = append(members, m)
	} else if facts.Schema != nil {
		members = append(members, pending{path: schemaPath, role: RoleValuesSchema, data: facts.Schema, size: int64(len(facts.Schema)), mode: 0o644})
	}
	var index []byte
	if stager != nil {
		index = stager.IndexJSON()
	}
	plan, err := planImages(src.Images, src.Platforms, index)
	if err != nil {
		return nil, nil, nil, err
	}
	layoutFile := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	members = append(members,
		pending{path: ociLayoutPath, role: RoleOCILayout, data: layoutFile, size: int64(len(layoutFile)), mode: 0o644},
		pending{path: imageIndexPath, role: RoleImageIndex, data: plan.index, size: int64(len(plan.index)), mode: 0o644})
	for _, b := range plan.blobs {
		members = append(members, pending{path: blobMemberPath(b.digest), role: RoleImageBlob, file: b.path, size: b.size,
			want: b.digest.Hex, wantWhy: "its digest", mode: 0o644})
	}
	return members, plan, facts, nil
}

func fileMember(file, path string, role Role, mode os.FileMode) (pending, error) {
	if file == "" {
		return pending{}, fmt.Errorf("no file given for %s", role)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return pending{}, err
	}
	if !fi.Mode().IsRegular() {
		return pending{}, fmt.Errorf("%s is not a regular file", file)
	}
	if err := checkPath(path); err != nil {
		return pending{}, fmt.Errorf("file name %s: %w", filepath.Base(file), err)
	}
	return pending{path: path, role: role, file: file, size: fi.Size(), mode: mode}, nil
}

// readChecksums parses a sha256sum file ("<hex>  <name>" or "<hex> *<name>" per line) into name -> hex.
func readChecksums(path string) (map[string]string, error) {
	if path == "" {
		return nil, errors.New("no sha256sum file given")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 {
			continue
		}
		sum, name := strings.ToLower(fields[0]), strings.TrimPrefix(fields[1], "*")
		if sha256Hex.MatchString(sum) {
			sums[filepath.Base(name)] = sum
		}
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("%s holds no sha256sum lines", path)
	}
	return sums, nil
}

type bundleWriter struct {
	ctx         context.Context
	zw          *zip.Writer
	sink        progress.Sink
	buf         []byte
	done, total int64
	lastEmit    int64
	stager      ImageStager
	trusted     bool // image blob files are named by their verified sha256
}

// add copies one member into the zip, hashing it on the way, and returns its sha256.
func (w *bundleWriter) add(m pending) (string, error) {
	if err := w.ctx.Err(); err != nil {
		return "", err
	}
	w.sink.Emit(progress.Event{Phase: PhaseWrite, Msg: m.path, Done: w.done, Total: w.total})
	hdr := &zip.FileHeader{Name: m.path, Method: zip.Store, Modified: fixedTime}
	hdr.SetMode(m.mode)
	zf, err := w.zw.CreateHeader(hdr)
	if err != nil {
		return "", err
	}
	if m.role == RoleImageBlob && w.stager != nil {
		if err := w.stager.Await(w.ctx, v1.Hash{Algorithm: "sha256", Hex: m.want}); err != nil {
			return "", err
		}
	}
	// A verified blob's name is its sha256: hashing it again would only re-prove what the stager proved.
	skipHash := m.role == RoleImageBlob && w.trusted
	h := sha256.New()
	var n int64
	if m.file != "" {
		f, err := os.Open(m.file)
		if err != nil {
			return "", err
		}
		var dst io.Writer = io.MultiWriter(zf, h)
		if skipHash {
			dst = zf
		}
		n, err = w.copy(dst, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("copying %s: %w", m.file, err)
		}
	} else {
		if _, err := zf.Write(m.data); err != nil {
			return "", err
		}
		h.Write(m.data)
		n = int64(len(m.data))
		w.done += n
	}
	if n != m.size {
		return "", memberErrf(m.path, ErrBadSource, "%s changed while being copied (%d bytes, expected %d)", m.file, n, m.size)
	}
	sum := hexSum(h)
	if skipHash {
		sum = m.want
	}
	if m.want != "" && sum != m.want {
		return "", memberErrf(m.path, ErrChecksumMismatch, "%s hashes to %s but %s says %s", m.file, sum, m.wantWhy, m.want)
	}
	return sum, nil
}

func (w *bundleWriter) copy(dst io.Writer, src io.Reader) (int64, error) {
	var n int64
	for {
		if err := w.ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := src.Read(w.buf)
		if k > 0 {
			if _, err := dst.Write(w.buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
			w.done += int64(k)
			if w.done-w.lastEmit >= 8<<20 {
				w.lastEmit = w.done
				w.sink.Emit(progress.Event{Phase: PhaseWrite, Done: w.done, Total: w.total})
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
