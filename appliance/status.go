package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Status tells where an app truly stands. It is also the reconcile on connect: an in-progress record
// whose process is gone (laptop crash, disconnect, cancel) is judged by the cluster's real state and
// closed as succeeded or failed; with Options.Resume a still-running change is waited for, and a failed
// upgrade rolled back, without applying anything twice.
func Status(ctx context.Context, c *Cluster, app string, o Options) (res Result, err error) {
	e := newEngine(c, o)
	defer e.seal(&res, &err)
	all, current, inProgress, err := e.records(ctx, app)
	if err != nil {
		return Result{App: app}, err
	}
	res = Result{App: app, Records: all}
	ret := Retain(all, e.o.Keep)
	res.Retention = &ret
	if inProgress != nil && !e.alive(inProgress) {
		res.Orphaned = true
		applied, err := e.applied(ctx, inProgress)
		if err != nil {
			return res, err
		}
		if !applied {
			// Stopped while placing the chart or landing images: what runs is still the current version.
			// The record stays open, so a re-run of the same change (which has the bundle the images come
			// from) finishes it under this record; a rollback or another change closes it.
			res.NotApplied, res.Record, res.State = true, *inProgress, StateInProgress
			if current != nil {
				res.Version = current.Version
				snap, err := collect(ctx, c, e.o.Namespace, app, "", 0, time.Time{}, 0, e.o.Now())
				if err != nil {
					return res, err
				}
				res.Health = Evaluate(snap)
			}
			return res, nil
		}
		if e.o.Resume {
			r, err := e.resume(ctx, inProgress, nil)
			r.Orphaned = true
			dctx, done := detached(ctx)
			defer done()
			r.Records, _ = e.store.List(dctx, app)
			r.Retention = res.Retention
			// An unhealthy outcome is when the components matter most: list them with the error.
			cs, cerr := e.components(dctx, app, nil)
			r.Components = cs
			if err == nil {
				err = cerr
			}
			return r, err
		}
		h, err := e.judge(ctx, inProgress)
		if err != nil {
			return res, err
		}
		res.Version, res.Record, res.Health, res.State = inProgress.Version, *inProgress, h, inProgress.State
		if h.State == Failed && inProgress.Action == ActionUpgrade && current != nil {
			res.SuggestRollbackTo = current.Version
		}
		res.Records, _ = e.store.List(ctx, app)
		res.Components, err = e.components(ctx, app, nil)
		return res, err
	}
	if inProgress != nil {
		snap, err := collect(ctx, c, e.o.Namespace, app, inProgress.StaleJobUID, inProgress.StaleRevision, time.Time{}, 0, e.o.Now())
		if err != nil {
			return res, err
		}
		res.Version, res.Record, res.Health, res.State = inProgress.Version, *inProgress, Evaluate(snap), StateInProgress
		res.Components, err = e.components(ctx, app, &snap)
		return res, err
	}
	if current == nil {
		return res, fmt.Errorf("reading status of %s: %w", app, ErrNotDeployed)
	}
	latest := &all[len(all)-1]
	snap, err := collect(ctx, c, e.o.Namespace, app, "", 0, time.Time{}, 0, e.o.Now())
	if err != nil {
		return res, err
	}
	res.Version, res.Record, res.Health, res.State = current.Version, *latest, Evaluate(snap), latest.State
	if snap.Chart != nil && snap.Chart.Annotations[AnnotationSpecHash] != current.SpecHash && latest.State == StateFailed {
		// The live spec is a failed change that was not rolled back (e.g. a failed rollback).
		res.Version = latest.Version
		res.SuggestRollbackTo = current.Version
	}
	res.Components, err = e.components(ctx, app, &snap)
	return res, err
}

// components lists the app's workloads and services with their state, from snap (read again when nil)
// plus the services and endpoint slices only Status needs.
func (e *engine) components(ctx context.Context, app string, snap *Snapshot) ([]Component, error) {
	if snap == nil {
		s, err := collect(ctx, e.c, e.o.Namespace, app, "", 0, time.Time{}, 0, e.o.Now())
		if err != nil {
			return nil, err
		}
		snap = &s
	}
	if err := collectServices(ctx, e.c, e.o.Namespace, snap); err != nil {
		return nil, fmt.Errorf("reading the components of %s: %w", app, err)
	}
	return Components(*snap), nil
}

