package installer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/payload"
)

// installFilesPhase puts k3s on every host: first the created-list entries (so a reset can remove what
// follows even if this run is interrupted), then the binary and air-gap images for the host's own
// architecture (skipped when present with the right hash), then the kubectl/crictl/ctr links.
type installFilesPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *installFilesPhase) ID() string                     { return "files" }
func (p *installFilesPhase) Title() string                  { return "Upload k3s and its air-gap images" }
func (p *installFilesPhase) Prepare(m *phase.Manager) error { p.m = m; return nil }
func (p *installFilesPhase) DryRun(ctx context.Context) error {
	return p.Run(ctx) // every write goes through DryHost, which records it
}

func (p *installFilesPhase) Run(ctx context.Context) error {
	return forEach(ctx, p.c.st.connected(), p.c.st.opts.parallel(), func(ctx context.Context, h host.Host) error {
		f, err := p.c.facts(h.Name())
		if err != nil {
			return fmt.Errorf("installing k3s on %s: %w", h.Name(), err)
		}
		sh := p.c.st.hostByName(h.Name())
		paths := p.c.paths(h.Name())
		if err := p.c.recordCreated(ctx, p.Title(), h, f, paths, p.c.role(sh)); err != nil {
			return err
		}
		plat := payload.Platform("linux/" + f.Arch)
		assets, ok := p.c.bundle.Manifest().K3s.Assets[plat]
		if !ok {
			return fmt.Errorf("installing k3s on %s: %w: the host is %s; build a bundle for it", h.Name(), payload.ErrPlatform, plat)
		}
		bin, binSum, err := p.c.member(assets.Binary)
		if err != nil {
			return fmt.Errorf("installing k3s on %s: %w", h.Name(), err)
		}
		if err := p.upload(ctx, h, bin, paths.Binary(), k3s.ScriptMode, binSum); err != nil {
			return err
		}
		if assets.AirgapImages != "" {
			img, imgSum, err := p.c.member(assets.AirgapImages)
			if err != nil {
				return fmt.Errorf("installing k3s on %s: %w", h.Name(), err)
			}
			// The transfer writes a dot-named temporary file and renames it: k3s ignores dot files (§2).
			final, _, err := paths.ImageArchive(path.Base(assets.AirgapImages))
			if err != nil {
				return fmt.Errorf("installing k3s on %s: %w", h.Name(), err)
			}
			if err := p.upload(ctx, h, img, final, 0o644, imgSum); err != nil {
				return err
			}
		}
		// §3: links only where the command is not already on PATH (Debian's containerd brings its own ctr).
		var line strings.Builder
		for _, l := range paths.Symlinks() {
			fmt.Fprintf(&line, "command -v %s >/dev/null 2>&1 || { ln -s k3s %s && echo %s; }; ", path.Base(l), host.Quote(l), host.Quote(l))
		}
		res, err := h.Run(ctx, host.Cmd{Line: strings.TrimSuffix(line.String(), "; "), Sudo: true})
		if err != nil {
			return fmt.Errorf("linking kubectl, crictl and ctr on %s: %w", h.Name(), err)
		}
		for _, l := range strings.Fields(string(res.Stdout)) {
			p.c.record(p.Title(), h.Name(), "linked "+l)
		}
		return nil
	})
}

func (p *installFilesPhase) upload(ctx context.Context, h host.Host, src, dst string, mode fs.FileMode, sum string) error {
	res, err := h.Upload(ctx, src, dst, host.UploadOptions{Mode: mode, Sha256: sum, Phase: p.Title(), Progress: p.m.Emit})
	if err != nil {
		return fmt.Errorf("uploading %s to %s: %w", dst, h.Name(), err)
	}
	if res.Skipped {
		p.c.skip(p.Title(), h.Name(), dst)
		return nil
	}
	p.c.record(p.Title(), h.Name(), fmt.Sprintf("uploaded %s (%d bytes, sha256 %s)", dst, res.Size, res.Sha256))
	return nil
}

