package installer

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
)

// joinServersPhase joins the other servers one at a time: each waits until the previous one is a Ready
// member, so the embedded etcd never sees two members joining at once.
type joinServersPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *joinServersPhase) ID() string                       { return "join-servers" }
func (p *joinServersPhase) Title() string                    { return "Join the other servers" }
func (p *joinServersPhase) Prepare(m *phase.Manager) error   { p.m = m; return nil }
func (p *joinServersPhase) ShouldRun() bool                  { return len(p.c.st.site.Servers()) > 1 }
func (p *joinServersPhase) DryRun(ctx context.Context) error { return p.Run(ctx) }

func (p *joinServersPhase) Run(ctx context.Context) error {
	for _, sh := range p.c.st.site.Servers()[1:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.c.joinNode(ctx, p.Title(), sh); err != nil {
			return err
		}
	}
	return nil
}

// joinAgentsPhase joins the agents, at most Options.Parallel at once.
type joinAgentsPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *joinAgentsPhase) ID() string                       { return "join-agents" }
func (p *joinAgentsPhase) Title() string                    { return "Join the agents" }
func (p *joinAgentsPhase) Prepare(m *phase.Manager) error   { p.m = m; return nil }
func (p *joinAgentsPhase) ShouldRun() bool                  { return len(p.c.st.site.Agents()) > 0 }
func (p *joinAgentsPhase) DryRun(ctx context.Context) error { return p.Run(ctx) }

func (p *joinAgentsPhase) Run(ctx context.Context) error {
	return forEach(ctx, p.c.st.site.Agents(), p.c.st.opts.parallel(), func(ctx context.Context, sh site.Host) error {
		return p.c.joinNode(ctx, p.Title(), sh)
	})
}

// joinNode configures and starts one joining node with the full (CA-pinning) token, then waits for its
// Node to be Ready as seen from the first server.
func (c *cluster) joinNode(ctx context.Context, ph string, sh site.Host) error {
	h, err := c.conn(sh.Name)
	if err != nil {
		return err
	}
	if err := c.setupNode(ctx, ph, h, c.token); err != nil {
		return err
	}
	return c.waitNode(ctx, ph, h, sh.Name, false)
}

func (c *cluster) conn(name string) (host.Host, error) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	h, ok := c.st.hosts[name]
	if !ok {
		return nil, fmt.Errorf("%s: not connected", name)
	}
	return h, nil
}

func argvLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = host.Quote(a)
	}
	return strings.Join(q, " ")
}

// setupNode writes a node's files (reset scripts, token file, config, env file, unit, site marker) where
// they differ, then starts the service if it is not running, or restarts it if a file changed. A node
// whose files are all in place and whose service is active is left alone.
func (c *cluster) setupNode(ctx context.Context, ph string, h host.Host, tok k3s.Token) error {
	sh := c.st.hostByName(h.Name())
	f, err := c.facts(h.Name())
	if err != nil {
		return fmt.Errorf("configuring k3s on %s: %w", h.Name(), err)
	}
	in, err := initOf(f)
	if err != nil {
		return fmt.Errorf("configuring k3s on %s: %w", h.Name(), err)
	}
	role, paths := c.role(sh), c.paths(h.Name())
	node := k3s.Node{Role: role, Name: sh.Name}
	if net.ParseIP(sh.Address) != nil {
		node.IP = sh.Address // the address the site reaches it on is the one its peers must use
	}
	files, err := k3s.NodeFiles(k3s.NodeFilesInput{Paths: paths, Cluster: c.definition(), Node: node, Token: tok, Init: in, Env: c.o.Env})
	if err != nil {
		return err
	}
	files = append(files, k3s.File{Path: preflight.MarkerPath, Mode: 0o644, Data: []byte(c.st.site.Name + "\n")})
	changed := false
	for _, file := range files {
		wrote, err := writeHostFile(ctx, h, file)
		if err != nil {
			return err
		}
		if wrote {
			changed = true
			c.record(ph, h.Name(), "wrote "+file.Path)
		}
	}
	svc := role.ServiceName()
	line := "systemctl is-active " + svc + ".service || true"
	if in == k3s.OpenRC {
		line = "rc-service " + svc + " status >/dev/null 2>&1 && echo active || true"
	}
	res, err := h.Run(ctx, host.Cmd{Sudo: true, ReadOnly: true, Line: line})
	if err != nil {
		return fmt.Errorf("checking %s on %s: %w", svc, h.Name(), err)
	}
	active := strings.TrimSpace(string(res.Stdout)) == "active"
	var plan [][]string
	var what string
	switch {
	case active && !changed:
		c.skip(ph, h.Name(), svc+" running with these files")
		return nil
	case active:
		plan, what = k3s.RestartArgv(in, role), "restarted "+svc+" (files changed)"
	default:
		for _, chk := range k3s.PreStartChecks(paths) {
			if c.st.m.DryRun {
				c.st.m.Record(h.Name(), "check: "+argvLine(chk.Argv))
				continue
			}
			if ok, detail := runCheck(ctx, h, chk); !ok {
				return fmt.Errorf("checking %s before starting k3s: %s failed: %s", h.Name(), chk.Name, detail)
			}
		}
		plan, what = k3s.StartArgv(in, role), "started "+svc
	}
	for _, argv := range plan {
		if _, err := h.Run(ctx, host.Cmd{Sudo: true, Line: argvLine(argv)}); err != nil {
			return fmt.Errorf("starting %s on %s: %w", svc, h.Name(), err)
		}
	}
	c.record(ph, h.Name(), what)
	return nil
}
