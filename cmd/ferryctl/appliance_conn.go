package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/remote"
	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

// applianceFlags are shared by the appliance verbs. Two ways to reach the cluster:
//   - --site site.yaml: every host over SSH with the site's known_hosts, the API through the first
//     server's SSH connection with the kubeconfig the install stored, images landed on the nodes and
//     pruned after each change (appliance/remote);
//   - --kubeconfig k3s.yaml --app NAME: a cluster reachable from this machine directly (on a server, or
//     through a tunnel the operator opened); no image delivery, so status/history/rollback only.
type applianceFlags struct {
	site       string
	accept     []string
	keep       int
	kubeconfig string
	app        string
	namespace  string
	records    string
	timeout    time.Duration
	// keepSiteValues: an upgrade without --values keeps the settings the site runs with (set by upgrade).
	keepSiteValues bool
}

var errNeedSite = errors.New("this verb needs --site: it lands images on the nodes over SSH")

func (f *applianceFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.site, "site", "", "site file (see docs/site-file.md); reaches the cluster over SSH")
	c.Flags().StringSliceVar(&f.accept, "accept-host-key", nil, "accept a host key seen for the first time, by its SHA256:... fingerprint (repeatable)")
	c.Flags().IntVar(&f.keep, "keep", appliance.DefaultKeep, "versions kept rollback-ready (images on the nodes, records)")
	c.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of a cluster reachable from here (instead of --site)")
	c.Flags().StringVar(&f.app, "app", "", "app name (its HelmChart); with --site, default: the one app in the site records")
	c.Flags().StringVar(&f.namespace, "namespace", appliance.DefaultNamespace, "namespace of Ferry's records")
	c.Flags().StringVar(&f.records, "records", "", "with --kubeconfig: site records directory to mirror history into")
}

// registerWait adds --timeout to the verbs that apply a spec and wait for its health.
func (f *applianceFlags) registerWait(c *cobra.Command) {
	c.Flags().DurationVar(&f.timeout, "timeout", 0, "how long to wait for the app to become healthy after applying, before a failed upgrade is rolled back (default: the chart's helm timeout + 1m)")
	c.PreRunE = func(*cobra.Command, []string) error { return f.checkTimeout() } // before a bundle is opened
}

func (f *applianceFlags) checkTimeout() error {
	if f.timeout < 0 {
		return fmt.Errorf("--timeout %s: give a positive duration (e.g. 5m)", f.timeout)
	}
	return nil
}

// applianceConnect turns kubeconfig bytes into a Cluster; tests swap it for fake clientsets.
var applianceConnect = func(kubeconfig []byte) (*appliance.Cluster, error) {
	var d net.Dialer
	return appliance.Connect(kubeconfig, d.DialContext)
}

// target is what a verb acts on: a site session, or a bare cluster in --kubeconfig mode.
type target struct {
	sess *remote.Session
	cl   *appliance.Cluster
	o    appliance.Options
	app  string
}

// open connects as the flags say. needApp: the verb acts on an existing app (not deploy/upgrade, which
// take it from the bundle).
func (f *applianceFlags) open(ctx context.Context, errOut io.Writer, sink progress.Sink, needApp bool) (*target, error) {
	if err := f.checkTimeout(); err != nil {
		return nil, err
	}
	o := appliance.Options{Namespace: f.namespace, Sink: sink, Timeout: f.timeout, KeepSiteValues: f.keepSiteValues}
	switch {
	case f.site != "" && f.kubeconfig != "":
		return nil, errors.New("give either --site or --kubeconfig, not both")
	case f.site != "":
		s, err := site.Load(f.site)
		if err != nil {
			return nil, err
		}
		t := &target{o: o, app: f.app}
		if needApp && t.app == "" {
			if t.app, err = remote.AppOf(s); err != nil {
				return nil, err
			}
		}
		t.sess, err = remote.Open(ctx, s, remote.Options{
			Installer: installer.Options{AcceptHostKeys: f.accept, Prompt: promptSecret(errOut)},
			Appliance: o, Keep: f.keep,
		})
		if err != nil {
			return nil, err
		}
		return t, nil
	case f.kubeconfig != "":
		if needApp && f.app == "" {
			return nil, errors.New("--app is required with --kubeconfig")
		}
		b, err := os.ReadFile(f.kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig: %w", err)
		}
		cl, err := applianceConnect(b)
		if err != nil {
			return nil, err
		}
		o.RecordsDir, o.Keep = f.records, f.keep
		return &target{cl: cl, o: o, app: f.app}, nil
	}
	return nil, errors.New("say where the cluster is: --site site.yaml (or --kubeconfig k3s.yaml --app NAME)")
}

func (t *target) Close() {
	if t.sess != nil {
		t.sess.Close()
	}
}

func (t *target) status(ctx context.Context, resume bool) (appliance.Result, error) {
	if t.sess != nil {
		t.sess.SetResume(resume)
		return t.sess.Status(ctx, t.app)
	}
	o := t.o
	o.Resume = resume
	return appliance.Status(ctx, t.cl, t.app, o)
}

func (t *target) history(ctx context.Context) (appliance.Result, error) {
	if t.sess != nil {
		return t.sess.History(ctx, t.app)
	}
	return appliance.History(ctx, t.cl, t.app, t.o)
}

func (t *target) rollback(ctx context.Context, to string, dryRun bool) (remote.Result, error) {
	if t.sess != nil {
		t.sess.SetDryRun(dryRun)
		return t.sess.Rollback(ctx, t.app, to)
	}
	o := t.o
	o.DryRun = dryRun
	res, err := appliance.Rollback(ctx, t.cl, t.app, to, o)
	return remote.Result{Result: res}, err
}

