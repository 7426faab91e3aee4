package appliance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// planNodes asks the node side which blobs each node has and plans what next needs.
func (e *engine) planNodes(ctx context.Context, app, from, to string, prev, next VersionImages) (*Plan, error) {
	var nodes []Node
	present := map[string]BlobSet{}
	if e.o.NodeImages != nil {
		var err error
		if nodes, err = e.o.NodeImages.Nodes(ctx); err != nil {
			return nil, fmt.Errorf("listing nodes: %w", err)
		}
		var errs []error
		for _, n := range nodes {
			set, err := e.o.NodeImages.Present(ctx, n)
			if err != nil {
				errs = append(errs, fmt.Errorf("reading images present on %s: %w", n.Name, err))
				continue
			}
			present[n.Name] = set
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	p := PlanImages(prev, next, nodes, present)
	p.App, p.From, p.To = app, from, to
	return &p, nil
}

// landImages sends every node the blobs it lacks, node by node so a failure names its node.
func (e *engine) landImages(ctx context.Context, rec *Record, next VersionImages, plan *Plan) error {
	if e.o.NodeImages == nil {
		return nil
	}
	if plan == nil {
		var err error
		if plan, err = e.planNodes(ctx, rec.App, "", rec.Version, VersionImages{}, next); err != nil {
			return err
		}
	}
	var errs []error
	for _, np := range plan.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		e.o.Sink.Emit(progress.Event{Phase: PhaseImages, Host: np.Node.Name, Msg: fmt.Sprintf("landing %d blob(s)", len(np.Missing)), Total: np.Bytes})
		req := LandRequest{App: rec.App, Version: rec.Version, Platform: np.Node.Platform, Images: next.Images[np.Node.Platform], Missing: np.Missing}
		if err := e.o.NodeImages.Land(ctx, np.Node, req); err != nil {
			errs = append(errs, fmt.Errorf("landing images of %s %s on %s: %w", rec.App, rec.Version, np.Node.Name, err))
			continue
		}
		e.o.Sink.Emit(progress.Event{Phase: PhaseImages, Host: np.Node.Name, Msg: "images landed", Done: np.Bytes, Total: np.Bytes})
	}
	return errors.Join(errs...)
}

// finishErr closes a record that failed before its spec was applied.
func (e *engine) finishErr(ctx context.Context, rec *Record, err error) {
	rec.State, rec.Reason, rec.Finished, rec.Heartbeat = StateFailed, err.Error(), e.o.Now(), time.Time{}
	dctx, done := detached(ctx)
	defer done()
	if uerr := e.store.Update(dctx, rec); uerr != nil {
		e.emit(PhaseRecord, "", uerr)
	}
}

// placeChart puts a large chart where the spec's static URL points, on every server, before the apply.
func (e *engine) placeChart(ctx context.Context, spec Spec, tgz []byte) error {
	if spec.StaticChart == "" {
		return nil
	}
	if e.o.Charts == nil {
		return ErrNoChartPlacer
	}
	e.emit(PhaseChart, "placing chart at "+spec.StaticChart+" on every server", nil)
	if err := e.o.Charts.PlaceChart(ctx, spec.StaticChart, tgz); err != nil {
		return fmt.Errorf("placing chart %s: %w", spec.StaticChart, err)
	}
	return nil
}
