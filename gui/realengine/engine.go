package realengine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

// Options configure the real engine. The zero value works; tests inject the dials.
type Options struct {
	// Trusted are the bundle signing keys the laptop trusts.
	Trusted []ed25519.PublicKey
	// Installer is passed to installer.Preflight (Dial lets tests use fake hosts). Its Prompt, Getenv,
	// Progress and AcceptHostKeys are set per call.
	Installer installer.Options
	// Appliance is the base of every appliance call's options (RecordsDir and Sink are set per call).
	Appliance appliance.Options
	// Cluster opens the appliance connection to a site; nil dials the first server over SSH and reaches
	// its API server at 127.0.0.1:6443 through that connection. Tests return fake clientsets.
	Cluster func(ctx context.Context, s engine.Site) (*appliance.Cluster, func(), error)
	// APIAddr is the API server's address as a server sees it (default remote.APIAddr, k3s's
	// 127.0.0.1:6443); tests point it at their own server.
	APIAddr string
}

// Engine is the real engine.Engine: payload, installer and appliance behind the wizard's contract.
type Engine struct{ o Options }

var _ engine.Engine = (*Engine)(nil)

// New returns the real engine.
func New(o Options) *Engine { return &Engine{o: o} }

// OpenBundle verifies a bundle with the laptop's trusted keys.
func (e *Engine) OpenBundle(ctx context.Context, path string, sink progress.Sink) (engine.Bundle, error) {
	return OpenBundle(ctx, path, e.o.Trusted, sink)
}

// InstallPhases lists the installer's bootstrap phases then the appliance's deploy phases
// (PhaseLists()[OpInstall]); Install's events carry the same ids.
func (e *Engine) InstallPhases(engine.Site, engine.Bundle) []engine.Phase {
	return installPhases()
}

// Install bootstraps k3s on the site's hosts (installer.Install) and deploys the bundle's app into the
// namespace named after it (appliance/remote). Both halves resume: a Retry after a failure or a cancel
// skips what the hosts already have, and an app already running this version counts as deployed. The
// bundle was verified when the wizard opened it (OpenBundle); member reads are still checked against
// the manifest's digests.
func (e *Engine) Install(ctx context.Context, req engine.InstallRequest, sink progress.Sink) (engine.InstallResult, error) {
	s := req.Site
	m, err := toSite(s)
	if err != nil {
		return engine.InstallResult{}, err
	}
	var over map[string]any
	if len(req.Values) > 0 {
		if over, err = appliance.ParseValues(req.Values); err != nil {
			return engine.InstallResult{}, fmt.Errorf("reading the settings: %w", err)
		}
	}
	pb, err := payload.Open(req.Bundle.Path)
	if err != nil {
		return engine.InstallResult{}, fmt.Errorf("opening bundle: %w: %w", engine.ErrBundleCorrupt, err)
	}
	defer pb.Close()
	io := installer.InstallOptions{Options: e.o.Installer}
	io.Getenv, io.Prompt, io.Progress = m.getenv, nil, k3sSink(sink)
	// io.Consent stays nil: fixes are applied only from the Checks screen (ApplyFixes), for exactly the
	// checks the user saw, so Install never changes a host beyond what was agreed. A check that fails again
	// here (a host rebooted and lost its route) stops Install before any host is changed.
	// The keys accepted on the Machines screen: recorded in the site's known_hosts on first use, while a
	// key differing from a recorded one still stops the install.
	io.AcceptHostKeys = m.accepted
	ir, err := installer.Install(ctx, m.site, pb, io)
	if err != nil {
		return engine.InstallResult{}, fmt.Errorf("installing %s: %w", s.Name, err)
	}
	sess, err := e.session(ctx, s, applianceSink("deploy", sink))
	if err != nil {
		return engine.InstallResult{}, err
	}
	defer sess.Close()
	man := pb.Manifest()
	res, err := sess.Deploy(ctx, pb, "", over)
	if errors.Is(err, appliance.ErrAlreadyDeployed) {
		// A Retry after the deploy went through: done if this very version is what runs.
		st, serr := sess.Status(ctx, man.App.Name)
		if serr == nil && st.Version == man.App.Version && st.Health.State == appliance.Healthy {
			res.Result, err = st, nil
		}
	}
	if err != nil {
		return engine.InstallResult{}, fmt.Errorf("deploying %s on %s: %w", man.App.Name, s.Name, err)
	}
	kube, err := os.ReadFile(ir.Kubeconfig)
	if err != nil {
		return engine.InstallResult{}, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	return engine.InstallResult{Kubeconfig: kube, Release: engine.Release{Version: res.Version, Time: res.Record.Started,
		Action: engine.ActionInstall, Result: engine.ResultSucceeded, Kept: true}}, nil
}

// record reads the wizard's site record in s.Dir (the app name and bundle live there).
func record(s engine.Site) (siterecord.Record, error) {
	st := siterecord.Store{Root: filepath.Dir(s.Dir)}
	return st.Load(filepath.Base(s.Dir))
}
