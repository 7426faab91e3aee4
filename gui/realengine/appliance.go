package realengine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/remote"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

// managed is a site opened for the appliance verbs: a remote.Session on a real site, or a bare cluster
// when Options.Cluster opened it (tests; no image delivery then).
type managed struct {
	cl   *appliance.Cluster
	sess *remote.Session
	app  string
	done func()
}

// manage opens the site for s and reads the app name from the wizard's site record.
func (e *Engine) manage(ctx context.Context, s engine.Site, sink progress.Sink) (*managed, error) {
	rec, err := record(s)
	if err != nil {
		return nil, err
	}
	if rec.App == "" {
		return nil, fmt.Errorf("reading site %s: no app recorded: install the site first", s.Name)
	}
	if e.o.Cluster != nil {
		c, done, err := e.o.Cluster(ctx, s)
		if err != nil {
			return nil, err
		}
		return &managed{cl: c, app: rec.App, done: done}, nil
	}
	sess, err := e.session(ctx, s, sink)
	if err != nil {
		return nil, err
	}
	return &managed{cl: sess.Cluster, sess: sess, app: rec.App, done: sess.Close}, nil
}

// session opens s with appliance/remote: every host over the installer's SSH client trusting only the
// keys in the site record's known_hosts (the wizard wrote the accepted ones there), the API server at
// 127.0.0.1:6443 of the first server through its SSH connection, nodes.Site for the images.
func (e *Engine) session(ctx context.Context, s engine.Site, sink progress.Sink) (*remote.Session, error) {
	m, err := toSite(s)
	if err != nil {
		return nil, err
	}
	io := e.o.Installer
	io.Getenv, io.Prompt, io.Progress, io.AcceptHostKeys = m.getenv, nil, nil, nil
	sess, err := remote.Open(ctx, m.site, remote.Options{Installer: io, Appliance: e.applianceOptions(s, sink), APIAddr: e.o.APIAddr})
	switch {
	case err == nil:
		return sess, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, ssh.ErrUnknownHostKey):
		return nil, fmt.Errorf("connecting to %s: %w: a host key was never accepted; test the connection first: %w", s.Name, engine.ErrUnreachable, err)
	case errors.Is(err, remote.ErrNotInstalled), errors.Is(err, remote.ErrNoAPI):
		return nil, fmt.Errorf("connecting to %s: %w", s.Name, err)
	}
	return nil, hostErr(s.Name, err)
}

func (e *Engine) applianceOptions(s engine.Site, sink progress.Sink) appliance.Options {
	o := e.o.Appliance
	o.RecordsDir, o.Sink = s.Dir, sink
	// The wizard's contract: an upgrade given no values keeps the site's own settings (recorded in the
	// cluster with the running version) under the new version's defaults.
	o.KeepSiteValues = true
	return o
}

// Status reads the app's state from the cluster.
func (e *Engine) Status(ctx context.Context, s engine.Site) (engine.Status, error) {
	m, err := e.manage(ctx, s, nil)
	if err != nil {
		return engine.Status{}, err
	}
	defer m.done()
	res, err := appliance.Status(ctx, m.cl, m.app, e.applianceOptions(s, nil))
	if err != nil {
		return engine.Status{}, fmt.Errorf("reading status of %s: %w", s.Name, err)
	}
	st := toStatus(res)
	var names map[string]string // the Nodes are named after the installer's host names; show the wizard's
	if sm, err := toSite(s); err == nil {
		names = sm.names
	}
	if st.K3sVersion, st.K3sMixed, err = k3sVersion(ctx, m.cl.Kube, names); err != nil {
		return engine.Status{}, fmt.Errorf("reading status of %s: %w", s.Name, err)
	}
	return st, nil
}

// toStatus maps the appliance's health and components to the wizard's.
func toStatus(res appliance.Result) engine.Status {
	st := engine.Status{App: res.App, Version: res.Version}
	switch {
	case res.Health.State == appliance.Healthy:
		st.Health = engine.Healthy
	case res.Health.State == appliance.InProgress:
		st.Health = engine.Progressing
	default:
		st.Health = engine.Down
	}
	for _, c := range res.Components {
		st.Components = append(st.Components, toComponent(c))
	}
	return st
}

