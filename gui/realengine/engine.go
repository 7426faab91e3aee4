package realengine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// ErrNotAvailable marks a wizard call the engine cannot serve yet. The wizard shows it as an error; it is
// never faked.
var ErrNotAvailable = errors.New("not yet available in this build of Ferry")

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

// InstallPhases lists the installer's preflight phases then the appliance's deploy phases: the shape of
// an install as far as the engine defines it today.
func (e *Engine) InstallPhases(engine.Site, engine.Bundle) []engine.Phase {
	var out []engine.Phase
	for _, t := range installer.PreflightSteps() {
		out = append(out, engine.Phase{ID: t, Title: t}) // the installer's events name phases by title
	}
	for _, s := range appliance.Phases("deploy") {
		out = append(out, engine.Phase{ID: s.Phase, Title: s.Title})
	}
	return out
}

// Install is not wired: the installer's bootstrap (installer.Install) has not landed. The wizard reports
// this error; nothing is attempted on any host.
func (e *Engine) Install(ctx context.Context, req engine.InstallRequest, sink progress.Sink) (engine.InstallResult, error) {
	return engine.InstallResult{}, fmt.Errorf("installing %s: the cluster bootstrap (installer.Install) is %w; nothing was changed on any host. Run `ferry --demo` to try the flow on the demo engine", req.Site.Name, ErrNotAvailable)
}

// record reads the wizard's site record in s.Dir (the app name and bundle live there).
func record(s engine.Site) (siterecord.Record, error) {
	st := siterecord.Store{Root: filepath.Dir(s.Dir)}
	return st.Load(filepath.Base(s.Dir))
}
