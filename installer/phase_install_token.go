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
	"github.com/ferry-delivery/ferry/internal/progress"
)

// tokenPhase finds the site's cluster token without keeping it on the laptop: the servers are asked first
// (the first server first), because once any of them has it, that is the cluster's token; only when none
// has it yet (a fresh site, or an install interrupted before the first token file was written) is a new
// one generated. The token then reaches hosts solely as the 0600 token-file, and lives on the laptop only
// in memory for this run.
//
// A site installed by an older Ferry may still have the token in <records>/k3s-token: it is used (the
// servers may not have started yet), and the first server phase removes it once that server proves it
// holds the same token.
type tokenPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *tokenPhase) ID() string                     { return "token" }
func (p *tokenPhase) Title() string                  { return "Prepare the cluster token" }
func (p *tokenPhase) Prepare(m *phase.Manager) error { p.m = m; return nil }

func (p *tokenPhase) Run(ctx context.Context) error {
	t, err := loadLegacyToken(p.c.st.site.RecordsDir())
	if err == nil {
		p.c.token, p.c.tokenFrom, p.c.legacyToken = t, "the site's records", true
		p.c.skip(p.Title(), "", "token in the site's records (kept there by an older Ferry; removed once the first server confirms it)")
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, sh := range p.c.st.site.Servers() {
		h, err := p.c.conn(sh.Name)
		if err != nil {
			return err
		}
		t, found, err := readHostToken(ctx, h, p.c.paths(sh.Name))
		if err != nil {
			// Not knowing is not the same as not having: a new token here would split the cluster.
			return err
		}
		if found {
			p.c.token, p.c.tokenFrom = t, sh.Name
			p.c.skip(p.Title(), sh.Name, "cluster token read from the server")
			return nil
		}
	}
	if t, err = k3s.GenerateToken(); err != nil {
		return err
	}
	p.c.token, p.c.tokenFrom = t, ""
	if p.m.DryRun {
		p.m.Record("", "generate the cluster token (no server has one yet); it goes only to the hosts' 0600 token files, never to the laptop's disk")
		return nil
	}
	p.c.record(p.Title(), "", "generated the cluster token (kept only on the hosts)")
	return nil
}

func (p *tokenPhase) DryRun(ctx context.Context) error { return p.Run(ctx) }

// readHostToken reads the token a server already holds: k3s's own server/token (the full, CA-pinning form,
// there once k3s has started), else the token-file Ferry wrote before the first start. Both are read with
// sudo through the file's content on stdout, never through argv. found is false when the host has
// neither.
func readHostToken(ctx context.Context, h host.Host, paths k3s.Paths) (t k3s.Token, found bool, err error) {
	for _, f := range []string{paths.ServerToken(), k3s.TokenFile} {
		raw, err := h.ReadFile(ctx, f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return k3s.Token{}, false, fmt.Errorf("reading the cluster token from %s: %w", h.Name(), err)
		}
		if t, err = k3s.ParseToken(string(raw)); err != nil {
			return k3s.Token{}, false, fmt.Errorf("reading the cluster token from %s:%s: %w", h.Name(), f, err)
		}
		return t, true, nil
	}
	return k3s.Token{}, false, nil
}

// loadLegacyToken reads the token record an older Ferry kept on the laptop.
func loadLegacyToken(records string) (k3s.Token, error) {
	f := filepath.Join(records, LegacyTokenRecord)
	b, err := os.ReadFile(f)
	if err != nil {
		return k3s.Token{}, err
	}
	fi, err := os.Stat(f)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		return k3s.Token{}, fmt.Errorf("reading the cluster token: %s is mode %04o: make it 0600 (chmod 600 %s)", f, fi.Mode().Perm(), f)
	}
	t, err := k3s.ParseToken(strings.TrimSpace(string(b)))
	if err != nil {
		return k3s.Token{}, fmt.Errorf("reading the cluster token from %s: %w", f, err)
	}
	return t, nil
}

// forgetLegacyToken removes the old token record once the first server has shown it holds that token.
func (c *cluster) forgetLegacyToken(ph string) error {
	if !c.legacyToken || c.st.m.DryRun {
		return nil
	}
	if err := os.Remove(filepath.Join(c.st.site.RecordsDir(), LegacyTokenRecord)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the cluster token from the site's records: %w", err)
	}
	c.legacyToken = false
	c.st.m.Emit(progress.Event{Phase: ph, Msg: "removed the cluster token from the site's records: the servers keep it"})
	return nil
}

// tokenSource names where this run's token came from, for errors.
func (c *cluster) tokenSource() string {
	switch {
	case c.legacyToken:
		return "the site's records (" + filepath.Join(c.st.site.RecordsDir(), LegacyTokenRecord) + ")"
	case c.tokenFrom != "":
		return "server " + c.tokenFrom
	}
	return "this run (generated)"
}