func toComponent(c appliance.Component) engine.Component {
	out := engine.Component{Kind: c.Kind, Name: c.Name, Detail: c.Reason, RolledOut: c.RolledOut}
	switch c.State {
	case appliance.ComponentReady:
		out.State = engine.Healthy
	case appliance.ComponentProgressing:
		out.State = engine.Progressing
	case appliance.ComponentDegraded:
		out.State = engine.Degraded
	default: // Down, Failed, Missing
		out.State = engine.Down
	}
	switch {
	case c.State == appliance.ComponentMissing:
	case c.IsWorkload():
		out.Ready = fmt.Sprintf("%d/%d", c.Ready, c.Desired)
	default:
		out.Address = strings.TrimSpace(c.ServiceType + " " + c.ClusterIP)
		out.Ports = c.Ports
		if c.ServiceType != "ExternalName" {
			out.Ready = fmt.Sprintf("%d/%d", c.EndpointsReady, c.Endpoints)
		}
	}
	return out
}

// History lists the site's records, newest first, marking the versions kept for rollback.
func (e *Engine) History(ctx context.Context, s engine.Site) ([]engine.Release, error) {
	m, err := e.manage(ctx, s, nil)
	if err != nil {
		return nil, err
	}
	defer m.done()
	res, err := appliance.History(ctx, m.cl, m.app, e.applianceOptions(s, nil))
	if err != nil {
		return nil, fmt.Errorf("reading history of %s: %w", s.Name, err)
	}
	return toReleases(res), nil
}

func toReleases(res appliance.Result) []engine.Release {
	kept := map[string]bool{}
	if res.Retention != nil {
		for _, v := range res.Retention.Keep {
			kept[v] = true
		}
	}
	out := make([]engine.Release, 0, len(res.Records))
	for i := len(res.Records) - 1; i >= 0; i-- { // the store lists oldest first
		r := res.Records[i]
		rel := engine.Release{Version: r.Version, Time: r.Started, Action: string(r.Action), Kept: kept[r.Version] && r.State == appliance.StateSucceeded}
		switch r.Action {
		case appliance.ActionDeploy:
			rel.Action = engine.ActionInstall
		case appliance.ActionUpgrade:
			rel.Action = engine.ActionUpgrade
		case appliance.ActionRollback:
			rel.Action = engine.ActionRollback
		case appliance.ActionAutoRollback:
			rel.Action = engine.ActionAutoRollback
		}
		switch r.State {
		case appliance.StateSucceeded:
			rel.Result = engine.ResultSucceeded
		case appliance.StateRolledBack:
			rel.Result = engine.ResultRolledBack
		case appliance.StateInProgress:
			rel.Result = engine.ResultInProgress
		default:
			rel.Result = engine.ResultFailed
		}
		out = append(out, rel)
	}
	return out
}

// targetNamespace is the namespace the app runs in now, read from the newest succeeded record's spec: an
// upgrade keeps it. The app's name is the fallback (the wizard installs there).
func (e *Engine) targetNamespace(ctx context.Context, c *appliance.Cluster, s engine.Site, app string) (string, error) {
	res, err := appliance.History(ctx, c, app, e.applianceOptions(s, nil))
	if err != nil {
		return "", fmt.Errorf("reading history of %s: %w", s.Name, err)
	}
	return appliance.TargetNamespace(res.Records, app), nil
}

// upgradeBundle reopens the verified bundle for the appliance; the caller closes the payload bundle.
func upgradeBundle(b engine.Bundle, namespace string, values []byte) (*payload.Bundle, appliance.Bundle, map[string]any, error) {
	pb, err := payload.Open(b.Path)
	if err != nil {
		return nil, appliance.Bundle{}, nil, fmt.Errorf("opening bundle: %w: %w", engine.ErrBundleCorrupt, err)
	}
	var over map[string]any
	if len(values) > 0 {
		if over, err = appliance.ParseValues(values); err != nil {
			pb.Close()
			return nil, appliance.Bundle{}, nil, fmt.Errorf("reading the settings: %w", err)
		}
	}
	ab, err := appliance.FromPayload(pb, namespace, over)
	if err != nil {
		pb.Close()
		return nil, appliance.Bundle{}, nil, fmt.Errorf("reading bundle: %w: %w", engine.ErrBundleCorrupt, err)
	}
	return pb, ab, over, nil
}

