package realengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

// apiAddr is where k3s's API server listens on a server host; it is reached through SSH only.
const apiAddr = "127.0.0.1:6443"

// cluster opens the appliance connection for s and reads the app name from the site record.
func (e *Engine) cluster(ctx context.Context, s engine.Site) (*appliance.Cluster, string, func(), error) {
	rec, err := record(s)
	if err != nil {
		return nil, "", nil, err
	}
	if rec.App == "" {
		return nil, "", nil, fmt.Errorf("reading site %s: no app recorded: install the site first", s.Name)
	}
	open := e.o.Cluster
	if open == nil {
		open = sshCluster
	}
	c, done, err := open(ctx, s)
	if err != nil {
		return nil, "", nil, err
	}
	return c, rec.App, done, nil
}

// sshCluster dials the first server with the site record's known_hosts (strict: only accepted keys) and
// connects the appliance to 127.0.0.1:6443 through that SSH connection with the stored kubeconfig.
// installer/ssh does not expose a TCP dial over its connection yet, hence the small client here; it uses
// the same known_hosts and refuses any key not recorded there.
func sshCluster(ctx context.Context, s engine.Site) (*appliance.Cluster, func(), error) {
	client, kube, err := tunnel(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		// Whatever the kubeconfig names, the API server is the one on the server we logged into.
		return client.DialContext(ctx, network, apiAddr)
	}
	c, err := appliance.Connect(kube, dial)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("connecting to the cluster of %s: %w", s.Name, err)
	}
	return c, func() { client.Close() }, nil
}

// tunnel logs into the site's first server, trusting only the keys in the site record's known_hosts, and
// reads the stored kubeconfig.
func tunnel(ctx context.Context, s engine.Site) (*xssh.Client, []byte, error) {
	var first *engine.Host
	for i := range s.Hosts {
		if s.Hosts[i].Role == engine.RoleServer || s.Hosts[i].Role == "" {
			first = &s.Hosts[i]
			break
		}
	}
	if first == nil {
		return nil, nil, fmt.Errorf("connecting to site %s: no server host in the record", s.Name)
	}
	if first.JumpHost != "" {
		return nil, nil, fmt.Errorf("connecting to %s through jump host: %w", first.Name, ErrNotAvailable)
	}
	kube, err := os.ReadFile(filepath.Join(s.Dir, "kubeconfig"))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the site's kubeconfig: %w", err)
	}
	hk, err := knownhosts.New(filepath.Join(s.Dir, "known_hosts"))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the site's known_hosts: %w", err)
	}
	var auth []xssh.AuthMethod
	if first.KeyPath != "" {
		pem, err := os.ReadFile(first.KeyPath)
		if err != nil {
			return nil, nil, fmt.Errorf("reading key of %s: %w: %w", first.Name, engine.ErrAuth, err)
		}
		var signer xssh.Signer
		if first.KeyPassphrase != "" {
			signer, err = xssh.ParsePrivateKeyWithPassphrase(pem, []byte(first.KeyPassphrase))
		} else {
			signer, err = xssh.ParsePrivateKey(pem)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading key of %s: %w: %w", first.Name, engine.ErrAuth, err)
		}
		auth = append(auth, xssh.PublicKeys(signer))
	}
	if first.Password != "" {
		auth = append(auth, xssh.Password(first.Password))
	}
	cfg := &xssh.ClientConfig{User: first.User, Auth: auth, HostKeyCallback: hk, Timeout: 15 * time.Second}
	d := net.Dialer{Timeout: cfg.Timeout}
	raw, err := d.DialContext(ctx, "tcp", addr(*first))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w: %w", first.Name, engine.ErrUnreachable, err)
	}
	raw.SetDeadline(time.Now().Add(cfg.Timeout))
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	cc, chans, reqs, err := xssh.NewClientConn(raw, addr(*first), cfg)
	stop()
	if err != nil {
		raw.Close()
		var ke *knownhosts.KeyError
		switch {
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case errors.As(err, &ke) && len(ke.Want) > 0:
			return nil, nil, fmt.Errorf("connecting to %s: %w: %w", first.Name, engine.ErrHostKeyMismatch, err)
		case errors.As(err, &ke):
			return nil, nil, fmt.Errorf("connecting to %s: %w: its key was never accepted; test the connection first: %w", first.Name, engine.ErrUnreachable, err)
		}
		return nil, nil, fmt.Errorf("connecting to %s: %w: %w", first.Name, engine.ErrAuth, err)
	}
	raw.SetDeadline(time.Time{})
	return xssh.NewClient(cc, chans, reqs), kube, nil
}

func (e *Engine) applianceOptions(s engine.Site, sink progress.Sink) appliance.Options {
	o := e.o.Appliance
	o.RecordsDir, o.Sink = s.Dir, sink
	return o
}

// Status reads the app's state from the cluster.
func (e *Engine) Status(ctx context.Context, s engine.Site) (engine.Status, error) {
	c, app, done, err := e.cluster(ctx, s)
	if err != nil {
		return engine.Status{}, err
	}
	defer done()
	res, err := appliance.Status(ctx, c, app, e.applianceOptions(s, nil))
	if err != nil {
		return engine.Status{}, fmt.Errorf("reading status of %s: %w", s.Name, err)
	}
	return toStatus(res), nil
}

