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
	var rec *Record
	if res, rec, err = e.change(ctx, "deploying", res, b, spec, ActionDeploy, "", nil); err != nil || rec == nil {
		return res, err
	}
	if res.Health.State != Healthy {
		return res, unhealthy(b.App, res.Health)
	}
	return res, nil
}

// change is what Deploy and Upgrade share once the change is allowed: refuse an app another tool's
// overlay holds, stop there on a dry run, record the change (action, replacing the record from: "" for a
// first deploy), put the chart and each node's missing blobs on the site (plan nil: planned here), apply
// and wait for health, which res then carries with the record. rec is nil when nothing was recorded (a
// dry run, or a refusal before the record). verb is the gerund for errors ("deploying").
func (e *engine) change(ctx context.Context, verb string, res Result, b Bundle, spec Spec, action Action, from string, plan *Plan) (Result, *Record, error) {
	if err := e.checkOverlay(ctx, b.App); err != nil {
		return res, nil, fmt.Errorf("%s %s: %w", verb, b.App, err)
	}
	if e.o.DryRun {
		return res, nil, nil
	}
	rec := &Record{App: b.App, Version: b.Version, Action: action, From: from, BundleDigest: b.BundleDigest,
		ChartName: spec.ChartName, ChartDigest: spec.ChartDigest, Values: spec.Values, SecretPaths: spec.SecretPaths, SpecHash: spec.Hash,
		ValuesRef: spec.ValuesSecret, SecretValues: spec.SecretValues, StaticChart: spec.StaticChart, Images: b.Images}
	var err error
	// The record keeps the site's values in the canonical form ("" for none).
	if rec.Overrides, err = ValuesYAML(b.Overrides); err != nil {
		return res, nil, fmt.Errorf("%s %s: %w", verb, b.App, err)
	}
	if err := e.prepare(ctx, rec, spec.Chart, b.Chart); err != nil {
		return res, nil, fmt.Errorf("%s %s: %w", verb, b.App, err)
	}
	if err := e.deliver(ctx, rec, spec, b, plan); err != nil {
		e.finishErr(ctx, rec, err)
		return res, rec, err
	}
	h, changed, err := e.execute(ctx, rec, spec.Chart)
	res.Record, res.Health, res.Changed, res.State = *rec, h, changed, rec.State
	return res, rec, err
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
		r, done, err := e.resumeSame(ctx, res, inProgress, spec, *b)
		if done {
			return opening{decided: true}, r, err
		}
	}
	return opening{spec: spec, current: current}, res, nil
}

// resumeSame handles a (re-)run while a change is in progress. done is false only when the in-progress
// record was an interrupted change that never reached the cluster and b is another change: that record is
// closed (nothing changed) and the caller goes on with b. Otherwise: a change still running is refused; an
// interrupted one for this very spec is resumed under its own record (its missing blobs landed first if it
// stopped before the apply; never applied twice); an interrupted one for another spec that did reach the
// cluster is refused until status settles it.
func (e *engine) resumeSame(ctx context.Context, res Result, rec *Record, spec Spec, b Bundle) (_ Result, done bool, _ error) {
	if e.alive(rec) {
		return res, true, fmt.Errorf("changing %s: %w (%s %s, started %s)", rec.App, ErrOperationInProgress, rec.Action, rec.Version, rec.Started.Format("15:04:05"))
	}
	applied, err := e.applied(ctx, rec)
	if err != nil {
		return res, true, err
	}
	if rec.SpecHash != spec.Hash {
		if applied {
			return res, true, fmt.Errorf("changing %s: %w: %s to %s was interrupted; run status to see where it stands", rec.App, ErrOperationInProgress, rec.Action, rec.Version)
		}
		e.emit(PhaseCheck, fmt.Sprintf("closing the interrupted %s to %s (%s): it was never applied", rec.Action, rec.Version, rec.ID), nil)
		e.finishErr(ctx, rec, fmt.Errorf("interrupted before its spec was applied; nothing changed; superseded by %s %s", b.App, b.Version))
		return res, false, nil
	}
	e.emit(PhaseCheck, fmt.Sprintf("resuming interrupted %s of %s %s (%s)", rec.Action, rec.App, rec.Version, rec.ID), nil)
	var prep func(context.Context) error
	if !applied {
		prep = func(ctx context.Context) error { return e.deliver(ctx, rec, spec, b, nil) }
	}
	r, err := e.resume(ctx, rec, prep)
	r.StaticChart = spec.StaticChart
	return r, true, err
}

// deliver puts what the apply needs on the site: a large chart on the servers, then each node's missing
// blobs (plan nil: planned here against what each node holds now, so a re-run after an interruption
// sends only what is still missing). The record's heartbeat is kept fresh meanwhile.
func (e *engine) deliver(ctx context.Context, rec *Record, spec Spec, b Bundle, plan *Plan) error {
	stop := e.keepAlive(ctx, rec)
	defer stop()
	if err := e.placeChart(ctx, spec, b.Chart); err != nil {
		return err
	}
	return e.landImages(ctx, rec, b.Images, plan)
}
