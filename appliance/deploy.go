package appliance

import (
	"context"
	"fmt"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Deploy installs the first version of an app: build and validate the spec, record it, land images,
// apply, and wait for health. A failed first install is left in place and reported (there is nothing to
// roll back to, and deleting the HelmChart would uninstall whatever did start).
func Deploy(ctx context.Context, c *Cluster, b Bundle, o Options) (res Result, err error) {
	e := newEngine(c, o)
	defer e.seal(&res, &err)
	op, res, err := e.open(ctx, "deploying", &b)
	if err != nil || op.decided {
		return res, err
	}
	spec, current := op.spec, op.current
	live, err := e.liveChart(ctx, b.App)
	if err != nil {
		return res, err
	}
	if current != nil || live != nil {
		return res, fmt.Errorf("deploying %s: %w; use upgrade", b.App, ErrAlreadyDeployed)
	}
	if spec.StaticChart != "" && e.o.Charts == nil {
		return res, fmt.Errorf("deploying %s: %w", b.App, ErrNoChartPlacer)
	}
	if err := e.checkOverlay(ctx, b.App); err != nil {
		return res, fmt.Errorf("deploying %s: %w", b.App, err)
	}
	if e.o.DryRun {
		return res, nil
	}
	rec := &Record{App: b.App, Version: b.Version, Action: ActionDeploy, BundleDigest: b.BundleDigest,
		ChartName: spec.ChartName, ChartDigest: spec.ChartDigest, Values: spec.Values, SecretPaths: spec.SecretPaths, SpecHash: spec.Hash,
		ValuesRef: spec.ValuesSecret, SecretValues: spec.SecretValues, StaticChart: spec.StaticChart, Images: b.Images}
	if rec.Overrides, err = overridesYAML(b.Overrides); err != nil {
		return res, fmt.Errorf("deploying %s: %w", b.App, err)
	}
	if err := e.prepare(ctx, rec, spec.Chart, b.Chart); err != nil {
		return res, fmt.Errorf("deploying %s: %w", b.App, err)
	}
	if err := e.placeChart(ctx, spec, b.Chart); err != nil {
		e.finishErr(ctx, rec, err)
		return res, err
	}
	if err := e.landImages(ctx, rec, b.Images, nil); err != nil {
		e.finishErr(ctx, rec, err)
		return res, err
	}
	h, changed, err := e.execute(ctx, rec, spec.Chart)
	res.Record, res.Health, res.Changed, res.State = *rec, h, changed, rec.State
	if err != nil {
		return res, err
	}
	if h.State != Healthy {
		return res, unhealthy(b.App, h)
	}
	return res, nil
}

// opening is what Deploy and Upgrade learn before deciding anything.
type opening struct {
	spec    Spec
	current *Record // the app's current record, nil before its first deploy
	// decided is set when an interrupted change of the app settled the call (resumed, or refused): the
	// caller returns the Result and error as they are.
	decided bool
}

// open is the start Deploy and Upgrade share: build and validate the spec (its secret values then scrubbed
// from every error), read the app's records, and resume an interrupted change of this very spec (see
// resumeSame). verb is the gerund for errors ("deploying").
func (e *engine) open(ctx context.Context, verb string, b *Bundle) (opening, Result, error) {
	b.Namespace = e.o.Namespace
	spec, err := e.buildSpec(ctx, b.SpecInput)
	if err != nil {
		return opening{}, Result{}, fmt.Errorf("%s %s: %w", verb, b.App, err)
	}
	e.scrub.AddValues(spec.Values, spec.SecretPaths)
	res := Result{App: b.App, Version: b.Version, StaticChart: spec.StaticChart}
	e.emit(PhaseCheck, fmt.Sprintf("checking %s %s", b.App, b.Version), nil)
	if spec.StaticChart == "" {
		// The chart goes inline in the HelmChart: said now, so the step list does not leave it waiting.
		e.emit(PhaseChart, progress.MsgNotNeeded, nil)
	}
	_, current, inProgress, err := e.records(ctx, b.App)
	if err != nil {
		return opening{}, res, err
	}
	if inProgress != nil {
		res, err = e.resumeSame(ctx, res, inProgress, spec)
		return opening{decided: true}, res, err
	}
	return opening{spec: spec, current: current}, res, nil
}

// resumeSame handles a re-run while a change is in progress: when the in-progress record is for this
// very spec and its process is gone, it is resumed (never applied twice); anything else is refused.
func (e *engine) resumeSame(ctx context.Context, res Result, rec *Record, spec Spec) (Result, error) {
	if e.alive(rec) {
		return res, fmt.Errorf("changing %s: %w (%s %s, started %s)", rec.App, ErrOperationInProgress, rec.Action, rec.Version, rec.Started.Format("15:04:05"))
	}
	if rec.SpecHash != spec.Hash {
		return res, fmt.Errorf("changing %s: %w: %s to %s was interrupted; run status to see where it stands", rec.App, ErrOperationInProgress, rec.Action, rec.Version)
	}
	e.emit(PhaseCheck, fmt.Sprintf("resuming interrupted %s of %s %s (%s)", rec.Action, rec.App, rec.Version, rec.ID), nil)
	r, err := e.resume(ctx, rec)
	r.StaticChart = spec.StaticChart
	return r, err
}