// toStatus maps the appliance's health to the wizard's. The appliance reports what is not ready by name
// (Health.Waiting); each becomes a component row, so the Manage screen shows what holds the app up.
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
	for _, w := range res.Health.Waiting {
		st.Components = append(st.Components, engine.Component{Name: w, State: st.Health, Detail: res.Health.Reason})
	}
	return st
}

// History lists the site's records, newest first, marking the versions kept for rollback.
func (e *Engine) History(ctx context.Context, s engine.Site) ([]engine.Release, error) {
	c, app, done, err := e.cluster(ctx, s)
	if err != nil {
		return nil, err
	}
	defer done()
	res, err := appliance.History(ctx, c, app, e.applianceOptions(s, nil))
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
		if rel.Action == string(appliance.ActionDeploy) {
			rel.Action = "install"
		}
		switch r.State {
		case appliance.StateSucceeded:
			rel.Result = "succeeded"
		case appliance.StateRolledBack:
			rel.Result = "rolled back"
		case appliance.StateInProgress:
			rel.Result = "in progress"
		default:
			rel.Result = "failed"
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
	for i := len(res.Records) - 1; i >= 0; i-- {
		r := res.Records[i]
		if r.State != appliance.StateSucceeded || len(r.Spec) == 0 {
			continue
		}
		var hc struct {
			Spec struct {
				TargetNamespace string `json:"targetNamespace"`
			} `json:"spec"`
		}
		if json.Unmarshal(r.Spec, &hc) == nil && hc.Spec.TargetNamespace != "" {
			return hc.Spec.TargetNamespace, nil
		}
	}
	return app, nil
}

// upgradeBundle reopens the verified bundle for the appliance.
func upgradeBundle(b engine.Bundle, namespace string, values []byte) (appliance.Bundle, error) {
	pb, err := payload.Open(b.Path)
	if err != nil {
		return appliance.Bundle{}, fmt.Errorf("opening bundle: %w: %w", engine.ErrBundleCorrupt, err)
	}
	defer pb.Close()
	var over map[string]any
	if len(values) > 0 {
		if over, err = appliance.ParseValues(values); err != nil {
			return appliance.Bundle{}, fmt.Errorf("reading the settings: %w", err)
		}
	}
	ab, err := appliance.FromPayload(pb, namespace, over)
	if err != nil {
		return appliance.Bundle{}, fmt.Errorf("reading bundle: %w: %w", engine.ErrBundleCorrupt, err)
	}
	return ab, nil
}

// PlanUpgrade is a dry-run Upgrade: the appliance checks and plans, and changes nothing.
func (e *Engine) PlanUpgrade(ctx context.Context, s engine.Site, b engine.Bundle) (engine.UpgradePlan, error) {
	c, app, done, err := e.cluster(ctx, s)
	if err != nil {
		return engine.UpgradePlan{}, err
	}
	defer done()
	ns, err := e.targetNamespace(ctx, c, s, app)
	if err != nil {
		return engine.UpgradePlan{}, err
	}
	ab, err := upgradeBundle(b, ns, nil)
	if err != nil {
		return engine.UpgradePlan{}, err
	}
	o := e.applianceOptions(s, nil)
	o.DryRun = true
	res, err := appliance.Upgrade(ctx, c, ab, o)
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
	for _, st := range appliance.Phases("upgrade") {
		plan.Phases = append(plan.Phases, engine.Phase{ID: st.Phase, Title: st.Title})
	}
	return plan, nil
}

// Upgrade runs the appliance's upgrade. Image delivery to the nodes (appliance.NodeImages) has no
// installer implementation yet: the images must already be on the nodes, else the upgrade fails its
// health check and rolls back by itself, which the result says.
func (e *Engine) Upgrade(ctx context.Context, s engine.Site, b engine.Bundle, values []byte, sink progress.Sink) (engine.UpgradeResult, error) {
	c, app, done, err := e.cluster(ctx, s)
	if err != nil {
		return engine.UpgradeResult{}, err
	}
	defer done()
	ns, err := e.targetNamespace(ctx, c, s, app)
	if err != nil {
		return engine.UpgradeResult{}, err
	}
	ab, err := upgradeBundle(b, ns, values)
	if err != nil {
		return engine.UpgradeResult{}, err
	}
	res, err := appliance.Upgrade(ctx, c, ab, e.applianceOptions(s, sink))
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
	c, app, done, err := e.cluster(ctx, s)
	if err != nil {
		return engine.Release{}, err
	}
	defer done()
	res, err := appliance.Rollback(ctx, c, app, version, e.applianceOptions(s, sink))
	if err != nil {
		if errors.Is(err, appliance.ErrNoRollbackTarget) {
			err = fmt.Errorf("%w: %w", engine.ErrNoKeptVersion, err)
		}
		return engine.Release{}, fmt.Errorf("rolling back %s to %s: %w", s.Name, version, err)
	}
	return engine.Release{Version: res.Version, Time: res.Record.Started, Action: "rollback", Result: "succeeded", Kept: true}, nil
}
