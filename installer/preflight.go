package installer

import (
	"context"
	"fmt"

	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
)

// PreflightOptions configure Preflight.
type PreflightOptions struct {
	Options
	// Platforms the bundle carries, and the bytes it needs on the data dir and for the binary.
	Platforms []string
	NeedData  int64
	NeedBin   int64
	// Consent is shown the fixes Ferry can apply and returns the ones the user agreed to; nil applies none.
	Consent func([]preflight.Fix) []preflight.Fix
}

// PreflightReport is the outcome of a preflight run.
type PreflightReport struct {
	// Results holds one entry per host and check; unreachable hosts have none.
	Results []preflight.Result
	Facts   map[string]*preflight.Facts
	// Unreachable maps host names to why they could not be checked (ErrUnknownHostKey and
	// ErrHostKeyMismatch among them).
	Unreachable map[string]error
	// Fixed lists the fixes applied (or, in a dry run, that would be).
	Fixed []preflight.Fix
	// DrySteps lists what a dry run would have changed.
	DrySteps []phase.DryStep
}

// OK reports whether every host was reached and no check failed.
func (r *PreflightReport) OK() bool { return len(r.Unreachable) == 0 && !preflight.Failed(r.Results) }

// PreflightSteps lists the titles of a preflight run's phases (the wizard's step list): the first
// phases of an install.
func PreflightSteps() []string {
	m, _ := preflightManager(&state{}, PreflightOptions{})
	return m.Titles()
}

func preflightManager(st *state, o PreflightOptions) (*phase.Manager, *preflightPhase) {
	m := &phase.Manager{Sink: o.Progress, DryRun: o.DryRun}
	pp := &preflightPhase{st: st, consent: o.Consent, opts: preflight.Options{Platforms: o.Platforms, NeedData: o.NeedData, NeedBin: o.NeedBin}}
	m.Add(&connectPhase{st: st, tolerate: true}, &factsPhase{st: st, tolerate: true}, pp)
	return m, pp
}

// Preflight connects to every host of the site, gathers facts and evaluates every check. It changes
// nothing on any host unless o.Consent accepts fixes. Hosts that cannot be reached are reported, not
// fatal; the error is for operations that could not run at all (bad records dir, cancellation).
func Preflight(ctx context.Context, s *site.Site, o PreflightOptions) (*PreflightReport, error) {
	st, err := newState(s, o.Options)
	if err != nil {
		return nil, fmt.Errorf("running preflight: %w", err)
	}
	defer st.close()
	m, pp := preflightManager(st, o)
	if err := m.Run(ctx); err != nil {
		return nil, fmt.Errorf("running preflight: %w", err)
	}
	rep := &PreflightReport{Results: st.results, Facts: st.facts, Unreachable: st.connErrs, Fixed: pp.fixed, DrySteps: m.DrySteps()}
	return rep, nil
}
