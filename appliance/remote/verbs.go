package remote

import (
	"context"
	"fmt"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/nodes"
	"github.com/ferry-delivery/ferry/payload"
)

// Result is what a verb did, plus what pruning after it did.
type Result struct {
	appliance.Result
	// Pruned is what was removed from the nodes after a successful change (nil when nothing ran).
	Pruned *nodes.PruneResult
	// PruneErr is a pruning failure: the change itself succeeded, and the next change prunes again.
	PruneErr error
}

// Deploy installs the bundle's app (verified by the caller) into targetNamespace (the app's name if
// empty), landing its images on every node first.
func (s *Session) Deploy(ctx context.Context, b *payload.Bundle, targetNamespace string, overrides map[string]any) (Result, error) {
	if targetNamespace == "" {
		targetNamespace = b.Manifest().App.Name
	}
	ab, err := appliance.FromPayload(b, targetNamespace, overrides)
	if err != nil {
		return Result{}, fmt.Errorf("reading bundle: %w", err)
	}
	s.Nodes.Bundle = nodes.SingleBundle(b)
	res, err := appliance.Deploy(ctx, s.Cluster, ab, s.options())
	return s.after(ctx, res, err)
}

// Upgrade moves the app to the bundle's version, keeping the namespace it runs in and landing only the
// blobs each node lacks.
func (s *Session) Upgrade(ctx context.Context, b *payload.Bundle, overrides map[string]any, allowDowngrade bool) (Result, error) {
	app := b.Manifest().App.Name
	ns, err := s.TargetNamespace(ctx, app)
	if err != nil {
		return Result{}, err
	}
	ab, err := appliance.FromPayload(b, ns, overrides)
	if err != nil {
		return Result{}, fmt.Errorf("reading bundle: %w", err)
	}
	s.Nodes.Bundle = nodes.SingleBundle(b)
	o := s.options()
	o.AllowDowngrade = o.AllowDowngrade || allowDowngrade
	res, err := appliance.Upgrade(ctx, s.Cluster, ab, o)
	return s.after(ctx, res, err)
}

// Rollback re-applies a kept version (the previous one if to is empty) from the cluster's records.
func (s *Session) Rollback(ctx context.Context, app, to string) (Result, error) {
	s.Nodes.Bundle = nil // a kept version's images are pinned on the nodes: no bundle is needed
	res, err := appliance.Rollback(ctx, s.Cluster, app, to, s.options())
	return s.after(ctx, res, err)
}

// Status reports where the app stands (see appliance.Options.Resume).
func (s *Session) Status(ctx context.Context, app string) (appliance.Result, error) {
	return appliance.Status(ctx, s.Cluster, app, s.options())
}

// History lists the app's records, oldest first, and what retention keeps.
func (s *Session) History(ctx context.Context, app string) (appliance.Result, error) {
	return appliance.History(ctx, s.Cluster, app, s.options())
}

// after prunes the nodes once a change has succeeded: only then is it certain which versions are kept.
func (s *Session) after(ctx context.Context, res appliance.Result, err error) (Result, error) {
	out := Result{Result: res}
	if err != nil || s.o.Appliance.DryRun || !(res.Changed || res.Resumed) {
		return out, err
	}
	h, herr := appliance.History(ctx, s.Cluster, res.App, s.options())
	if herr != nil {
		out.PruneErr = fmt.Errorf("pruning after the change: %w", herr)
		return out, nil
	}
	p, perr := s.Nodes.Prune(ctx, h.Records, s.o.Keep)
	out.Pruned = &p
	if perr != nil {
		out.PruneErr = fmt.Errorf("pruning after the change: %w", perr)
	}
	return out, nil
}

// TargetNamespace is the namespace the app runs in now, read from the newest succeeded record's spec;
// the app's name when there is none (where Deploy puts it by default).
func (s *Session) TargetNamespace(ctx context.Context, app string) (string, error) {
	res, err := s.History(ctx, app)
	if err != nil {
		return "", fmt.Errorf("reading history of %s: %w", app, err)
	}
	return appliance.TargetNamespace(res.Records, app), nil
}

// SetResume makes Status keep waiting on an interrupted change (appliance.Options.Resume).
func (s *Session) SetResume(v bool) { s.o.Appliance.Resume = v }

// SetDryRun makes the next verbs check and plan only (appliance.Options.DryRun).
func (s *Session) SetDryRun(v bool) { s.o.Appliance.DryRun = v }
