package engine

import "time"

// Trust says how far the bundle's signature could be checked.
type Trust int

const (
	// TrustSigned: signed by a key the laptop trusts.
	TrustSigned Trust = iota
	// TrustUntrusted: signed, but by a key the laptop does not know.
	TrustUntrusted
	// TrustUnsigned: no signature at all.
	TrustUnsigned
)

// Bundle is a verified bundle as the wizard shows it.
type Bundle struct {
	Path       string
	App        string
	Version    string
	K3sVersion string
	Platforms  []string // e.g. linux/amd64
	Signer     string   // empty when unsigned
	Trust      Trust
	Images     []Image
	// ValuesSchema is the chart's values.schema.json (may be empty); DefaultValues its values.yaml.
	ValuesSchema  []byte
	DefaultValues []byte
}

// Image is one container image the bundle carries.
type Image struct {
	Ref   string
	Bytes int64
}

// Role is a host's part in the cluster.
type Role string

const (
	RoleServer Role = "server"
	RoleAgent  Role = "agent"
)

// Host is one target machine. Password, KeyPassphrase and SudoPassword live only in memory: they are never
// serialised. Which of them a host needs is (PasswordAuth, KeyEncrypted, SudoAsks), so a reopened site
// asks for them again.
type Host struct {
	Name          string `json:"name"`
	Address       string `json:"address"`
	Port          int    `json:"port,omitempty"`
	User          string `json:"user"`
	Role          Role   `json:"role"`
	KeyPath       string `json:"keyPath,omitempty"`
	Password      string `json:"-"`
	KeyPassphrase string `json:"-"`
	SudoPassword  string `json:"-"` // when sudo asks for a password other than the login password
	// PasswordAuth: the host logs in with a password; KeyEncrypted: the key file needs a passphrase;
	// SudoAsks: sudo asks for SudoPassword.
	PasswordAuth bool `json:"passwordAuth,omitempty"`
	KeyEncrypted bool `json:"keyEncrypted,omitempty"`
	SudoAsks     bool `json:"sudoAsks,omitempty"`
	Sudo         bool `json:"sudo"`
	// JumpHost is the address of a bastion the host is reached through, host[:port]; optional. (Records
	// written before JumpLogin existed may hold user@host[:port]: that user with the host's credentials.)
	JumpHost string `json:"jumpHost,omitempty"`
	// JumpLogin is the bastion's own user and credentials; nil: the host's user and credentials. Treat
	// it as read-only (Host values are copied between goroutines): replace it, never change it in place.
	JumpLogin *Login `json:"jumpLogin,omitempty"`
	// HostKey is the accepted key as a known_hosts line; empty until first contact is accepted.
	HostKey string `json:"hostKey,omitempty"`
	// JumpHostKey is the jump host's accepted key, a known_hosts line, verified like HostKey.
	JumpHostKey string `json:"jumpHostKey,omitempty"`
}

// Login is a machine's own user and credentials: a jump host's, when they are not its host's. As on Host,
// Password and KeyPassphrase live only in memory; PasswordAuth and KeyEncrypted say which of them the login
// needs, so a reopened site asks for them again. Neither a key file nor a password: the ssh-agent.
type Login struct {
	User          string `json:"user"`
	KeyPath       string `json:"keyPath,omitempty"`
	Password      string `json:"-"`
	KeyPassphrase string `json:"-"`
	PasswordAuth  bool   `json:"passwordAuth,omitempty"`
	KeyEncrypted  bool   `json:"keyEncrypted,omitempty"`
}

// KeyStatus is how a presented host key compares with the accepted one.
type KeyStatus int

const (
	KeyKnown KeyStatus = iota
	KeyNew
	KeyChanged
	// KeyUnchecked: the host was not reached because its jump host's key must be accepted first (no
	// credential goes to a machine whose key the user has not accepted).
	KeyUnchecked
)

// Connection is the outcome of a connection test.
type Connection struct {
	KeyStatus   KeyStatus
	Fingerprint string // SHA256:..., of the presented key
	KeyLine     string // the presented key as a known_hosts line, stored when accepted
	OS          string
	Arch        string
	// Jump is the jump host's key check; nil for a host reached directly.
	Jump *KeyCheck
}

