package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/site"
)

// ResetOptions configure Reset. Confirming with the user is the caller's job (ferryctl reset --yes).
type ResetOptions struct {
	Options
}

// ResetResult says what Reset did.
type ResetResult struct {
	// Reset lists the hosts whose uninstall script ran; Clean those that had no Ferry k3s on them.
	Reset, Clean []string
	DrySteps     []phase.DryStep
}

// Reset removes k3s from every host of the site with Ferry's uninstall script (k3s stopped, its
// processes, mounts, interfaces and rules gone, then exactly what the install created), and forgets the
// cluster's token and kubeconfig in the site's records. It is idempotent: a host without the script is
// already clean.
func Reset(ctx context.Context, s *site.Site, o ResetOptions) (*ResetResult, error) {
	st, err := newState(s, o.Options)
	if err != nil {
		return nil, fmt.Errorf("resetting k3s: %w", err)
	}
	defer st.close()
	m := &phase.Manager{Sink: o.Progress, DryRun: o.DryRun}
	st.m = m
	rp := &resetPhase{st: st}
	m.Add(&connectPhase{st: st}, rp)
	err = m.Run(ctx)
	res := &ResetResult{Reset: rp.reset, Clean: rp.clean, DrySteps: m.DrySteps()}
	if err != nil {
		return res, fmt.Errorf("resetting k3s: %w", err)
	}
	return res, nil
}

type resetPhase struct {
	st           *state
	m            *phase.Manager
	reset, clean []string
}

func (p *resetPhase) ID() string                       { return "reset" }
func (p *resetPhase) Title() string                    { return "Uninstall k3s" }
func (p *resetPhase) Prepare(m *phase.Manager) error   { p.m = m; return nil }
func (p *resetPhase) DryRun(ctx context.Context) error { return p.Run(ctx) }

func (p *resetPhase) Run(ctx context.Context) error {
	err := forEach(ctx, p.st.connected(), p.st.opts.parallel(), func(ctx context.Context, h host.Host) error {
		var scripts []string
		for _, bin := range []string{k3s.DefaultBinDir, k3s.FallbackBinDir} {
			scripts = append(scripts, host.Quote(k3s.NewPaths(bin == k3s.DefaultBinDir, p.st.site.DataDir()).UninstallScript()))
		}
		res, err := h.Run(ctx, host.Cmd{Sudo: true, ReadOnly: true,
			Line: "for s in " + strings.Join(scripts, " ") + `; do [ -x "$s" ] && echo "$s"; done; true`})
		if err != nil {
			return fmt.Errorf("looking for the uninstall script on %s: %w", h.Name(), err)
		}
		found := strings.Fields(string(res.Stdout))
		p.st.mu.Lock()
		defer p.st.mu.Unlock()
		if len(found) == 0 {
			p.clean = append(p.clean, h.Name())
			p.m.Emit(progressMsg(h.Name(), "no Ferry k3s here"))
			return nil
		}
		p.st.mu.Unlock()
		_, err = h.Run(ctx, host.Cmd{Sudo: true, Line: host.Quote(found[0]) + " && { systemctl daemon-reload 2>/dev/null || true; }"})
		p.st.mu.Lock()
		if err != nil {
			return fmt.Errorf("uninstalling k3s from %s: %w", h.Name(), err)
		}
		p.reset = append(p.reset, h.Name())
		p.m.Emit(progressMsg(h.Name(), "k3s removed"))
		return nil
	})
	if err != nil || p.m.DryRun {
		return err
	}
	for _, f := range []string{LegacyTokenRecord, KubeconfigRecord} {
		if err := os.Remove(filepath.Join(p.st.site.RecordsDir(), f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("forgetting the old cluster's %s: %w", f, err)
		}
	}
	return nil
}