// judge evaluates an orphaned in-progress record once; a final verdict closes the record.
func (e *engine) judge(ctx context.Context, rec *Record) (Health, error) {
	live, err := e.liveChart(ctx, rec.App)
	if err != nil {
		return Health{}, err
	}
	if !isLive(live, rec) {
		h := Health{State: Failed, Reason: "interrupted before its spec was applied; nothing changed"}
		e.finish(ctx, rec, h)
		return h, nil
	}
	timeout := e.o.Timeout
	if timeout <= 0 && live.Spec.Timeout != nil {
		timeout = live.Spec.Timeout.Duration + time.Minute
	}
	snap, err := collect(ctx, e.c, e.o.Namespace, rec.App, rec.StaleJobUID, rec.StaleRevision, rec.Started, timeout, e.o.Now())
	if err != nil {
		return Health{}, err
	}
	h := Evaluate(snap)
	if h.State != InProgress {
		e.finish(ctx, rec, h)
	}
	return h, nil
}

// resume continues an orphaned in-progress record under this process: prep (when the change stopped
// before its apply: chart and images still to deliver) runs first, then the spec is applied only if it
// is not live yet (apply compares hashes) and health is awaited; a failed upgrade is rolled back.
func (e *engine) resume(ctx context.Context, rec *Record, prep func(context.Context) error) (Result, error) {
	res := Result{App: rec.App, Version: rec.Version, Resumed: true}
	hc, err := e.store.RestoreSpec(ctx, rec)
	if err != nil {
		return res, err
	}
	hc.Annotations[AnnotationRecord] = rec.ID
	// Claim the record first: another process must see a live holder from now on.
	rec.Heartbeat, rec.Holder = e.o.Now(), e.holder()
	if err := e.store.Update(ctx, rec); err != nil {
		return res, err
	}
	if prep != nil {
		if err := prep(ctx); err != nil {
			e.finishErr(ctx, rec, err)
			res.Record, res.State = *rec, rec.State
			return res, err
		}
	}
	h, changed, err := e.execute(ctx, rec, hc)
	res.Record, res.Health, res.Changed, res.State = *rec, h, changed, rec.State
	if err != nil || h.State == Healthy {
		return res, err
	}
	if rec.Action == ActionUpgrade && rec.From != "" {
		all, err := e.store.List(ctx, rec.App)
		if err != nil {
			return res, err
		}
		for i := range all {
			if all[i].ID == rec.From {
				return e.autoRollback(ctx, res, rec, &all[i], h)
			}
		}
	}
	return res, unhealthy(rec.App, h)
}

// History lists every recorded change of an app, oldest first, with the retention plan.
func History(ctx context.Context, c *Cluster, app string, o Options) (res Result, err error) {
	e := newEngine(c, o)
	defer e.seal(&res, &err)
	all, err := e.store.List(ctx, app)
	if err != nil {
		return Result{App: app}, err
	}
	e.learn(all...)
	ret := Retain(all, e.o.Keep)
	return Result{App: app, Records: all, Retention: &ret}, nil
}

// TargetNamespace is the namespace the app runs in now, read from the newest succeeded record's spec
// (records oldest first, as History lists them): an upgrade keeps it. fallback when no such record names
// one.
func TargetNamespace(records []Record, fallback string) string {
	for i := len(records) - 1; i >= 0; i-- {
		r := records[i]
		if r.State != StateSucceeded || len(r.Spec) == 0 {
			continue
		}
		var hc struct {
			Spec struct {
				TargetNamespace string `json:"targetNamespace"`
			} `json:"spec"`
		}
		if json.Unmarshal(r.Spec, &hc) == nil && hc.Spec.TargetNamespace != "" {
			return hc.Spec.TargetNamespace
		}
	}
	return fallback
}