// KeyCheck is how one machine's presented key compares with the accepted one.
type KeyCheck struct {
	Status      KeyStatus
	Fingerprint string
	KeyLine     string
}

// Site is what the engine needs to act on an installed or to-be-installed site.
type Site struct {
	Name  string
	Dir   string // the site record folder: known_hosts, kubeconfig, audit log
	Hosts []Host
}

// Severity of a preflight check.
type Severity int

const (
	Pass Severity = iota
	Warn
	Fail
)

// Check is one preflight result for one host.
type Check struct {
	Host     string
	ID       string
	Title    string
	Severity Severity
	Detail   string // what was found
	Fix      string // plain-language fix
	Fixable  bool   // Ferry can apply the fix itself
}

// Phase is one step of a long operation.
type Phase struct {
	ID    string
	Title string
}

// InstallRequest is everything Install needs.
type InstallRequest struct {
	Site   Site
	Bundle Bundle
	Values []byte // the chart values the user configured, as YAML
}

// InstallResult is what the Done screen shows.
type InstallResult struct {
	AppURL     string
	Kubeconfig []byte
	Release    Release
}

// Health is the overall state of the app or one component.
type Health string

const (
	Healthy     Health = "healthy"
	Degraded    Health = "degraded"
	Progressing Health = "progressing"
	Down        Health = "down"
)

// Component is one workload or service of the app, so the whole system reads as one application.
type Component struct {
	Kind  string // Deployment, StatefulSet, DaemonSet, Job, Service
	Name  string
	State Health
	// Ready is "ready/desired" replicas of a workload (completions of a Job), "ready/total" endpoints of
	// a service; empty when the component is not in the cluster.
	Ready string
	// RolledOut: the workload's newest spec runs everywhere (a Job: it completed).
	RolledOut bool
	// Address and Ports describe a service: "ClusterIP 10.43.0.12", ["80→8080/TCP"].
	Address string
	Ports   []string
	// Detail says why the component is not healthy, in the engine's words (e.g. "image X missing on
	// node Y"); empty when healthy.
	Detail string
}

// Status is the site's current state.
type Status struct {
	App     string
	Version string
	// K3sVersion is the servers' k3s version. While they differ (a k3s upgrade under way, or stopped
	// halfway) K3sMixed is set and K3sVersion lists each version with its servers, newest first:
	// "v1.33.4+k3s1 (cp-1, cp-2) · v1.32.8+k3s1 (cp-3)".
	K3sVersion string
	K3sMixed   bool
	Health     Health
	Components []Component
	AppURL     string
}

// Release is one entry of the site's history.
type Release struct {
	Version string
	Time    time.Time
	Action  string // one of ReleaseActions
	Result  string // one of ReleaseResults
	Kept    bool   // its images and chart are kept on site, so Rollback can restore it
}

// Release.Action and Release.Result values. The wizard words each in the user's language.
const (
	ActionInstall      = "install"
	ActionUpgrade      = "upgrade"
	ActionRollback     = "rollback"
	ActionAutoRollback = "auto-rollback"

	ResultSucceeded  = "succeeded"
	ResultFailed     = "failed"
	ResultRolledBack = "rolled back"
	ResultInProgress = "in progress"
)

// ReleaseActions and ReleaseResults list every value an engine may put in Release.Action and
// Release.Result.
var (
	ReleaseActions = []string{ActionInstall, ActionUpgrade, ActionRollback, ActionAutoRollback}
	ReleaseResults = []string{ResultSucceeded, ResultFailed, ResultRolledBack, ResultInProgress}
)

// UpgradePlan describes an upgrade before it runs.
type UpgradePlan struct {
	From, To      string
	K3sFrom       string
	K3sTo         string
	ChangedImages []string
	BytesPerNode  map[string]int64 // host name -> bytes to send
	Phases        []Phase
}

// UpgradeResult is the outcome of Upgrade.
type UpgradeResult struct {
	Version    string // the version running afterwards
	RolledBack bool   // the upgrade failed and Ferry restored the previous version
	Reason     string // why it rolled back, in plain words
}
