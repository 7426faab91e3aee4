package installer

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// connectPhase opens one SSH connection per host, verifying host keys.
type connectPhase struct {
	st *state
	m  *phase.Manager
	// tolerate keeps going when some hosts are unreachable (preflight reports them; install stops).
	tolerate bool
}

func (p *connectPhase) ID() string    { return "connect" }
func (p *connectPhase) Title() string { return "Connect to hosts" }

func (p *connectPhase) Prepare(m *phase.Manager) error { p.m = m; return nil }

func (p *connectPhase) Run(ctx context.Context) error {
	sec := &secrets{o: &p.st.opts}
	err := forEach(ctx, p.st.site.Hosts, p.st.opts.parallel(), func(ctx context.Context, sh site.Host) error {
		p.m.Emit(progress.Event{Host: sh.Name, Msg: "connecting to " + sh.Address})
		h, err := p.dial(ctx, sec, sh)
		p.st.mu.Lock()
		defer p.st.mu.Unlock()
		if err != nil {
			p.st.connErrs[sh.Name] = err
			p.m.Emit(progress.Event{Host: sh.Name, Msg: "unreachable", Err: err})
			return err
		}
		if c, ok := h.(interface{ Close() error }); ok {
			p.st.closers = append(p.st.closers, c.Close)
		}
		if p.m.DryRun {
			h = phase.DryHost{Host: h, M: p.m}
		}
		p.st.hosts[sh.Name] = h
		p.m.Emit(progress.Event{Host: sh.Name, Msg: "connected"})
		return nil
	})
	if err != nil && (!p.tolerate || ctx.Err() != nil) {
		return err
	}
	return nil
}

func (p *connectPhase) dial(ctx context.Context, sec *secrets, sh site.Host) (host.Host, error) {
	cfg, err := p.st.sshConfig(sec, sh)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", sh.Name, err)
	}
	dial := p.st.opts.Dial
	if dial == nil {
		dial = func(ctx context.Context, _ site.Host, cfg ssh.Config) (host.Host, error) { return ssh.Dial(ctx, cfg) }
	}
	h, err := dial(ctx, sh, cfg)
	// An encrypted key without its passphrase: ask and dial again. Twice at most: the jump host's own key
	// and then the host's may both need one.
	for try := 0; try < 2 && errors.Is(err, ssh.ErrPassphraseNeeded) && p.st.opts.Prompt != nil; try++ {
		var je *ssh.JumpError
		if errors.As(err, &je) && cfg.Jump != nil {
			j := *cfg.Jump
			if j.KeyPassphrase, err = sec.prompt("passphrase of key file " + j.KeyFile); err != nil {
				return nil, err
			}
			cfg.Jump = &j
		} else if cfg.KeyPassphrase, err = sec.prompt("passphrase of key file " + cfg.KeyFile); err != nil {
			return nil, err
		}
		h, err = dial(ctx, sh, cfg)
	}
	return h, err
}

// CleanUp closes the connections when the operation fails or is cancelled.
func (p *connectPhase) CleanUp() { p.st.close() }