// upgrade runs the appliance's upgrade: through the session on a real site (images landed on the nodes,
// pruned after), directly on the cluster otherwise.
func (e *Engine) upgrade(ctx context.Context, m *managed, s engine.Site, b engine.Bundle, values []byte, sink progress.Sink, dryRun bool) (appliance.Result, error) {
	ns, err := e.targetNamespace(ctx, m.cl, s, m.app)
	if err != nil {
		return appliance.Result{}, err
	}
	pb, ab, over, err := upgradeBundle(b, ns, values)
	if err != nil {
		return appliance.Result{}, err
	}
	defer pb.Close()
	if m.sess != nil {
		m.sess.SetDryRun(dryRun)
		res, err := m.sess.Upgrade(ctx, pb, over, false)
		return res.Result, err
	}
	o := e.applianceOptions(s, sink)
	o.DryRun = dryRun
	return appliance.Upgrade(ctx, m.cl, ab, o)
}

// PlanUpgrade is a dry-run Upgrade: the appliance checks and plans (on a real site with what each node
// already has), and changes nothing.
func (e *Engine) PlanUpgrade(ctx context.Context, s engine.Site, b engine.Bundle) (engine.UpgradePlan, error) {
	m, err := e.manage(ctx, s, nil)
	if err != nil {
		return engine.UpgradePlan{}, err
	}
	defer m.done()
	res, err := e.upgrade(ctx, m, s, b, nil, nil, true)
	if err != nil {
		return engine.UpgradePlan{}, fmt.Errorf("planning the upgrade of %s: %w", s.Name, err)
	}
	plan := engine.UpgradePlan{To: b.Version, K3sTo: b.K3sVersion, BytesPerNode: map[string]int64{}}
	if res.Plan != nil {
		plan.From = res.Plan.From
		plan.ChangedImages = append(append(plan.ChangedImages, res.Plan.ImagesAdded...), res.Plan.ImagesRemoved...)
		for _, n := range res.Plan.Nodes {
			plan.BytesPerNode[n.Node.Name] = n.Bytes
		}
	}
	plan.Phases = appliancePhases(OpUpgrade)
	return plan, nil
}

// Upgrade runs the appliance's upgrade; on a real site only the blobs a node lacks are sent to it.
func (e *Engine) Upgrade(ctx context.Context, s engine.Site, b engine.Bundle, values []byte, sink progress.Sink) (engine.UpgradeResult, error) {
	sink = applianceSink(OpUpgrade, sink)
	m, err := e.manage(ctx, s, sink)
	if err != nil {
		return engine.UpgradeResult{}, err
	}
	defer m.done()
	res, err := e.upgrade(ctx, m, s, b, values, sink, false)
	out := engine.UpgradeResult{Version: res.Version, RolledBack: res.RolledBack}
	if res.RolledBack {
		out.Version, out.Reason = res.RolledBackTo, res.Health.Reason
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("upgrading %s: %w", s.Name, err)
	}
	return out, nil
}

// Rollback restores a kept version from the cluster's records.
func (e *Engine) Rollback(ctx context.Context, s engine.Site, version string, sink progress.Sink) (engine.Release, error) {
	sink = applianceSink(OpRollback, sink)
	m, err := e.manage(ctx, s, sink)
	if err != nil {
		return engine.Release{}, err
	}
	defer m.done()
	var res appliance.Result
	if m.sess != nil {
		var rr remote.Result
		rr, err = m.sess.Rollback(ctx, m.app, version)
		res = rr.Result
	} else {
		res, err = appliance.Rollback(ctx, m.cl, m.app, version, e.applianceOptions(s, sink))
	}
	if err != nil {
		if errors.Is(err, appliance.ErrNoRollbackTarget) {
			err = fmt.Errorf("%w: %w", engine.ErrNoKeptVersion, err)
		}
		return engine.Release{}, fmt.Errorf("rolling back %s to %s: %w", s.Name, version, err)
	}
	return engine.Release{Version: res.Version, Time: res.Record.Started, Action: engine.ActionRollback, Result: engine.ResultSucceeded, Kept: true}, nil
}
