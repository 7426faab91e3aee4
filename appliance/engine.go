package appliance

import (
	"context"
	"fmt"
	"strings"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// engine carries one verb's cluster, store and options.
type engine struct {
	c     *Cluster
	store *Store
	o     Options
	// scrub knows the secret values of every record and spec this verb has read; everything the verb
	// reports (events, errors, Result) passes through it.
	scrub *Scrubber
	// newKey is a values key made for this change because the cluster had none: prepare stores it.
	newKey []byte
	// unstick, set during a rollback's wait, frees StatefulSets from pods of the undone revision.
	unstick *stuckPods
}

func newEngine(c *Cluster, o Options) *engine {
	o = o.withDefaults()
	e := &engine{c: c, store: NewStore(c, o.Namespace, o.RecordsDir), o: o, scrub: &Scrubber{}}
	e.store.scrub = e.scrub
	sink := o.Sink
	e.o.Sink = func(ev progress.Event) {
		ev.Msg = e.scrub.String(ev.Msg)
		ev.Err = e.scrub.Err(ev.Err)
		sink.Emit(ev)
	}
	return e
}

// learn registers the secrets of records read from the cluster.
func (e *engine) learn(recs ...Record) {
	for _, r := range recs {
		e.scrub.AddValues(r.Values, r.SecretPaths)
	}
}

// seal is deferred by every verb: what leaves the engine carries no secret. Records in the Result are
// redacted copies, free text is scrubbed, and the error keeps its chain (errors.Is) under a scrubbed
// message.
func (e *engine) seal(res *Result, err *error) {
	*err = e.scrub.Err(*err)
	res.Health.Reason = e.scrub.String(res.Health.Reason)
	for i, w := range res.Health.Waiting {
		res.Health.Waiting[i] = e.scrub.String(w)
	}
	redact := func(r Record) Record {
		if r.ID == "" && r.Values == "" && len(r.Spec) == 0 {
			return r
		}
		red, rerr := e.store.Redact(r)
		if rerr != nil {
			// No key, no marker: drop the values rather than hand them out.
			r.Values, r.SecretValues, r.Spec, r.Reason, r.Redacted = "", "", nil, e.scrub.String(r.Reason), true
			return r
		}
		return red
	}
	res.Record = redact(res.Record)
	if len(res.Records) > 0 {
		out := make([]Record, len(res.Records))
		for i, r := range res.Records {
			out[i] = redact(r)
		}
		res.Records = out
	}
}

func (e *engine) emit(phase, msg string, err error) {
	e.o.Sink.Emit(progress.Event{Phase: phase, Msg: msg, Err: err})
}

// liveChart returns the app's HelmChart, nil when absent.
func (e *engine) liveChart(ctx context.Context, app string) (*helmv1.HelmChart, error) {
	hc, err := e.c.Helm.HelmV1().HelmCharts(e.o.Namespace).Get(ctx, app, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading HelmChart %s: %w", app, err)
	}
	return hc, nil
}

// newestRevision is the newest helm release revision of hc's app (0 when none).
func (e *engine) newestRevision(ctx context.Context, hc *helmv1.HelmChart) (int, error) {
	sel := labels.SelectorFromSet(labels.Set{"owner": "helm", "name": hc.Name}).String()
	list, err := e.c.Kube.CoreV1().Secrets(hc.Spec.TargetNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return 0, fmt.Errorf("listing helm releases of %s: %w", hc.Name, err)
	}
	rels, err := decodeReleases(hc.Name, list.Items)
	if err != nil || len(rels) == 0 {
		return 0, err
	}
	return rels[0].Version, nil
}

// checkOverlay looks for a HelmChartConfig of the app: helm-controller merges its values into every run
// and lets it override failurePolicy. A reinstall policy there would uninstall the app (and its data) on
// the first failure, so Ferry refuses to apply under it; other overlays are reported.
func (e *engine) checkOverlay(ctx context.Context, app string) error {
	cfg, err := e.c.Helm.HelmV1().HelmChartConfigs(e.o.Namespace).Get(ctx, app, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading HelmChartConfig %s: %w", app, err)
	}
	if cfg.Spec.FailurePolicy == helmv1.FailurePolicyReinstall {
		return fmt.Errorf("%w: HelmChartConfig %s/%s sets failurePolicy reinstall; remove that field (or the overlay) and retry", ErrUnsafeOverlay, e.o.Namespace, app)
	}
	e.emit(PhaseCheck, fmt.Sprintf("note: HelmChartConfig %s/%s overlays the values Ferry applies", e.o.Namespace, app), nil)
	return nil
}

// currentJobUID is the UID of the app's helm job right now (empty when none).
func (e *engine) currentJobUID(ctx context.Context, app string) (types.UID, error) {
	j, err := e.c.Kube.BatchV1().Jobs(e.o.Namespace).Get(ctx, "helm-install-"+app, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading helm job of %s: %w", app, err)
	}
	return j.UID, nil
}

// apply makes the live HelmChart carry hc's spec. It never deletes a HelmChart (that uninstalls the app
// and can lose PVC data) and it does nothing when the live spec already has hc's hash: an apply that
// was interrupted and re-run is not applied twice.
func (e *engine) apply(ctx context.Context, hc *helmv1.HelmChart) (changed bool, err error) {
	want := SpecHash(hc.Spec)
	client := e.c.Helm.HelmV1().HelmCharts(hc.Namespace)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := client.Get(ctx, hc.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = client.Create(ctx, hc, metav1.CreateOptions{})
			changed = err == nil
			return err
		}
		if err != nil {
			return err
		}
		if sameSpec(live.Spec, want) {
			changed = false
			// Metadata may still lag (a resumed apply): bring the record annotation in line; metadata
			// changes never trigger a helm run.
			if live.Annotations[AnnotationRecord] == hc.Annotations[AnnotationRecord] {
				return nil
			}
		} else {
			changed = true
		}
		live.Spec = hc.Spec
		if live.Labels == nil {
			live.Labels = map[string]string{}
		}
		for k, v := range hc.Labels {
			live.Labels[k] = v
		}
		if live.Annotations == nil {
			live.Annotations = map[string]string{}
		}
		for k, v := range hc.Annotations {
			live.Annotations[k] = v
		}
		_, err = client.Update(ctx, live, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("applying HelmChart %s: %w", hc.Name, err)
	}
	return changed, nil
}

// clearAbortedRelease lifts failurePolicy abort's block before a rollback: klipper-helm refuses to touch
// a release whose newest revision is failed ("waiting for operator intervention"). The operator action
// Ferry takes is to drop the failed (or interrupted pending-*) revisions above the last deployed one, so
// helm upgrades from that deployed revision again. What was dropped is returned for the record.
func (e *engine) clearAbortedRelease(ctx context.Context, hc *helmv1.HelmChart) (string, error) {
	if hc.Spec.FailurePolicy == helmv1.FailurePolicyRetry {
		return "", nil
	}
	target := hc.Spec.TargetNamespace
	sel := labels.SelectorFromSet(labels.Set{"owner": "helm", "name": hc.Name}).String()
	list, err := e.c.Kube.CoreV1().Secrets(target).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return "", fmt.Errorf("listing helm releases of %s: %w", hc.Name, err)
	}
	rels, err := decodeReleases(hc.Name, list.Items)
	if err != nil {
		return "", err
	}
	// A pending-* revision may belong to a helm run still in progress (helm-controller lets a running job
	// finish before replacing it): leave those to klipper-helm while the job has active pods.
	running := false
	if j, err := e.c.Kube.BatchV1().Jobs(hc.Namespace).Get(ctx, "helm-install-"+hc.Name, metav1.GetOptions{}); err == nil {
		running = j.Status.Active > 0
	} else if !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("reading helm job of %s: %w", hc.Name, err)
	}
	var dropped []string
	for _, r := range rels { // newest first
		if r.Info != nil && r.Info.Status == "deployed" {
			break
		}
		st := ""
		if r.Info != nil {
			st = string(r.Info.Status)
		}
		if st != "failed" && (running || !strings.HasPrefix(st, "pending-")) {
			break
		}
		name := fmt.Sprintf("sh.helm.release.v1.%s.v%d", r.Name, r.Version)
		if err := e.c.Kube.CoreV1().Secrets(target).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("clearing failed helm release %s: %w", name, err)
		}
		dropped = append(dropped, fmt.Sprintf("revision %d (%s: %s)", r.Version, st, r.Info.Description))
	}
	if len(dropped) == 0 {
		return "", nil
	}
	return "cleared aborted helm release " + strings.Join(dropped, ", "), nil
}

