package installer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// ErrPreflightFailed means at least one check failed on at least one host.
var ErrPreflightFailed = errors.New("preflight failed")

// preflightPhase evaluates the checks; with consent it applies the fixes Ferry offers and checks again.
type preflightPhase struct {
	st   *state
	m    *phase.Manager
	opts preflight.Options
	// consent decides which offered fixes to apply; nil applies none.
	consent func([]preflight.Fix) []preflight.Fix
	fixed   []preflight.Fix
	// fatal makes a failed check an error (install); preflight alone only reports.
	fatal bool
}

func (p *preflightPhase) ID() string    { return "preflight" }
func (p *preflightPhase) Title() string { return "Preflight checks" }

func (p *preflightPhase) Prepare(m *phase.Manager) error {
	p.m = m
	p.opts.Site = p.st.site.Name
	p.opts.DataDir = p.st.site.DataDir()
	p.opts.Roles = map[string]string{}
	for _, h := range p.st.site.Hosts {
		p.opts.Roles[h.Name] = h.Role
	}
	return nil
}

func (p *preflightPhase) Run(ctx context.Context) error {
	rs := preflight.Evaluate(p.opts, p.st.factsInOrder())
	// An install changes nothing, not even a consented fix, while a failure remains that no fix covers:
	// the user fixes that first and re-runs.
	if fixes := offered(rs); len(fixes) > 0 && p.consent != nil && !(p.fatal && len(uncovered(rs, fixes)) > 0) {
		if chosen := p.consent(fixes); len(chosen) > 0 && !(p.fatal && len(uncovered(rs, chosen)) > 0) {
			if err := p.apply(ctx, chosen); err != nil {
				return err
			}
			p.fixed = chosen
			if p.m.DryRun {
				// The fixes were recorded, not made: the facts are unchanged, so the checks they would
				// fix are shown as pending instead of failing the dry run.
				rs = pendingFixes(rs, chosen)
			} else {
				if err := gatherAll(ctx, p.st, p.m); err != nil {
					return err
				}
				rs = preflight.Evaluate(p.opts, p.st.factsInOrder())
			}
		}
	}
	p.st.mu.Lock()
	p.st.results = rs
	p.st.mu.Unlock()
	for _, r := range rs {
		if r.Status != preflight.Pass {
			p.m.Emit(progress.Event{Host: r.Host, Msg: fmt.Sprintf("%s %s: %s (fix: %s)", r.Check, r.Status, r.Detail, r.Fix)})
		}
	}
	if p.fatal && preflight.Failed(rs) {
		var failed []string
		sentinels := []any{ErrPreflightFailed}
		for _, r := range rs {
			if r.Status == preflight.Fail && r.Check == "k3s" && len(sentinels) == 1 {
				// Callers decide on a foreign k3s (offer a reset) as they did before preflight gated Install.
				sentinels = append(sentinels, ErrForeignK3s)
			}
			if r.Status == preflight.Fail {
				failed = append(failed, fmt.Sprintf("%s: %s: %s\n    fix: %s", r.Host, r.Check, r.Detail, r.Fix))
			}
		}
		changed := "nothing was changed on any host"
		if len(p.fixed) > 0 && !p.m.DryRun {
			changed = "only the consented fixes were applied"
		}
		format := "%w"
		if len(sentinels) > 1 {
			format += " (%w)"
		}
		return fmt.Errorf(format+" (%s):\n  %s", append(sentinels, changed, strings.Join(failed, "\n  "))...)
	}
	return nil
}

// uncovered lists the failures none of the fixes addresses.
func uncovered(rs []preflight.Result, fixes []preflight.Fix) []preflight.Result {
	var out []preflight.Result
	for _, r := range rs {
		if r.Status == preflight.Fail && (r.AutoFix == nil || !slices.Contains(fixes, *r.AutoFix)) {
			out = append(out, r)
		}
	}
	return out
}

// pendingFixes turns the failures a chosen fix addresses into warnings saying the fix would run.
func pendingFixes(rs []preflight.Result, chosen []preflight.Fix) []preflight.Result {
	out := slices.Clone(rs)
	for i, r := range out {
		if r.Status == preflight.Fail && r.AutoFix != nil && slices.Contains(chosen, *r.AutoFix) {
			out[i].Status = preflight.Warn
			out[i].Detail += " (would be fixed: " + r.AutoFix.Desc + ")"
		}
	}
	return out
}

func (p *preflightPhase) apply(ctx context.Context, fixes []preflight.Fix) error {
	var errs []error
	for _, f := range fixes {
		p.st.mu.Lock()
		h, ok := p.st.hosts[f.Host]
		p.st.mu.Unlock()
		if !ok {
			continue
		}
		p.m.Emit(progress.Event{Host: f.Host, Msg: "fixing: " + f.Desc})
		if err := preflight.ApplyFix(ctx, h, f, p.st.opts.Now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// offered lists the fixes Ferry could apply, one per host and kind.
func offered(rs []preflight.Result) []preflight.Fix {
	var out []preflight.Fix
	for _, r := range rs {
		if r.AutoFix != nil {
			out = append(out, *r.AutoFix)
		}
	}
	return out
}
