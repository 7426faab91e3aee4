package installer

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
)

// firstServerPhase starts the cluster on the first server (cluster-init) with the site's short token,
// waits for its API and Node, then reads back the full K10 token (which pins the cluster's CA), checks it
// against the server's CA and keeps it in the site's records for the joiners.
type firstServerPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *firstServerPhase) Title() string                    { return "Start the first server" }
func (p *firstServerPhase) Prepare(m *phase.Manager) error   { p.m = m; return nil }
func (p *firstServerPhase) DryRun(ctx context.Context) error { return p.Run(ctx) }

func (p *firstServerPhase) Run(ctx context.Context) error {
	first := p.c.firstServer()
	h, err := p.c.conn(first.Name)
	if err != nil {
		return err
	}
	// The first server's token file holds the short form: the CA it would pin does not exist before its
	// first start, and a stable file keeps re-runs from restarting it.
	short := k3s.Token{Password: p.c.token.Password}
	if err := p.c.setupNode(ctx, p.Title(), h, short); err != nil {
		return err
	}
	if err := p.c.waitNode(ctx, p.Title(), h, first.Name, true); err != nil {
		return err
	}
	if p.m.DryRun {
		p.m.Record(first.Name, "read the full cluster token and the server CA, keep the token in the site's records")
		return nil
	}
	paths := p.c.paths(first.Name)
	raw, err := h.ReadFile(ctx, paths.ServerToken())
	if err != nil {
		return fmt.Errorf("reading the cluster token from %s: %w", first.Name, err)
	}
	full, err := k3s.ParseToken(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("reading the cluster token from %s: %w", first.Name, err)
	}
	if full.Password != p.c.token.Password {
		return fmt.Errorf("%w: %s's token differs from the one in %s: reset the host (ferryctl reset) or restore the site's records",
			ErrForeignCluster, first.Name, p.c.st.site.RecordsDir())
	}
	ca, err := h.ReadFile(ctx, path.Join(paths.DataDir, "server", "tls", "server-ca.crt"))
	if err != nil {
		return fmt.Errorf("reading the cluster CA from %s: %w", first.Name, err)
	}
	if err := full.VerifyCA(ca); err != nil {
		return fmt.Errorf("checking the cluster token of %s: %w", first.Name, err)
	}
	if full.Secret() != p.c.token.Secret() {
		if err := writeRecord(p.c.st.site.RecordsDir(), TokenRecord, []byte(full.Secret()+"\n")); err != nil {
			return fmt.Errorf("storing the cluster token: %w", err)
		}
		p.c.record(p.Title(), "", "kept the full cluster token (pins the CA) in the site's records")
	}
	p.c.token = full
	return nil
}
