package installer

import (
	"context"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// factsPhase learns each host's architecture, OS, resources, ports, clock and existing k3s. It only
// reads, so a dry run performs it too.
type factsPhase struct {
	st *state
	m  *phase.Manager
	// tolerate records a host whose facts cannot be read as unreachable instead of failing.
	tolerate bool
}

func (p *factsPhase) ID() string                     { return "facts" }
func (p *factsPhase) Title() string                  { return "Gather host facts" }
func (p *factsPhase) Prepare(m *phase.Manager) error { p.m = m; return nil }
func (p *factsPhase) ShouldRun() bool                { return true }

func (p *factsPhase) Run(ctx context.Context) error {
	err := gatherAll(ctx, p.st, p.m)
	if err != nil && p.tolerate && ctx.Err() == nil {
		return nil
	}
	return err
}

func gatherAll(ctx context.Context, st *state, m *phase.Manager) error {
	return forEach(ctx, st.connected(), st.opts.parallel(), func(ctx context.Context, h host.Host) error {
		var sh = st.hostByName(h.Name())
		f, err := preflight.Gather(ctx, h, preflight.GatherOptions{
			DataDir:  st.site.DataDir(),
			NeedSudo: *st.site.Login(sh).Sudo,
			Now:      st.opts.Now,
		})
		if err != nil {
			m.Emit(progress.Event{Host: h.Name(), Msg: "facts", Err: err})
			st.mu.Lock()
			st.connErrs[h.Name()] = err
			delete(st.facts, h.Name())
			st.mu.Unlock()
			return err
		}
		st.mu.Lock()
		st.facts[h.Name()] = f
		st.mu.Unlock()
		m.Emit(progress.Event{Host: h.Name(), Msg: f.Arch + ", " + f.OSName})
		return nil
	})
}
