package engine

import (
	"context"
	"errors"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Engine is everything the wizard asks of Ferry's engine. Every method that does I/O takes ctx first and may
// be cancelled; long ones report through sink. Implementations must be safe for concurrent use: the wizard
// calls them from background goroutines.
type Engine interface {
	// OpenBundle reads and verifies the bundle at path (checksums and signature), reporting bytes verified.
	// An unsigned or untrusted bundle is returned with Bundle.Trust set, not as an error: the wizard decides.
	OpenBundle(ctx context.Context, path string, sink progress.Sink) (Bundle, error)

	// TestConnection connects to h over SSH. h.HostKey is the key accepted earlier (empty on first contact).
	// On first contact it returns the presented key with KeyNew and no error; a key that differs from
	// h.HostKey returns KeyChanged and an error wrapping ErrHostKeyMismatch. Through a jump host the
	// bastion's key (h.JumpHostKey) is checked the same way and reported in Connection.Jump; while it is
	// not accepted the host itself is KeyUnchecked.
	TestConnection(ctx context.Context, h Host) (Connection, error)

	// Preflight checks every host of the site against the bundle's needs.
	Preflight(ctx context.Context, s Site, b Bundle) ([]Check, error)
	// ApplyFixes applies the fixes Ferry can make for the given failed checks and reports what it did.
	ApplyFixes(ctx context.Context, s Site, checks []Check, sink progress.Sink) error

	// InstallPhases lists the phases Install will run, in order, so the wizard can show them before it starts.
	InstallPhases(s Site, b Bundle) []Phase
	// Install bootstraps the cluster and deploys the app. Events carry Phase (a Phase.ID), Host, bytes in
	// Done/Total and log lines in Msg. Calling Install again after a failure or a cancel resumes: phases
	// already done are skipped (reported with Msg == MsgSkipped); phases with nothing to do on this site
	// are reported with Msg == MsgNotNeeded as soon as the engine knows.
	Install(ctx context.Context, req InstallRequest, sink progress.Sink) (InstallResult, error)

	// Status reports the running app's version, health and components.
	Status(ctx context.Context, s Site) (Status, error)
	// History lists the releases deployed on the site, newest first.
	History(ctx context.Context, s Site) ([]Release, error)
	// PlanUpgrade says what upgrading the site to bundle b would do, without changing anything.
	PlanUpgrade(ctx context.Context, s Site, b Bundle) (UpgradePlan, error)
	// Upgrade moves the site to bundle b. A failed upgrade rolls itself back; the result says so. Nil values
	// mean "keep the values the site runs with" (the wizard does not keep chart values on the laptop: they
	// may hold the app's secrets).
	Upgrade(ctx context.Context, s Site, b Bundle, values []byte, sink progress.Sink) (UpgradeResult, error)
	// Rollback restores a version kept on site (see Release.Kept); it needs no bundle.
	Rollback(ctx context.Context, s Site, version string, sink progress.Sink) (Release, error)
}

// MsgSkipped is the Msg of the event an engine sends for a phase it skips because it is already done.
const MsgSkipped = "skipped: already done"

// MsgNotNeeded is the Msg of the event an engine sends, as soon as it knows, for a phase that has nothing
// to do on this site (no other server to join, a chart small enough to go inline). It is the engine
// packages' own progress.MsgNotNeeded, so the real engine passes their events through unchanged.
const MsgNotNeeded = progress.MsgNotNeeded

// Sentinel errors the wizard makes decisions on.
var (
	ErrHostKeyMismatch = errors.New("host key changed")
	ErrAuth            = errors.New("authentication failed")
	ErrUnreachable     = errors.New("host unreachable")
	ErrBundleCorrupt   = errors.New("bundle corrupt")
	ErrNoKeptVersion   = errors.New("version not kept on site")
	// ErrJumpHost marks a failure at a host's jump host (its bastion), alongside ErrAuth, ErrUnreachable or
	// ErrHostKeyMismatch: the host behind it was not reached.
	ErrJumpHost = errors.New("at the jump host")
)
