package nodes

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/payload"
)

// PruneResult says what Prune did on each node.
type PruneResult struct {
	Unpinned      map[string][]string // node -> image names un-pinned (and removed)
	ChartsRemoved map[string][]string // server -> static chart files removed
}

// Prune acts on appliance.Retain(records, keep): on every node it un-pins and removes the images only
// versions no longer kept use, and on every server deletes the static charts no kept version references.
// An image name a kept (or in-progress) version also uses is never touched, whatever its version, so
// pruning can never take what a rollback needs; containerd's GC then drops blobs no image references,
// which leaves shared layers in place. Images not pinned by Ferry, or already gone, are skipped.
func (s *Site) Prune(ctx context.Context, records []appliance.Record, keep int) (PruneResult, error) {
	plan := appliance.Retain(records, keep)
	kept := map[string]bool{}
	for _, v := range plan.Keep {
		kept[v] = true
	}
	for _, r := range records {
		if r.State == appliance.StateInProgress {
			kept[r.Version] = true
		}
	}
	keepNames, dropNames := map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, r := range records {
		into := dropNames
		if kept[r.Version] {
			into = keepNames
		}
		for plat, imgs := range r.Images.Images {
			if into[plat] == nil {
				into[plat] = map[string]bool{}
			}
			for _, img := range imgs {
				n, err := payload.CanonicalRef(img)
				if err != nil {
					return PruneResult{}, fmt.Errorf("pruning images of %s %s: %w", r.App, r.Version, err)
				}
				into[plat][n] = true
			}
		}
	}
	res := PruneResult{Unpinned: map[string][]string{}, ChartsRemoved: map[string][]string{}}
	var errs []error
	for _, t := range s.Targets {
		name := t.Host.Name()
		plat, err := s.platform(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var drop []string
		for n := range dropNames[plat] {
			if !keepNames[plat][n] {
				drop = append(drop, n)
			}
		}
		sort.Strings(drop)
		done, err := s.unpin(ctx, t, drop)
		res.Unpinned[name] = done
		if err != nil {
			errs = append(errs, err)
		}
		if !t.Server {
			continue
		}
		for _, c := range plan.PrunableStaticCharts {
			p, err := chartPath(t, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("pruning chart %s on %s: %w", c, name, err))
				continue
			}
			if _, err := t.Host.Run(ctx, host.Cmd{Line: "rm -f " + host.Quote(p), Sudo: true}); err != nil {
				errs = append(errs, fmt.Errorf("pruning chart %s on %s: %w", c, name, err))
				continue
			}
			res.ChartsRemoved[name] = append(res.ChartsRemoved[name], p)
		}
	}
	return res, errors.Join(errs...)
}

// unpin clears Ferry's pin and removes each image the node still has.
func (s *Site) unpin(ctx context.Context, t Target, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	name := t.Host.Name()
	res, err := t.Host.Run(ctx, host.Cmd{Line: ctr(t, "images ls -q"), Sudo: true, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("listing images on %s: %w", name, err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			have[l] = true
		}
	}
	var done []string
	for _, n := range names {
		if !have[n] {
			continue
		}
		// Un-pin first: should the removal fail, kubelet's GC may still reclaim the image.
		if _, err := t.Host.Run(ctx, host.Cmd{Line: ctr(t, "images label "+host.Quote(n)+" "+PinLabel+"="), Sudo: true}); err != nil {
			return done, fmt.Errorf("un-pinning %s on %s: %w", n, name, err)
		}
		if _, err := t.Host.Run(ctx, host.Cmd{Line: ctr(t, "images rm "+host.Quote(n)), Sudo: true}); err != nil {
			return done, fmt.Errorf("removing image %s on %s: %w", n, name, err)
		}
		done = append(done, n)
	}
	return done, nil
}

// PlaceChart writes tgz to p on every server: upload under a temp name, hash verified, then rename (the
// transfer does both), so helm-controller never serves half a chart. p must sit directly in
// appliance.StaticChartsDir; a server with another data-dir gets it in its own static charts dir.
func (s *Site) PlaceChart(ctx context.Context, p string, tgz []byte) error {
	var errs []error
	servers := 0
	for _, t := range s.Targets {
		if !t.Server {
			continue
		}
		servers++
		dst, err := chartPath(t, p)
		if err != nil {
			return err
		}
		if err := s.placeOne(ctx, t, dst, tgz); err != nil {
			errs = append(errs, err)
		}
	}
	if servers == 0 {
		return fmt.Errorf("placing chart %s: no server among the site's hosts", p)
	}
	return errors.Join(errs...)
}

func chartPath(t Target, p string) (string, error) {
	dir, file := path.Split(p)
	if path.Clean(dir) != appliance.StaticChartsDir || file == "" || file == "." || file == ".." ||
		strings.HasPrefix(file, ".") || !strings.HasSuffix(file, ".tgz") {
		return "", fmt.Errorf("%w: %q", ErrBadChartPath, p)
	}
	return path.Join(paths(t).StaticChartsDir(), file), nil
}