// openBundle opens and verifies a bundle against the trusted keys; the caller closes it.
func openBundle(ctx context.Context, path string, keyFiles []string) (*payload.Bundle, error) {
	trusted, err := trustedKeys(keyFiles)
	if err != nil {
		return nil, err
	}
	b, err := payload.Open(path)
	if err != nil {
		return nil, err
	}
	if _, err := b.Verify(ctx, trusted, nil); err != nil {
		b.Close()
		return nil, fmt.Errorf("verifying %s: %w (%s)", path, err, untrustedHint)
	}
	return b, nil
}

// phaseSink prints the appliance's progress lines, and byte progress (image archives on their way to a
// node) at most once a second per node and file, plus its start and end: an engineer watching a slow link
// sees it move, and a script can tell which step a run is in. A step with nothing to do on this site
// (progress.MsgNotNeeded) reads "[chart] not needed".
func phaseSink(w io.Writer) progress.Sink {
	var mu sync.Mutex
	last := map[string]time.Time{}
	return func(e progress.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case e.Msg == progress.MsgNotNeeded && e.Host == "":
			// The engine's marker is for programs; people read that the step was not needed.
			fmt.Fprintf(w, "[%s] not needed\n", e.Phase)
		case e.Err != nil:
			fmt.Fprintf(w, "[%s] %s %s: %v\n", e.Phase, e.Host, e.Msg, e.Err)
		case e.Msg != "" && e.Total == 0:
			if e.Host != "" {
				fmt.Fprintf(w, "[%s] %s: %s\n", e.Phase, e.Host, e.Msg)
			} else {
				fmt.Fprintf(w, "[%s] %s\n", e.Phase, e.Msg)
			}
		case e.Total > 0:
			key := e.Host + "\x00" + strings.SplitN(e.Msg, ":", 2)[0]
			now := time.Now()
			if e.Done > 0 && e.Done < e.Total && now.Sub(last[key]) < time.Second {
				return
			}
			last[key] = now
			if e.Done == 0 {
				fmt.Fprintf(w, "[%s] %s: %s (%d bytes)\n", e.Phase, e.Host, e.Msg, e.Total)
			} else {
				fmt.Fprintf(w, "[%s] %s: %s (%d/%d bytes)\n", e.Phase, e.Host, e.Msg, e.Done, e.Total)
			}
		}
	}
}

// printChange reports a change's outcome, what landing sent and what pruning removed.
func printChange(w io.Writer, t *target, res remote.Result) {
	fmt.Fprintf(w, "%s is at %s: %s\n", res.App, res.Version, res.Health)
	if res.RolledBack {
		fmt.Fprintf(w, "the change failed and was rolled back to %s\n", res.RolledBackTo)
	}
	if t.sess != nil {
		for _, n := range t.sess.Site.Hosts {
			if st, ok := t.sess.Nodes.Stats()[n.Name]; ok {
				fmt.Fprintf(w, "sent to %s: %d bytes (%d blobs)\n", n.Name, st.Sent, st.Blobs)
			}
		}
	}
	if res.Pruned != nil {
		for node, imgs := range res.Pruned.Unpinned {
			if len(imgs) > 0 {
				fmt.Fprintf(w, "pruned on %s: %v\n", node, imgs)
			}
		}
	}
	if res.PruneErr != nil {
		fmt.Fprintf(w, "warning: %v\n", res.PruneErr)
	}
}

func bundleFlags(c *cobra.Command, bundlePath *string, keyFiles *[]string, valuesFile *string) {
	c.Flags().StringVar(bundlePath, "bundle", "", "the signed bundle of the app version")
	c.Flags().StringArrayVarP(keyFiles, "key", "k", nil, "trusted public key file (PEM); repeat for several")
	c.Flags().StringVar(valuesFile, "values", "", "YAML file of settings over the bundle's defaults")
	_ = c.MarkFlagRequired("bundle")
}

// bundleChange is the flags and body deploy and upgrade share: open and verify the bundle and read the
// settings, open the session to the site, run the change, and print the outcome when printed says so.
type bundleChange struct {
	f                      applianceFlags
	bundlePath, valuesFile string
	keyFiles               []string
}

func (bc *bundleChange) register(c *cobra.Command) {
	bc.f.register(c)
	bc.f.registerWait(c)
	bundleFlags(c, &bc.bundlePath, &bc.keyFiles, &bc.valuesFile)
}

func (bc *bundleChange) run(cmd *cobra.Command, change func(ctx context.Context, t *target, b *payload.Bundle, over map[string]any) (remote.Result, error),
	printed func(remote.Result, error) bool) error {
	if bc.f.site == "" {
		return errNeedSite
	}
	b, over, err := bundleAndValues(cmd.Context(), bc.bundlePath, bc.keyFiles, bc.valuesFile)
	if err != nil {
		return err
	}
	defer b.Close()
	out := cmd.OutOrStdout()
	t, err := bc.f.open(cmd.Context(), cmd.ErrOrStderr(), phaseSink(out), false)
	if err != nil {
		return err
	}
	defer t.Close()
	res, err := change(cmd.Context(), t, b, over)
	if printed(res, err) {
		printChange(out, t, res)
	}
	return err
}

// bundleAndValues opens and verifies the bundle and reads the settings file, if any.
func bundleAndValues(ctx context.Context, path string, keyFiles []string, valuesFile string) (*payload.Bundle, map[string]any, error) {
	var over map[string]any
	if valuesFile != "" {
		raw, err := os.ReadFile(valuesFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading settings: %w", err)
		}
		if over, err = appliance.ParseValues(raw); err != nil {
			return nil, nil, fmt.Errorf("reading settings %s: %w", valuesFile, err)
		}
	}
	b, err := openBundle(ctx, path, keyFiles)
	return b, over, err
}