// recordCreated appends to the host's created list every path an install or k3s may create that does not
// exist yet, before anything is written: the uninstall removes exactly those (§3).
//
// It refuses, before writing anything, a host holding a k3s that is not this site's: one whose marker
// names another site, or k3s files or processes with neither marker nor created list (not Ferry's). A
// host with this site's created list but no marker yet is this site's interrupted install: it resumes.
func (c *cluster) recordCreated(ctx context.Context, ph string, h host.Host, f *preflight.Facts, paths k3s.Paths, r k3s.Role) error {
	cand := append(k3s.MayCreate(paths, r), preflight.MarkerPath)
	var q []string
	for _, p := range cand {
		q = append(q, host.Quote(p))
	}
	res, err := h.Run(ctx, host.Cmd{Sudo: true, ReadOnly: true, Line: "cat " + k3s.CreatedList + " 2>/dev/null; echo '#missing'; for p in " +
		strings.Join(q, " ") + `; do [ -e "$p" ] || [ -L "$p" ] || echo "$p"; done`})
	if err != nil {
		return fmt.Errorf("reading what exists on %s: %w", h.Name(), err)
	}
	old, missing, _ := strings.Cut(string(res.Stdout), "#missing\n")
	switch site := c.st.site.Name; {
	case f.K3s.Site != "" && f.K3s.Site != site:
		return fmt.Errorf("installing k3s on %s: %w: it belongs to Ferry site %q; run `ferryctl reset` with that site's file first",
			h.Name(), ErrForeignK3s, f.K3s.Site)
	case f.K3s.Site == "" && f.K3s.Present() && strings.TrimSpace(old) == "":
		return fmt.Errorf("installing k3s on %s: %w: found %s, not installed by Ferry; remove it (its own k3s-uninstall.sh) first",
			h.Name(), ErrForeignK3s, strings.Join(append(append([]string{}, f.K3s.Files...), f.K3s.Running...), ", "))
	}
	list := []byte(old)
	for _, p := range strings.Fields(missing) {
		if list, err = k3s.AppendCreated(list, p); err != nil {
			return fmt.Errorf("installing k3s on %s: %w", h.Name(), err)
		}
	}
	if bytes.Equal(list, []byte(old)) {
		return nil
	}
	if _, err := writeHostFile(ctx, h, k3s.File{Path: k3s.CreatedList, Mode: 0o644, Data: list}); err != nil {
		return err
	}
	c.record(ph, h.Name(), "recorded what the install creates in "+k3s.CreatedList)
	return nil
}

// writeHostFile writes f atomically (temporary file in the same directory, then rename), unless the host
// already has it with the same content and mode. The content travels on stdin, never in argv: token and
// env files are secrets.
func writeHostFile(ctx context.Context, h host.Host, f k3s.File) (bool, error) {
	sum := sha256.Sum256(f.Data)
	want := fmt.Sprintf("%o %s", f.Mode.Perm(), hex.EncodeToString(sum[:]))
	q := host.Quote(f.Path)
	res, err := h.Run(ctx, host.Cmd{Sudo: true, ReadOnly: true,
		Line: "if [ -f " + q + " ]; then echo \"$(stat -c %a " + q + ") $(sha256sum < " + q + " | cut -d' ' -f1)\"; fi"})
	if err != nil {
		return false, fmt.Errorf("checking %s on %s: %w", f.Path, h.Name(), err)
	}
	if strings.TrimSpace(string(res.Stdout)) == want {
		return false, nil
	}
	dir, tmp := path.Dir(f.Path), path.Join(path.Dir(f.Path), "."+path.Base(f.Path)+".ferry-tmp")
	line := fmt.Sprintf("set -e; mkdir -p %s; umask 077; cat > %s; chmod %o %s; mv -f %s %s",
		host.Quote(dir), host.Quote(tmp), f.Mode.Perm(), host.Quote(tmp), host.Quote(tmp), q)
	if _, err := h.Run(ctx, host.Cmd{Sudo: true, Line: line, Stdin: bytes.NewReader(f.Data)}); err != nil {
		return false, fmt.Errorf("writing %s on %s: %w", f.Path, h.Name(), err)
	}
	return true, nil
}
