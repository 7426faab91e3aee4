package installer

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
)

// firstServerPhase starts the cluster on the first server (cluster-init) with the site's short token,
// waits for its API and Node, then reads back the full K10 token (which pins the cluster's CA) and checks
// it against the server's CA. The joiners get that full form; the laptop keeps it only in memory.
type firstServerPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *firstServerPhase) ID() string                       { return "first-server" }
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
		p.m.Record(first.Name, "read back the full cluster token and the server CA (the token is held in memory only, for the joiners)")
		return nil
	}
	return p.c.adoptServerToken(ctx, p.Title(), h)
}

// adoptServerToken reads the full token back from the started first server h, checks it is this run's
// token (password) and pins h's CA, and from then on hands it to the joiners. An old token record on the
// laptop is removed here, the server having just shown it holds that token.
func (c *cluster) adoptServerToken(ctx context.Context, ph string, h host.Host) error {
	paths := c.paths(h.Name())
	raw, err := h.ReadFile(ctx, paths.ServerToken())
	if err != nil {
		return fmt.Errorf("reading the cluster token from %s: %w", h.Name(), err)
	}
	full, err := k3s.ParseToken(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("reading the cluster token from %s: %w", h.Name(), err)
	}
	if full.Password != c.token.Password {
		return fmt.Errorf("%w: %s's token differs from the one taken from %s: reset the host that does not belong (ferryctl reset)",
			ErrForeignCluster, h.Name(), c.tokenSource())
	}
	ca, err := h.ReadFile(ctx, path.Join(paths.DataDir, "server", "tls", "server-ca.crt"))
	if err != nil {
		return fmt.Errorf("reading the cluster CA from %s: %w", h.Name(), err)
	}
	if err := full.VerifyCA(ca); err != nil {
		return fmt.Errorf("checking the cluster token of %s: %w", h.Name(), err)
	}
	if err := c.forgetLegacyToken(ph); err != nil {
		return err
	}
	c.token = full
	return nil
}
