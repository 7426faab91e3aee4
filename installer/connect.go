package installer

import (
	"context"
	"fmt"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/site"
)

// Connection is every host of a site, logged into with the site file's credentials and verified against
// the site's known_hosts. Work after the install (the appliance's image landing, chart placement, the
// tunnel to the API server) runs over it.
type Connection struct {
	st *state
	// Hosts holds the connected hosts by site host name, in the order of Site.Hosts in Names.
	Hosts map[string]host.Host
	Names []string
}

// Connect logs into every host of s (at most o.Parallel at once), as Install's first phase does. Any
// unreachable host fails the whole call (errors.Join of the per-host errors) and closes what was opened:
// a site is managed as a whole.
func Connect(ctx context.Context, s *site.Site, o Options) (*Connection, error) {
	if len(s.Servers()) == 0 {
		return nil, fmt.Errorf("connecting to site %s: no server: give at least one host role: server", s.Name)
	}
	st, err := newState(s, o)
	if err != nil {
		return nil, fmt.Errorf("connecting to site %s: %w", s.Name, err)
	}
	m := &phase.Manager{Sink: o.Progress}
	st.m = m
	m.Add(&connectPhase{st: st})
	if err := m.Run(ctx); err != nil {
		st.close()
		return nil, fmt.Errorf("connecting to site %s: %w", s.Name, err)
	}
	c := &Connection{st: st, Hosts: map[string]host.Host{}}
	for _, h := range s.Hosts {
		c.Hosts[h.Name] = st.hosts[h.Name]
		c.Names = append(c.Names, h.Name)
	}
	return c, nil
}

// Close ends every connection.
func (c *Connection) Close() { c.st.close() }