// wait polls health until the app is Healthy or Failed, refreshing the record's heartbeat. A cancelled
// context returns its error and leaves the record in progress, marked detached for the next connect.
func (e *engine) wait(ctx context.Context, rec *Record, timeout time.Duration) (Health, error) {
	var last string
	lastBeat := e.o.Now()
	tick := time.NewTicker(e.o.PollInterval)
	defer tick.Stop()
	for {
		for _, note := range e.freeStuckPods(ctx, e.unstick) {
			rec.Reason = joinReasons(rec.Reason, note)
		}
		snap, err := collect(ctx, e.c, e.o.Namespace, rec.App, rec.StaleJobUID, rec.StaleRevision, rec.Started, timeout, e.o.Now())
		if err != nil && ctx.Err() == nil {
			// A dropped SSH channel or an API hiccup is not the app failing: keep trying until timeout.
			e.emit(PhaseWait, "reading cluster state: "+err.Error(), nil)
			if e.o.Now().Sub(rec.Started) > timeout {
				return Health{}, fmt.Errorf("waiting for %s: %w", rec.App, err)
			}
		} else if err == nil {
			h := Evaluate(snap)
			msg := h.String()
			if len(h.Waiting) > 0 && h.State == InProgress {
				msg = "waiting for " + strings.Join(h.Waiting, ", ")
			}
			if msg != last {
				e.emit(PhaseWait, msg, nil)
				last = msg
			}
			if h.State != InProgress {
				return h, nil
			}
		}
		if now := e.o.Now(); now.Sub(lastBeat) >= e.o.HeartbeatInterval {
			rec.Heartbeat = now
			if err := e.store.Update(ctx, rec); err != nil && ctx.Err() == nil {
				e.emit(PhaseWait, "refreshing record: "+err.Error(), nil)
			}
			lastBeat = now
		}
		select {
		case <-ctx.Done():
			rec.Heartbeat = time.Time{} // detached: the next connect need not wait for the heartbeat to age
			dctx, done := detached(ctx)
			defer done()
			_ = e.store.Update(dctx, rec)
			return Health{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// execute applies a recorded spec and waits for its health, finishing the record. It is the one path
// for deploy, upgrade, rollback and resume.
func (e *engine) execute(ctx context.Context, rec *Record, hc *helmv1.HelmChart) (Health, bool, error) {
	timeout := e.o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
		if hc.Spec.Timeout != nil {
			timeout = hc.Spec.Timeout.Duration
		}
		timeout += time.Minute // helm's own timeout, plus the job's scheduling and the rollouts
	}
	if err := ctx.Err(); err != nil {
		// Stopped before the next phase: nothing reached the cluster, so the record is closed, not left
		// for a reconcile to wonder about.
		e.finishErr(ctx, rec, fmt.Errorf("cancelled before the spec was applied; nothing changed: %w", err))
		return Health{}, false, err
	}
	e.emit(PhaseApply, fmt.Sprintf("applying %s %s (%s)", rec.App, rec.Version, rec.ID), nil)
	// helm-controller's job cannot start without the values Secret the spec names: it goes first.
	if err := e.store.EnsureValues(ctx, rec); err != nil {
		e.finish(ctx, rec, Health{State: Failed, Reason: err.Error()})
		return Health{}, false, err
	}
	changed, err := e.apply(ctx, hc)
	if err != nil {
		e.finish(ctx, rec, Health{State: Failed, Reason: err.Error()})
		return Health{}, false, err
	}
	if !changed {
		e.emit(PhaseApply, "spec already applied; not applying it again", nil)
	}
	h, err := e.wait(ctx, rec, timeout)
	if err != nil {
		return h, changed, err
	}
	e.finish(ctx, rec, h)
	if h.State == Healthy {
		e.pruneValues(ctx, rec.App)
	}
	return h, changed, nil
}

// buildSpec builds a bundle's spec with the cluster's values key (a fresh one, stored by prepare, when
// the cluster has none yet).
func (e *engine) buildSpec(ctx context.Context, in SpecInput) (Spec, error) {
	key, found, err := e.store.ValuesKey(ctx)
	if err != nil {
		return Spec{}, err
	}
	in.ValuesKey = key
	spec, err := BuildSpec(in)
	if err != nil {
		return Spec{}, err
	}
	if !found && spec.ValuesSecret != "" {
		e.newKey = key
	}
	return spec, nil
}

// pruneValues deletes the values Secrets only versions no longer kept use, after a change succeeded: old
// passwords do not linger in Secrets nothing will apply again. (The records keep them: a version kept
// again later gets its Secret back from its record.) The live spec's Secret is never deleted. Failing to
// prune is reported, not fatal.
func (e *engine) pruneValues(ctx context.Context, app string) {
	dctx, done := detached(ctx)
	defer done()
	all, err := e.store.List(dctx, app)
	if err != nil {
		e.emit(PhaseRecord, "", err)
		return
	}
	live, err := e.liveChart(dctx, app)
	if err != nil {
		e.emit(PhaseRecord, "", err)
		return
	}
	inUse := map[string]bool{}
	if live != nil {
		for _, vs := range live.Spec.ValuesSecrets {
			inUse[vs.Name] = true
		}
	}
	var names []string
	for _, n := range Retain(all, e.o.Keep).PrunableValues {
		if !inUse[n] {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return
	}
	if err := e.store.DeleteValues(dctx, app, names); err != nil {
		e.emit(PhaseRecord, "", err)
		return
	}
	e.emit(PhaseRecord, fmt.Sprintf("pruned the secret values of versions no longer kept (%s)", strings.Join(names, ", ")), nil)
}

// finish stores the outcome of a record.
func (e *engine) finish(ctx context.Context, rec *Record, h Health) {
	rec.Finished = e.o.Now()
	rec.Heartbeat = time.Time{}
	rec.ConfigHash, rec.Revision = h.ConfigHash, h.Revision
	if h.State == Healthy {
		rec.State = StateSucceeded
	} else {
		rec.State = StateFailed
	}
	rec.Reason = joinReasons(rec.Reason, h.Reason)
	dctx, done := detached(ctx)
	defer done()
	if err := e.store.Update(dctx, rec); err != nil {
		e.emit(PhaseRecord, "", err)
	}
}

// prepare creates the namespace, stores the chart and a new in-progress record for hc.
func (e *engine) prepare(ctx context.Context, rec *Record, hc *helmv1.HelmChart, chart []byte) error {
	if err := e.store.EnsureNamespace(ctx); err != nil {
		return err
	}
	if e.newKey != nil {
		if err := e.store.SaveValuesKey(ctx, e.newKey); err != nil {
			return err
		}
		e.newKey = nil
	}
	if hc.Spec.ChartContent != "" && chart != nil {
		ref, err := e.store.PutChart(ctx, rec.App, chart)
		if err != nil {
			return err
		}
		rec.ChartRef = ref
	}
	live, err := e.liveChart(ctx, rec.App)
	if err != nil {
		return err
	}
	if !isLive(live, rec) {
		// The job that exists now ran another spec; only a newer one speaks for this record. When the
		// spec is already live, helm-controller starts no new job and the current one is the witness.
		stale, err := e.currentJobUID(ctx, rec.App)
		if err != nil {
			return err
		}
		rec.StaleJobUID = stale
		if live != nil {
			if rec.StaleRevision, err = e.newestRevision(ctx, live); err != nil {
				return err
			}
		}
	}
	rec.State = StateInProgress
	rec.Started = e.o.Now()
	rec.Heartbeat = rec.Started
	rec.Holder = e.holder()
	if err := recordSpec(rec, hc); err != nil {
		return err
	}
	if err := e.store.Create(ctx, rec); err != nil {
		return err
	}
	// The record id rides on the HelmChart so the cluster says which record applied it.
	hc.Annotations[AnnotationRecord] = rec.ID
	return recordSpec(rec, hc)
}

// records reads history and finds the record that is live now (the newest succeeded one) and any
// in-progress one.
func (e *engine) records(ctx context.Context, app string) (all []Record, current, inProgress *Record, err error) {
	all, err = e.store.List(ctx, app)
	if err != nil {
		return nil, nil, nil, err
	}
	e.learn(all...)
	for i := range all {
		r := &all[i]
		switch r.State {
		case StateSucceeded:
			current = r
		case StateInProgress:
			inProgress = r
		}
	}
	return all, current, inProgress, nil
}

// alive says whether an in-progress record still has a process behind it: not when Liveness knows its
// holder is gone (killed on this laptop), else while its heartbeat is fresh.
func (e *engine) alive(r *Record) bool {
	if lv := e.o.Liveness; lv != nil && r.Holder != "" && r.Holder != lv.Token() && lv.Gone(r.Holder) {
		return false
	}
	return !r.Heartbeat.IsZero() && e.o.Now().Sub(r.Heartbeat) < 3*e.o.HeartbeatInterval
}

// holder is this process's Liveness token ("" without one).
func (e *engine) holder() string {
	if e.o.Liveness == nil {
		return ""
	}
	return e.o.Liveness.Token()
}

// applied says whether rec's spec is the live HelmChart's: an interrupted change whose spec is not was
// stopped before its apply (while placing the chart or landing images) and changed nothing the app runs.
func (e *engine) applied(ctx context.Context, rec *Record) (bool, error) {
	live, err := e.liveChart(ctx, rec.App)
	if err != nil {
		return false, err
	}
	return isLive(live, rec), nil
}

// isLive says whether hc (the live HelmChart, nil when absent) carries rec's spec: its spec-hash
// annotation, written in the same update as the spec, or its spec (see sameSpec). The stored spec need
// not hash like the one sent (API-server defaulting; seen on the lab, where an applied and deployed
// upgrade was judged "never applied" before).
func isLive(hc *helmv1.HelmChart, rec *Record) bool {
	if hc == nil {
		return false
	}
	return hc.Annotations[AnnotationSpecHash] == rec.SpecHash || sameSpec(hc.Spec, rec.SpecHash)
}

// sameSpec says whether a stored HelmChart spec is the one whose SpecHash is want. helm-controller's
// CRD defaults spec.driver to "secret" (the stand-in's helm-controller v0.17.9 on kube-apiserver does),
// a field Ferry leaves empty, so the stored spec is also hashed with that default taken out.
func sameSpec(stored helmv1.HelmChartSpec, want string) bool {
	if SpecHash(stored) == want {
		return true
	}
	if stored.Driver == defaultDriver {
		stored.Driver = ""
		return SpecHash(stored) == want
	}
	return false
}

// defaultDriver is the helm storage driver helm-controller's CRD fills in when a spec names none.
const defaultDriver = "secret"

// keepAlive refreshes rec's heartbeat while a step that does not poll runs (chart placement, image
// landing: minutes on a slow link), so no other process takes the change for orphaned meanwhile. It
// writes a copy of rec; stop waits for the last write, so a heartbeat can never overwrite a later state.
func (e *engine) keepAlive(ctx context.Context, rec *Record) (stop func()) {
	snap := *rec
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(e.o.HeartbeatInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				snap.Heartbeat = e.o.Now()
				if err := e.store.Update(ctx, &snap); err != nil && ctx.Err() == nil {
					e.emit(PhaseRecord, "refreshing record: "+err.Error(), nil)
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
		if snap.Heartbeat.After(rec.Heartbeat) {
			rec.Heartbeat = snap.Heartbeat
		}
	}
}

// detached gives the closing write of a record a context that outlives the caller's cancel, bounded so a
// dead SSH channel cannot hang the exit.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
}

func unhealthy(app string, h Health) error {
	return fmt.Errorf("applying %s: %w: %s", app, ErrUnhealthy, h.Reason)
}

func joinReasons(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
