package appliance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Upgrade moves an app to a newer bundle: same app, newer version (older only with AllowDowngrade),
// allowed by the bundle's UpgradeFrom; shows the plan; records the change; lands the missing blobs;
// applies; waits for health. When the new version fails (helm error, timeout, a pod never Ready, a
// missing image) the previous recorded spec is re-applied by itself and the cause is returned.
func Upgrade(ctx context.Context, c *Cluster, b Bundle, o Options) (res Result, err error) {
	e := newEngine(c, o)
	defer e.seal(&res, &err)
	if e.o.KeepSiteValues && b.Overrides == nil {
		if b.Overrides, err = e.siteValues(ctx, b.App); err != nil {
			return Result{}, fmt.Errorf("upgrading %s: %w", b.App, err)
		}
	}
	op, res, err := e.open(ctx, "upgrading", &b)
	if err != nil || op.decided {
		return res, err
	}
	spec, current := op.spec, op.current
	if current == nil {
		return res, fmt.Errorf("upgrading %s: %w; deploy it first", b.App, ErrNotDeployed)
	}
	if err := checkUpgrade(current, spec, b, e.o.AllowDowngrade); err != nil {
		return res, fmt.Errorf("upgrading %s from %s to %s: %w", b.App, current.Version, b.Version, err)
	}
	if current.SpecHash == spec.Hash {
		e.emit(PhaseCheck, fmt.Sprintf("%s %s is already applied with these values", b.App, b.Version), nil)
		res.Record, res.State = *current, current.State
		// Say how it stands, as status would (a re-run after an interruption lands here too).
		snap, err := collect(ctx, e.c, e.o.Namespace, b.App, "", 0, time.Time{}, 0, e.o.Now())
		if err != nil {
			return res, err
		}
		res.Health = Evaluate(snap)
		return res, nil
	}
	e.emit(PhasePlan, "reading the images present on each node", nil)
	plan, err := e.planNodes(ctx, b.App, current.Version, b.Version, current.Images, b.Images)
	if err != nil {
		return res, fmt.Errorf("planning upgrade of %s: %w", b.App, err)
	}
	res.Plan = plan
	for _, np := range plan.Nodes {
		e.o.Sink.Emit(progressf(PhasePlan, np.Node.Name, "%d blob(s), %d bytes to send", len(np.Missing), np.Bytes))
	}
	if spec.StaticChart != "" && e.o.Charts == nil {
		return res, fmt.Errorf("upgrading %s: %w", b.App, ErrNoChartPlacer)
	}
	var rec *Record
	if res, rec, err = e.change(ctx, "upgrading", res, b, spec, ActionUpgrade, current.ID, plan); err != nil || rec == nil {
		return res, err
	}
	if res.Health.State == Healthy {
		e.emit(PhaseRollback, progress.MsgNotNeeded, nil)
		return res, nil
	}
	return e.autoRollback(ctx, res, rec, current, res.Health)
}

// checkUpgrade applies the identity and version rules.
func checkUpgrade(current *Record, spec Spec, b Bundle, allowDowngrade bool) error {
	if current.ChartName != "" && current.ChartName != spec.ChartName {
		return fmt.Errorf("%w: installed chart %q, bundle chart %q", ErrDifferentApp, current.ChartName, spec.ChartName)
	}
	cur, err := semver.NewVersion(current.Version)
	if err != nil {
		return fmt.Errorf("reading installed version %q: %w", current.Version, err)
	}
	next, err := semver.NewVersion(b.Version)
	if err != nil {
		return fmt.Errorf("%w: version %q: %v", ErrInvalidInput, b.Version, err)
	}
	if next.LessThan(cur) && !allowDowngrade {
		return fmt.Errorf("%w (pass the downgrade flag to go back to an older version on purpose)", ErrDowngrade)
	}
	if b.UpgradeFrom != "" {
		floor := b.UpgradeFrom
		if _, err := semver.NewVersion(floor); err == nil {
			floor = ">= " + floor // the bundle format names the oldest version it upgrades
		}
		cons, err := semver.NewConstraint(floor)
		if err != nil {
			return fmt.Errorf("%w: upgradeFrom %q: %v", ErrInvalidInput, b.UpgradeFrom, err)
		}
		if !cons.Check(cur) {
			return fmt.Errorf("%w: the bundle upgrades only from %s; install an intermediate version first", ErrNotUpgradable, b.UpgradeFrom)
		}
	}
	return nil
}

// autoRollback re-applies the previous recorded spec after a failed upgrade and reports the cause.
func (e *engine) autoRollback(ctx context.Context, res Result, failed, previous *Record, h Health) (Result, error) {
	cause := fmt.Errorf("upgrading %s to %s: %w: %s", failed.App, failed.Version, ErrUnhealthy, h.Reason)
	e.emit(PhaseRollback, fmt.Sprintf("%s %s failed (%s); rolling back to %s", failed.App, failed.Version, h.Reason, previous.Version), nil)
	rb, err := e.rollbackTo(ctx, previous, ActionAutoRollback, failed)
	res.RolledBack = err == nil && rb.State == StateSucceeded
	res.RolledBackTo = previous.Version
	if err == nil {
		// Result.Version is the version now applied: the previous one, re-applied (ferryctl printed
		// "shop is at 3.0.0: Healthy" after rolling back to 2.0.0 before this).
		res.Version = previous.Version
	}
	res.Health = rb.Health
	res.State = failed.State
	res.Record = *failed
	if err != nil {
		return res, errors.Join(cause, fmt.Errorf("rolling back to %s: %w", previous.Version, err))
	}
	if rb.State != StateSucceeded {
		// The rollback applied but did not become healthy either: say so, or the caller believes the
		// previous version is back (ferryctl reported only the upgrade's cause before this).
		return res, errors.Join(cause, fmt.Errorf("rolling back to %s: %w: %s (the app is neither at %s nor at %s; see ferryctl status)",
			previous.Version, ErrUnhealthy, rb.Health.Reason, failed.Version, previous.Version))
	}
	return res, cause
}

// siteValues are the site's own values recorded with the version running now (nil when none: no
// current record, or one written before Ferry kept them).
func (e *engine) siteValues(ctx context.Context, app string) (map[string]any, error) {
	_, current, _, err := e.records(ctx, app)
	if err != nil || current == nil || current.Overrides == "" {
		return nil, err
	}
	v, err := ParseValues([]byte(current.Overrides))
	if err != nil {
		return nil, fmt.Errorf("reading the site's values of %s %s: %w", app, current.Version, err)
	}
	return v, nil
}
