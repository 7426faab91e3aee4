package installer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// waitPhase runs the whole readiness plan (§6) on the first server: the API, every Node of the site, and
// the packaged add-ons the site did not disable.
type waitPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *waitPhase) ID() string                       { return "wait" }
func (p *waitPhase) Title() string                    { return "Wait for the cluster to be ready" }
func (p *waitPhase) Prepare(m *phase.Manager) error   { p.m = m; return nil }
func (p *waitPhase) DryRun(ctx context.Context) error { return p.Run(ctx) }

func (p *waitPhase) Run(ctx context.Context) error {
	first := p.c.firstServer()
	h, err := p.c.conn(first.Name)
	if err != nil {
		return err
	}
	var nodes []string
	for _, sh := range p.c.st.site.Hosts {
		nodes = append(nodes, sh.Name)
	}
	if p.m.DryRun {
		p.m.Record(first.Name, fmt.Sprintf("poll %d readiness checks", len(k3s.ReadinessPlan(p.c.paths(first.Name), nodes, p.c.st.site.K3s.Disable))))
		return nil
	}
	for _, chk := range k3s.ReadinessPlan(p.c.paths(first.Name), nodes, p.c.st.site.K3s.Disable) {
		if err := p.c.poll(ctx, p.Title(), h, chk); err != nil {
			return fmt.Errorf("waiting for the cluster: %w", p.c.withLog(ctx, h, err))
		}
	}
	return nil
}

// waitNode polls, on the first server, until name's Node is Ready (and, for the first server itself,
// /readyz before that). On timeout the error carries the node's last journal lines.
func (c *cluster) waitNode(ctx context.Context, ph string, node host.Host, name string, withAPI bool) error {
	if c.st.m.DryRun {
		c.st.m.Record(name, "poll until node "+name+" is Ready")
		return nil
	}
	first, err := c.conn(c.firstServer().Name)
	if err != nil {
		return err
	}
	// All components disabled: only /readyz and the Node; the add-ons are the wait phase's business.
	checks := k3s.ReadinessPlan(c.paths(c.firstServer().Name), []string{name}, []string{"coredns", "local-storage", "metrics-server", "traefik"})
	if !withAPI {
		checks = checks[1:]
	}
	for _, chk := range checks {
		if err := c.poll(ctx, ph, first, chk); err != nil {
			return fmt.Errorf("waiting for %s: %w", name, c.withLog(ctx, node, err))
		}
	}
	return nil
}

// poll runs chk on h until it passes, ctx ends, or the ready timeout passes.
func (c *cluster) poll(ctx context.Context, ph string, h host.Host, chk k3s.Check) error {
	deadline := time.Now().Add(c.o.readyTimeout())
	last := ""
	for {
		ok, detail := runCheck(ctx, h, chk)
		if ok {
			c.st.m.Emit(progress.Event{Phase: ph, Host: h.Name(), Msg: chk.Name})
			return nil
		}
		last = detail
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s: still failing after %s: %s", ErrNotReady, chk.Name, c.o.readyTimeout(), last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.o.pollInterval()):
		}
	}
}

// runCheck runs one readiness check; detail says why it did not pass.
func runCheck(ctx context.Context, h host.Host, chk k3s.Check) (bool, string) {
	res, err := h.Run(ctx, host.Cmd{Sudo: true, ReadOnly: true, Line: argvLine(chk.Argv)})
	out := strings.TrimSpace(string(res.Stdout))
	if err != nil {
		return false, err.Error()
	}
	if chk.Want != "" && out != chk.Want {
		return false, fmt.Sprintf("got %q, want %q", out, chk.Want)
	}
	return true, ""
}

// withLog appends the last journal lines of the host's k3s service to a readiness failure.
func (c *cluster) withLog(ctx context.Context, h host.Host, err error) error {
	if !errors.Is(err, ErrNotReady) {
		return err
	}
	f, ferr := c.facts(h.Name())
	if ferr != nil {
		return err
	}
	in, ierr := initOf(f)
	if ierr != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	res, lerr := h.Run(lctx, host.Cmd{Sudo: true, ReadOnly: true, Line: argvLine(k3s.LogTailArgv(in, c.role(c.st.hostByName(h.Name())), 30))})
	if lerr != nil {
		return err
	}
	return fmt.Errorf("%w\nlast lines of the k3s log on %s:\n%s", err, h.Name(), strings.TrimSpace(string(res.Stdout)))
}

func progressMsg(h, msg string) progress.Event { return progress.Event{Host: h, Msg: msg} }
