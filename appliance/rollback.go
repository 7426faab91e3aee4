package appliance

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Rollback re-applies the spec of a kept version, read from the in-cluster records alone (no bundle),
// health-gated like any change. to "" means the previous version: the last good one when the live spec
// failed, else the newest kept version other than the current one.
func Rollback(ctx context.Context, c *Cluster, app, to string, o Options) (res Result, err error) {
	e := newEngine(c, o)
	defer e.seal(&res, &err)
	res = Result{App: app}
	all, current, inProgress, err := e.records(ctx, app)
	if err != nil {
		return res, err
	}
	if current == nil {
		return res, fmt.Errorf("rolling back %s: %w", app, ErrNotDeployed)
	}
	if inProgress != nil && e.alive(inProgress) {
		return res, fmt.Errorf("rolling back %s: %w", app, ErrOperationInProgress)
	}
	live, err := e.liveChart(ctx, app)
	if err != nil {
		return res, err
	}
	liveGood := live != nil && live.Annotations[AnnotationSpecHash] == current.SpecHash
	if inProgress != nil && liveGood && (to == "" || to == current.Version) && !isLive(live, inProgress) {
		// The change being undone was interrupted before its apply: the current version never stopped
		// running. Rolling back is closing that change; nothing is re-applied.
		return e.abandon(ctx, res, inProgress, current)
	}
	kept := map[string]bool{}
	ret := Retain(all, e.o.Keep)
	for _, v := range ret.Keep {
		kept[v] = true
	}
	var target *Record
	for i := len(all) - 1; i >= 0; i-- {
		r := &all[i]
		if r.State != StateSucceeded || !kept[r.Version] {
			continue
		}
		if to != "" && r.Version != to {
			continue
		}
		if to == "" && liveGood && r.Version == current.Version {
			continue
		}
		target = r
		break
	}
	if target == nil {
		want := "a previous version"
		if to != "" {
			want = "version " + to
		}
		return res, fmt.Errorf("rolling back %s: %w: %s is not among the kept versions %v", app, ErrNoRollbackTarget, want, ret.Keep)
	}
	if err := e.checkOverlay(ctx, app); err != nil {
		return res, fmt.Errorf("rolling back %s: %w", app, err)
	}
	if e.o.DryRun {
		res.Version = target.Version
		res.Record = *target
		return res, nil
	}
	// The change being undone: the newest record when it failed or was orphaned; it ends rolled-back.
	var replaced *Record
	if last := &all[len(all)-1]; last.State == StateFailed || last.State == StateInProgress {
		replaced = last
	}
	rb, err := e.rollbackTo(ctx, target, ActionRollback, replaced)
	rb.Records = nil
	if err != nil {
		return rb, err
	}
	if rb.State != StateSucceeded {
		return rb, fmt.Errorf("rolling back %s to %s: %w: %s", app, target.Version, ErrUnhealthy, rb.Health.Reason)
	}
	return rb, nil
}

// abandon closes an interrupted change that never reached the cluster, for a rollback to the version
// still live.
func (e *engine) abandon(ctx context.Context, res Result, orphan, current *Record) (Result, error) {
	e.emit(PhaseCheck, fmt.Sprintf("%s to %s (%s) was interrupted before it was applied; %s is still live: closing it, nothing to re-apply", orphan.Action, orphan.Version, orphan.ID, current.Version), nil)
	res.Version, res.Record, res.State = current.Version, *current, current.State
	if e.o.DryRun {
		return res, nil
	}
	e.finishErr(ctx, orphan, fmt.Errorf("interrupted before its spec was applied; nothing changed; abandoned by a rollback to %s", current.Version))
	snap, err := collect(ctx, e.c, e.o.Namespace, current.App, "", 0, time.Time{}, 0, e.o.Now())
	if err != nil {
		return res, err
	}
	res.Health = Evaluate(snap)
	return res, nil
}

// rollbackTo re-applies target's exact recorded spec as a new record. replaced, when set, is the record
// whose change is being undone; it ends as rolled-back.
func (e *engine) rollbackTo(ctx context.Context, target *Record, action Action, replaced *Record) (Result, error) {
	res := Result{App: target.App, Version: target.Version}
	hc, err := e.store.RestoreSpec(ctx, target)
	if err != nil {
		return res, err
	}
	paths := target.SecretPaths
	if paths == nil {
		// A record from before Ferry tracked secrets: read the marks from its stored chart when inline.
		paths = specSecretPaths(hc, target.Values)
		e.scrub.AddValues(target.Values, paths)
	}
	rec := &Record{App: target.App, Version: target.Version, Action: action, From: target.ID,
		BundleDigest: target.BundleDigest, ChartName: target.ChartName, ChartDigest: target.ChartDigest,
		Values: target.Values, Overrides: target.Overrides, SecretPaths: paths, SpecHash: target.SpecHash, ChartRef: target.ChartRef,
		ValuesRef: target.ValuesRef, SecretValues: target.SecretValues,
		StaticChart: target.StaticChart, Images: target.Images}
	if replaced != nil {
		rec.From = replaced.ID
	}
	if err := e.prepare(ctx, rec, hc, nil); err != nil {
		return res, fmt.Errorf("rolling back %s: %w", target.App, err)
	}
	note, err := e.clearAbortedRelease(ctx, hc)
	if err != nil {
		e.finishErr(ctx, rec, err)
		return res, err
	}
	if note != "" {
		e.emit(PhaseRollback, note, nil)
		rec.Reason = note
	}
	// Noted before the apply: the revisions the StatefulSets were moving to are the ones being undone.
	e.unstick = e.noteStatefulRevisions(ctx, hc.Spec.TargetNamespace)
	defer func() { e.unstick = nil }()
	h, changed, err := e.execute(ctx, rec, hc)
	res.Record, res.Health, res.Changed, res.State = *rec, h, changed, rec.State
	if err != nil {
		return res, err
	}
	if replaced != nil && (replaced.State == StateFailed || replaced.State == StateInProgress) && h.State == Healthy {
		replaced.State = StateRolledBack
		if replaced.Finished.IsZero() {
			replaced.Finished = e.o.Now()
		}
		replaced.Reason = joinReasons(replaced.Reason, fmt.Sprintf("rolled back to %s by %s", target.Version, rec.ID))
		dctx, done := detached(ctx)
		defer done()
		if err := e.store.Update(dctx, replaced); err != nil {
			e.emit(PhaseRecord, "", err)
		}
	}
	return res, nil
}

func progressf(phase, host, format string, a ...any) progress.Event {
	return progress.Event{Phase: phase, Host: host, Msg: fmt.Sprintf(format, a...)}
}
