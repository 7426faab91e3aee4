package appliance

import (
	"context"
	"errors"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Sentinel errors for the decisions a caller (CLI, wizard) branches on.
var (
	ErrNotDeployed         = errors.New("the app is not deployed")
	ErrAlreadyDeployed     = errors.New("the app is already deployed")
	ErrDifferentApp        = errors.New("the bundle is for a different app")
	ErrDowngrade           = errors.New("the bundle is older than the installed version")
	ErrNotUpgradable       = errors.New("the bundle cannot upgrade the installed version")
	ErrOperationInProgress = errors.New("another change of this app is in progress")
	ErrUnhealthy           = errors.New("the app did not become healthy")
	ErrNoRollbackTarget    = errors.New("no kept version to roll back to")
	ErrNoChartPlacer       = errors.New("the chart is too large for chartContent and no way to place it on the servers was given")
	ErrUnsafeOverlay       = errors.New("a HelmChartConfig overlay would make helm-controller uninstall the app on failure")
)

// Options tune every verb. The zero value works.
type Options struct {
	// Namespace holds Ferry's HelmCharts and records (default DefaultNamespace).
	Namespace string
	// Sink receives progress; nil discards.
	Sink progress.Sink
	// RecordsDir is the site records directory on the laptop; records are mirrored there as JSON.
	RecordsDir string
	// Timeout bounds the wait for health after an apply (default: the spec's helm timeout).
	Timeout time.Duration
	// PollInterval is the health polling period (default 2 s).
	PollInterval time.Duration
	// HeartbeatInterval is how often an in-progress record is refreshed (default 15 s); a record whose
	// heartbeat is older than three intervals belongs to a process that is gone.
	HeartbeatInterval time.Duration
	// AllowDowngrade lets Upgrade apply an older version.
	AllowDowngrade bool
	// KeepSiteValues makes an Upgrade whose bundle has no Overrides reuse the site's own values recorded
	// with the version running now (Record.Overrides): the new version's defaults apply under them, so a
	// site keeps its settings across upgrades without anyone retyping them. Overrides given replace them.
	KeepSiteValues bool
	// Keep is how many versions stay rollback-ready (default DefaultKeep).
	Keep int
	// NodeImages lands images on the nodes; nil skips image delivery (images already on the nodes).
	NodeImages NodeImages
	// Charts places a chart too large for chartContent at its static path on every server (the
	// installer implements it over SSH). Required only when a spec needs it.
	Charts ChartPlacer
	// DryRun computes checks and the plan and changes nothing.
	DryRun bool
	// Resume makes Status continue waiting on an orphaned in-progress change (and roll back an upgrade
	// that then fails); without it Status only reports.
	Resume bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Liveness tells a change whose process was killed (SIGKILL, power loss) from one still running
	// sooner than the heartbeat can: nil means heartbeats only (a killed change waits up to three
	// HeartbeatIntervals before it can be resumed).
	Liveness Liveness
}

// Liveness identifies the process running a change. Token is stored in every record the process starts
// or resumes (Record.Holder); Gone must answer true only when the holder of token is certainly gone
// (e.g. a lock the kernel released when it died), never for a holder it cannot see, such as another
// laptop's: then the heartbeat decides.
type Liveness interface {
	Token() string
	Gone(token string) bool
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 15 * time.Second
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// ChartPlacer writes a chart archive to path on every server, temp name then rename, and must keep the
// files of every kept version (rollback re-applies a spec that points at them).
type ChartPlacer interface {
	PlaceChart(ctx context.Context, path string, tgz []byte) error
}

// Bundle is one app version as the bundle format hands it over.
type Bundle struct {
	SpecInput
	// BundleDigest identifies the signed bundle the version came from.
	BundleDigest string
	// UpgradeFrom is the oldest installed version this bundle upgrades ("1.2.0", as the bundle format
	// has it) or a semver constraint (">=1.2.0 <2"); empty: any.
	UpgradeFrom string
	// Images are the version's images and blobs per platform.
	Images VersionImages
}

// Result reports what a verb did and where the app stands.
type Result struct {
	App     string
	Version string // the version now applied
	State   RecordState
	Health  Health
	// Components are the workloads and services of the app's newest release with their state (Status
	// only).
	Components []Component
	Record     Record // the record this verb made or judged
	Changed    bool   // false when the spec was already applied (nothing applied twice)
	// Resumed is set when this run finished an interrupted change (its record, not a new one): a change
	// completed even when Changed is false because the spec was already live.
	Resumed bool
	// RolledBack is set when a failed upgrade was rolled back automatically to RolledBackTo.
	RolledBack   bool
	RolledBackTo string
	// Plan is the upgrade plan (Upgrade only).
	Plan *Plan
	// StaticChart is the path the chart must occupy on every server when it is too big to go inline.
	StaticChart string
	// Orphaned is set when Status found an in-progress change with no live process behind it;
	// SuggestRollbackTo is then the version to roll back to if the change failed.
	Orphaned          bool
	SuggestRollbackTo string
	// NotApplied is set with Orphaned when the interrupted change never reached the cluster (it was
	// stopped while placing the chart or landing images): Version is then the version still live, and a
	// re-run of the same change finishes it under the same record.
	NotApplied bool
	Records    []Record
	Retention  *RetentionPlan
}
