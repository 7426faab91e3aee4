package installer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/ferry-delivery/ferry/installer/audit"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
)

// state is what an operation's phases share (k0sctl's Config): the site, the connected hosts, and what
// was learned about them.
type state struct {
	site  *site.Site
	opts  Options
	audit *audit.Log
	m     *phase.Manager

	mu       sync.Mutex
	hosts    map[string]host.Host
	closers  []func() error
	connErrs map[string]error
	facts    map[string]*preflight.Facts
	results  []preflight.Result
}

func newState(s *site.Site, o Options) (*state, error) {
	log, err := audit.Open(s.RecordsDir())
	if err != nil {
		return nil, err
	}
	return &state{site: s, opts: o, audit: log, hosts: map[string]host.Host{}, connErrs: map[string]error{}, facts: map[string]*preflight.Facts{}}, nil
}

func (st *state) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range st.closers {
		c()
	}
	st.closers = nil
	st.hosts = map[string]host.Host{}
}

// connected returns the connected hosts in site order.
func (st *state) connected() []host.Host {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []host.Host
	for _, h := range st.site.Hosts {
		if c, ok := st.hosts[h.Name]; ok {
			out = append(out, c)
		}
	}
	return out
}

// forEach runs fn for every item with at most n at once and joins the per-host errors (each already
// names its host), so errors.Is still sees every sentinel.
func forEach[T any](ctx context.Context, hosts []T, n int, fn func(ctx context.Context, h T) error) error {
	sem := make(chan struct{}, n)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				errs = append(errs, ctx.Err())
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			if err := fn(ctx, h); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.SliceStable(errs, func(i, j int) bool { return fmt.Sprint(errs[i]) < fmt.Sprint(errs[j]) })
	return errors.Join(errs...)
}

func (st *state) hostByName(name string) site.Host {
	for _, h := range st.site.Hosts {
		if h.Name == name {
			return h
		}
	}
	return site.Host{Name: name}
}

// factsInOrder returns the gathered facts in site order.
func (st *state) factsInOrder() []*preflight.Facts {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*preflight.Facts
	for _, h := range st.site.Hosts {
		if f, ok := st.facts[h.Name]; ok {
			out = append(out, f)
		}
	}
	return out
}
