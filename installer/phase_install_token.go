package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
)

// tokenPhase loads the site's cluster token from its records, or generates one the first time. It runs
// on the laptop only: the token reaches hosts solely as the 0600 token-file.
type tokenPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *tokenPhase) Title() string                  { return "Prepare the cluster token" }
func (p *tokenPhase) Prepare(m *phase.Manager) error { p.m = m; return nil }

func (p *tokenPhase) Run(ctx context.Context) error {
	t, err := loadToken(p.c.st.site.RecordsDir())
	if err == nil {
		p.c.token = t
		p.c.skip(p.Title(), "", "token in the site's records")
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if t, err = k3s.GenerateToken(); err != nil {
		return err
	}
	p.c.token = t
	if p.m.DryRun {
		p.m.Record("", "generate the cluster token and keep it in the site's records (0600)")
		return nil
	}
	if err := writeRecord(p.c.st.site.RecordsDir(), TokenRecord, []byte(t.Secret()+"\n")); err != nil {
		return fmt.Errorf("storing the cluster token: %w", err)
	}
	p.c.record(p.Title(), "", "generated the cluster token")
	return nil
}

func (p *tokenPhase) DryRun(ctx context.Context) error { return p.Run(ctx) }

func loadToken(records string) (k3s.Token, error) {
	f := filepath.Join(records, TokenRecord)
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
