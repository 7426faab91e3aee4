package fakeengine

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/internal/progress"
)

var _ engine.Engine = (*Fake)(nil)

// Fake is an in-memory engine. The zero value is not usable; call New.
type Fake struct {
	// Step is the pause between progress events, so a demo looks alive; zero in tests.
	Step time.Duration
	// Clock stamps releases; tests set it for deterministic output.
	Clock func() time.Time

	mu         sync.Mutex
	bundles    map[string]engine.Bundle
	hostKeys   map[string]string // address -> presented key line
	authFail   map[string]bool
	jumpUsers  map[string]string // bastion address -> the only user it lets in
	checks     []engine.Check
	fixed      map[string]bool // host/check id fixed by ApplyFixes
	failOnce   map[string]error
	holds      map[string]*Hold
	done       map[string]bool // install phases already done (resume)
	installs   int
	version    string
	k3s        string
	k3sMixed   bool
	history    []engine.Release
	health     engine.Health
	upgradeErr string
	calls      []string
}

// Hold makes a phase wait until released, its duration passes or the run is cancelled.
type Hold struct {
	For      time.Duration
	entered  chan struct{}
	released chan struct{}
	ended    chan struct{}
	once     sync.Once
}

// Ended is closed when the hold is over (released, timed out or cancelled).
func (h *Hold) Ended() <-chan struct{} { return h.ended }

// Entered is closed when the held phase starts waiting.
func (h *Hold) Entered() <-chan struct{} { return h.entered }

// Release ends the hold early.
func (h *Hold) Release() { h.once.Do(func() { close(h.released) }) }

// New returns a fake with one trusted demo bundle per version registered lazily by OpenBundle.
func New() *Fake {
	return &Fake{
		Clock:     time.Now,
		bundles:   map[string]engine.Bundle{},
		hostKeys:  map[string]string{},
		authFail:  map[string]bool{},
		jumpUsers: map[string]string{},
		fixed:     map[string]bool{},
		failOnce:  map[string]error{},
		holds:     map[string]*Hold{},
		done:      map[string]bool{},
		health:    engine.Healthy,
	}
}

// AddBundle registers a bundle that OpenBundle returns for b.Path.
func (f *Fake) AddBundle(b engine.Bundle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bundles[b.Path] = b
}

// SetHostKey sets the key the host at address presents (a known_hosts line).
func (f *Fake) SetHostKey(address, line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hostKeys[address] = line
}

// FailAuth makes connections to address fail authentication.
func (f *Fake) FailAuth(address string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authFail[address] = true
}

// RequireJumpUser makes the bastion at address (a host's JumpHost, without port) let in only user, as a
// bastion with an account of its own does: a host logging into it as anyone else (its own user, when the
// bastion has no login of its own) fails with ErrAuth and ErrJumpHost.
func (f *Fake) RequireJumpUser(address, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jumpUsers[address] = user
}

// SetChecks sets the preflight results; fixable failures turn to Pass after ApplyFixes.
func (f *Fake) SetChecks(c []engine.Check) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append([]engine.Check(nil), c...)
}

// FailPhaseOnce makes the next run of install phase id fail with err; the retry succeeds.
func (f *Fake) FailPhaseOnce(id string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOnce[id] = err
}

// HoldPhase makes install phase id wait (see Hold).
func (f *Fake) HoldPhase(id string, d time.Duration) *Hold {
	h := &Hold{For: d, entered: make(chan struct{}), released: make(chan struct{}), ended: make(chan struct{})}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holds[id] = h
	return h
}

// FailNextUpgrade makes the next upgrade fail its health check and roll back, for reason.
func (f *Fake) FailNextUpgrade(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upgradeErr = reason
}

// SetHealth sets the app's overall health as Status reports it.
func (f *Fake) SetHealth(h engine.Health) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.health = h
}

// SetK3sVersion sets the k3s version Status reports; mixed says the servers differ (v is then the
// per-version list the real engine gives).
func (f *Fake) SetK3sVersion(v string, mixed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.k3s, f.k3sMixed = v, mixed
}

// Installed marks the site installed at version, as if Install had run, with its history.
func (f *Fake) Installed(version, k3s string, history ...engine.Release) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version, f.k3s, f.history = version, k3s, history
}

// Calls lists the engine methods called so far, in order, e.g. "Install", "Rollback 1.0.0".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// InstallRuns counts Install calls.
func (f *Fake) InstallRuns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.installs
}

func (f *Fake) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *Fake) pause(ctx context.Context) error {
	if f.Step <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(f.Step):
		return nil
	}
}

var versionRE = regexp.MustCompile(`\d+\.\d+\.\d+`)

// OpenBundle returns a registered bundle; any other existing file is read as a demo bundle whose version is
// taken from its name ("shop-1.1.0.ferry") and which is unsigned when its name says "unsigned".
func (f *Fake) OpenBundle(ctx context.Context, path string, sink progress.Sink) (engine.Bundle, error) {
	f.record("OpenBundle")
	f.mu.Lock()
	b, ok := f.bundles[path]
	f.mu.Unlock()
	if !ok {
		st, err := os.Stat(path)
		if err != nil {
			return engine.Bundle{}, fmt.Errorf("opening bundle %s: %w", path, err)
		}
		if st.IsDir() {
			return engine.Bundle{}, fmt.Errorf("opening bundle %s: %w: it is a folder", path, engine.ErrBundleCorrupt)
		}
		v := versionRE.FindString(filepath.Base(path))
		if v == "" {
			v = "1.0.0"
		}
		b = DemoBundle(path, v)
		if strings.Contains(filepath.Base(path), "unsigned") {
			b.Trust, b.Signer = engine.TrustUnsigned, ""
		}
	}
	const total = 64 << 20
	for done := int64(0); done < total; done += 8 << 20 {
		sink.Emit(progress.Event{Phase: "verify", Msg: "verifying checksums", Done: done, Total: total})
		if err := f.pause(ctx); err != nil {
			return engine.Bundle{}, fmt.Errorf("verifying bundle: %w", err)
		}
	}
	sink.Emit(progress.Event{Phase: "verify", Msg: "verified", Done: total, Total: total})
	return b, nil
}

// FakeKey returns a deterministic known_hosts line and its fingerprint for a host address and a seed.
func FakeKey(address, seed string) (line, fingerprint string) {
	raw := sha256.Sum256([]byte(address + "/" + seed))
	key := base64.StdEncoding.EncodeToString(raw[:])
	fp := sha256.Sum256(raw[:])
	return address + " ssh-ed25519 " + key, "SHA256:" + strings.TrimRight(base64.StdEncoding.EncodeToString(fp[:]), "=")
}

func fingerprintOf(line string) string {
	fields := strings.Fields(line)
	if len(fields) < 3 {
		return ""
	}
	raw, _ := base64.StdEncoding.DecodeString(fields[2])
	fp := sha256.Sum256(raw)
	return "SHA256:" + strings.TrimRight(base64.StdEncoding.EncodeToString(fp[:]), "=")
}

func (f *Fake) TestConnection(ctx context.Context, h engine.Host) (engine.Connection, error) {
	f.record("TestConnection " + h.Address)
	if err := f.pause(ctx); err != nil {
		return engine.Connection{}, err
	}
	f.mu.Lock()
	line, ok := f.hostKeys[h.Address]
	authFail := f.authFail[h.Address]
	f.mu.Unlock()
	if strings.HasPrefix(h.Address, "unreachable") {
		return engine.Connection{}, fmt.Errorf("connecting to %s: %w", h.Address, engine.ErrUnreachable)
	}
	if !ok {
		line, _ = FakeKey(h.Address, "1")
	}
	var jump *engine.KeyCheck
	if h.JumpHost != "" {
		// As the real engine: the bastion's key first (the host is not reached), then the host's.
		ja := h.JumpHost
		if _, rest, ok := strings.Cut(ja, "@"); ok {
			ja = rest
		}
		if host, _, ok := strings.Cut(ja, ":"); ok {
			ja = host
		}
		f.mu.Lock()
		jline, ok := f.hostKeys[ja]
		f.mu.Unlock()
		if strings.HasPrefix(ja, "unreachable") {
			return engine.Connection{}, fmt.Errorf("connecting to %s: jump host %s: %w", h.Address, ja, engine.ErrUnreachable)
		}
		if !ok {
			jline, _ = FakeKey(ja, "1")
		}
		jump = &engine.KeyCheck{Fingerprint: fingerprintOf(jline), KeyLine: jline}
		switch {
		case h.JumpHostKey == "":
			jump.Status = engine.KeyNew
			return engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: jump}, nil
		case h.JumpHostKey != jline:
			jump.Status = engine.KeyChanged
			return engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: jump}, fmt.Errorf("connecting to %s: jump host %s: %w: %w", h.Address, ja, engine.ErrJumpHost, engine.ErrHostKeyMismatch)
		}
		if err := f.jumpLogin(h, ja); err != nil {
			return engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: jump}, err
		}
	}
	c := engine.Connection{Fingerprint: fingerprintOf(line), KeyLine: line, OS: "Debian GNU/Linux 12", Arch: "amd64", Jump: jump}
	switch {
	case h.HostKey == "":
		c.KeyStatus = engine.KeyNew
	case h.HostKey == line:
		c.KeyStatus = engine.KeyKnown
	default:
		c.KeyStatus = engine.KeyChanged
		return c, fmt.Errorf("connecting to %s: %w", h.Address, engine.ErrHostKeyMismatch)
	}
	if authFail {
		return c, fmt.Errorf("connecting to %s as %s: %w", h.Address, h.User, engine.ErrAuth)
	}
	return c, nil
}

func (f *Fake) Preflight(ctx context.Context, s engine.Site, b engine.Bundle) ([]engine.Check, error) {
	f.record("Preflight")
	if err := f.pause(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.Check
	checks := f.checks
	if checks == nil {
		checks = DemoChecks(s)
	}
	for _, c := range checks {
		if f.fixed[c.Host+"/"+c.ID] {
			c.Severity, c.Detail = engine.Pass, "fixed by Ferry"
		}
		out = append(out, c)
	}
	return out, nil
}

// DemoChecks are the checks Preflight reports unless SetChecks was called: what the real installer finds
// on a fresh air-gapped host, in its words (its check ids and titles): every host lacks the default route
// k3s needs (Ferry can add one), and the second host has swap on (a warning).
func DemoChecks(s engine.Site) []engine.Check {
	var out []engine.Check
	for i, h := range s.Hosts {
		pass := func(id, title, detail string) engine.Check {
			return engine.Check{Host: h.Name, ID: id, Title: title, Severity: engine.Pass, Detail: detail}
		}
		out = append(out,
			pass("arch", "Architecture", "amd64"),
			pass("os", "Operating system", "Debian GNU/Linux 12 (bookworm)"),
			pass("memory", "Memory", "7.6 GiB"),
			pass("disk", "Free disk", "/var/lib/rancher has 48.0 GiB free, /usr/local/bin has 9.1 GiB free"),
			pass("ports", "Ports", "free"),
			engine.Check{Host: h.Name, ID: "route", Title: "Default route", Severity: engine.Fail, Detail: "no IPv4 default route",
				Fix: "k3s needs a default route, even a dummy one on an air-gapped network (Ferry can add one)", Fixable: true},
		)
		if i == 1 {
			out = append(out, engine.Check{Host: h.Name, ID: "swap", Title: "Swap", Severity: engine.Warn, Detail: "2.0 GiB of swap on",
				Fix: "kubelet performs best without swap: `swapoff -a` and remove it from /etc/fstab"})
		}
	}
	return out
}

func (f *Fake) ApplyFixes(ctx context.Context, s engine.Site, checks []engine.Check, sink progress.Sink) error {
	f.record("ApplyFixes")
	for _, c := range checks {
		if !c.Fixable {
			continue
		}
		if err := f.pause(ctx); err != nil {
			return err
		}
		sink.Emit(progress.Event{Phase: "fix", Host: c.Host, Msg: "fixing " + c.Title})
		f.mu.Lock()
		f.fixed[c.Host+"/"+c.ID] = true
		f.mu.Unlock()
	}
	return nil
}

// Install phases. Their IDs are what tests script.
var installPhases = []engine.Phase{
	{ID: "connect", Title: "Connect to hosts"},
	{ID: "upload", Title: "Send k3s and images"},
	{ID: "server", Title: "Start k3s servers"},
	{ID: "agents", Title: "Join agents"},
	{ID: "deploy", Title: "Deploy the application"},
	{ID: "healthy", Title: "Wait until healthy"},
}

func (f *Fake) InstallPhases(engine.Site, engine.Bundle) []engine.Phase {
	return append([]engine.Phase(nil), installPhases...)
}

func (f *Fake) Install(ctx context.Context, req engine.InstallRequest, sink progress.Sink) (engine.InstallResult, error) {
	f.record("Install")
	f.mu.Lock()
	f.installs++
	f.mu.Unlock()
	// As the real engine: a phase with nothing to do on this site is said before anything runs.
	notNeeded := map[string]bool{"agents": !hasRole(req.Site, engine.RoleAgent)}
	for _, p := range installPhases {
		if notNeeded[p.ID] {
			sink.Emit(progress.Event{Phase: p.ID, Msg: engine.MsgNotNeeded})
		}
	}
	for _, p := range installPhases {
		f.mu.Lock()
		done := f.done[p.ID]
		f.mu.Unlock()
		if notNeeded[p.ID] {
			continue
		}
		if done {
			sink.Emit(progress.Event{Phase: p.ID, Msg: engine.MsgSkipped})
			continue
		}
		if err := ctx.Err(); err != nil {
			return engine.InstallResult{}, fmt.Errorf("installing: %w", err)
		}
		if err := f.runPhase(ctx, p, req.Site, sink); err != nil {
			sink.Emit(progress.Event{Phase: p.ID, Msg: progress.MsgFailed, Err: err})
			return engine.InstallResult{}, fmt.Errorf("installing: %s: %w", strings.ToLower(p.Title), err)
		}
		f.mu.Lock()
		f.done[p.ID] = true
		f.mu.Unlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version, f.k3s = req.Bundle.Version, req.Bundle.K3sVersion
	rel := engine.Release{Version: req.Bundle.Version, Time: f.Clock(), Action: "install", Result: "succeeded", Kept: true}
	f.history = append([]engine.Release{rel}, f.history...)
	return engine.InstallResult{
		AppURL:     "https://" + firstAddress(req.Site) + "/",
		Kubeconfig: []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: " + req.Site.Name + "\n  cluster:\n    server: https://" + firstAddress(req.Site) + ":6443\n"),
		Release:    rel,
	}, nil
}

func hasRole(s engine.Site, r engine.Role) bool {
	for _, h := range s.Hosts {
		if h.Role == r {
			return true
		}
	}
	return false
}

func firstAddress(s engine.Site) string {
	for _, h := range s.Hosts {
		if h.Role == engine.RoleServer {
			return h.Address
		}
	}
	return "localhost"
}

func (f *Fake) runPhase(ctx context.Context, p engine.Phase, s engine.Site, sink progress.Sink) error {
	sink.Emit(progress.Event{Phase: p.ID, Msg: progress.MsgStarted})
	f.mu.Lock()
	hold := f.holds[p.ID]
	failErr := f.failOnce[p.ID]
	delete(f.failOnce, p.ID)
	f.mu.Unlock()
	if hold != nil {
		close(hold.entered)
		t := time.NewTimer(hold.For)
		select {
		case <-ctx.Done():
		case <-hold.released:
		case <-t.C:
		}
		t.Stop()
		close(hold.ended)
		f.mu.Lock()
		delete(f.holds, p.ID)
		f.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if failErr != nil {
		return failErr
	}
	if p.ID == "upload" {
		const total = 96 << 20
		for done := int64(0); done <= total; done += 16 << 20 {
			for _, h := range s.Hosts {
				sink.Emit(progress.Event{Phase: p.ID, Host: h.Name, Msg: "sending images", Done: done, Total: total})
			}
			if err := f.pause(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	for _, h := range s.Hosts {
		if p.ID == "server" && h.Role != engine.RoleServer || p.ID == "agents" && h.Role != engine.RoleAgent {
			continue
		}
		if err := f.pause(ctx); err != nil {
			return err
		}
		sink.Emit(progress.Event{Phase: p.ID, Host: h.Name, Msg: progress.MsgDone})
	}
	return ctx.Err()
}

func (f *Fake) Status(ctx context.Context, s engine.Site) (engine.Status, error) {
	f.record("Status")
	if err := loginSecrets(s); err != nil {
		return engine.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.version == "" {
		return engine.Status{}, errors.New("reading status: the app is not installed on this site")
	}
	st := engine.Status{App: "shop", Version: f.version, K3sVersion: f.k3s, K3sMixed: f.k3sMixed, Health: f.health, AppURL: "https://" + firstAddress(s) + "/"}
	web := engine.Component{Kind: "Deployment", Name: "web", State: f.health, Ready: "2/2", RolledOut: true}
	svc := engine.Component{Kind: "Service", Name: "web", State: f.health, Ready: "2/2", Address: "ClusterIP 10.43.0.12", Ports: []string{"443→8443/TCP"}}
	if f.health != engine.Healthy {
		web.Ready, web.Detail = "0/2", "image registry.local/shop:"+f.version+" missing on node node2 (pod web-7d9f-abcde: ImagePullBackOff)"
		svc.Ready, svc.Detail = "0/2", "no ready endpoint: its pods are not ready"
	}
	st.Components = []engine.Component{web, {Kind: "StatefulSet", Name: "db", State: engine.Healthy, Ready: "1/1", RolledOut: true}, svc}
	return st, nil
}

func (f *Fake) History(ctx context.Context, s engine.Site) ([]engine.Release, error) {
	f.record("History")
	if err := loginSecrets(s); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Release(nil), f.history...), nil
}

var upgradePhases = []engine.Phase{
	{ID: "send", Title: "Send new image layers"},
	{ID: "upgrade", Title: "Upgrade the application"},
	{ID: "healthy", Title: "Wait until healthy"},
}

func (f *Fake) PlanUpgrade(ctx context.Context, s engine.Site, b engine.Bundle) (engine.UpgradePlan, error) {
	f.record("PlanUpgrade " + b.Version)
	if err := loginSecrets(s); err != nil {
		return engine.UpgradePlan{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := engine.UpgradePlan{From: f.version, To: b.Version, K3sFrom: f.k3s, K3sTo: b.K3sVersion, BytesPerNode: map[string]int64{}, Phases: upgradePhases}
	for _, img := range b.Images {
		if strings.HasSuffix(img.Ref, ":"+b.Version) {
			p.ChangedImages = append(p.ChangedImages, img.Ref)
			for _, h := range s.Hosts {
				p.BytesPerNode[h.Name] += img.Bytes
			}
		}
	}
	sort.Strings(p.ChangedImages)
	return p, nil
}

func (f *Fake) Upgrade(ctx context.Context, s engine.Site, b engine.Bundle, values []byte, sink progress.Sink) (engine.UpgradeResult, error) {
	f.record("Upgrade " + b.Version)
	if err := loginSecrets(s); err != nil {
		return engine.UpgradeResult{}, err
	}
	for _, p := range upgradePhases {
		sink.Emit(progress.Event{Phase: p.ID, Msg: progress.MsgStarted})
		for _, h := range s.Hosts {
			if err := f.pause(ctx); err != nil {
				return engine.UpgradeResult{}, fmt.Errorf("upgrading: %w", err)
			}
			sink.Emit(progress.Event{Phase: p.ID, Host: h.Name, Msg: progress.MsgDone})
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	from := f.version
	if f.upgradeErr != "" {
		reason := f.upgradeErr
		f.upgradeErr = ""
		sink.Emit(progress.Event{Phase: "healthy", Msg: "health check failed: " + reason + "; rolling back to " + from})
		f.history = append([]engine.Release{
			{Version: from, Time: f.Clock(), Action: "auto-rollback", Result: "succeeded", Kept: true},
			{Version: b.Version, Time: f.Clock(), Action: "upgrade", Result: "rolled back", Kept: true},
		}, f.history...)
		return engine.UpgradeResult{Version: from, RolledBack: true, Reason: reason}, nil
	}
	f.version, f.k3s = b.Version, b.K3sVersion
	f.history = append([]engine.Release{{Version: b.Version, Time: f.Clock(), Action: "upgrade", Result: "succeeded", Kept: true}}, f.history...)
	return engine.UpgradeResult{Version: b.Version}, nil
}

func (f *Fake) Rollback(ctx context.Context, s engine.Site, version string, sink progress.Sink) (engine.Release, error) {
	f.record("Rollback " + version)
	if err := loginSecrets(s); err != nil {
		return engine.Release{}, err
	}
	f.mu.Lock()
	kept := false
	for _, r := range f.history {
		if r.Version == version && r.Kept {
			kept = true
		}
	}
	f.mu.Unlock()
	if !kept {
		return engine.Release{}, fmt.Errorf("rolling back to %s: %w", version, engine.ErrNoKeptVersion)
	}
	for _, h := range s.Hosts {
		if err := f.pause(ctx); err != nil {
			return engine.Release{}, fmt.Errorf("rolling back: %w", err)
		}
		sink.Emit(progress.Event{Phase: "rollback", Host: h.Name, Msg: "rolled back on " + h.Name})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version = version
	rel := engine.Release{Version: version, Time: f.Clock(), Action: "rollback", Result: "succeeded", Kept: true}
	f.history = append([]engine.Release{rel}, f.history...)
	return rel, nil
}

// jumpLogin checks the bastion login of h as RequireJumpUser set it up, and that a bastion login of its
// own holds the secrets it says it needs.
func (f *Fake) jumpLogin(h engine.Host, ja string) error {
	user := h.User
	if l := h.JumpLogin; l != nil {
		user = l.User
		if l.PasswordAuth && l.Password == "" || l.KeyEncrypted && l.KeyPassphrase == "" {
			return fmt.Errorf("connecting to %s: jump host %s: %w: %w: a password or passphrase it needs was not entered", h.Address, ja, engine.ErrJumpHost, engine.ErrAuth)
		}
	}
	f.mu.Lock()
	want, ok := f.jumpUsers[ja]
	f.mu.Unlock()
	if ok && user != want {
		return fmt.Errorf("connecting to %s: jump host %s: %w: %w: it refused user %q", h.Address, ja, engine.ErrJumpHost, engine.ErrAuth, user)
	}
	return nil
}

// loginSecrets fails as a real host would when a secret the host needs was not handed over (a reopened
// site before the user entered it): the wizard must ask for it first.
func loginSecrets(s engine.Site) error {
	for _, h := range s.Hosts {
		if h.PasswordAuth && h.Password == "" || h.KeyEncrypted && h.KeyPassphrase == "" || h.SudoAsks && h.SudoPassword == "" {
			return fmt.Errorf("logging into %s: %w: a password or passphrase it needs was not entered", h.Name, engine.ErrAuth)
		}
		if l := h.JumpLogin; h.JumpHost != "" && l != nil && (l.PasswordAuth && l.Password == "" || l.KeyEncrypted && l.KeyPassphrase == "") {
			return fmt.Errorf("logging into %s: jump host %s: %w: %w: a password or passphrase it needs was not entered", h.Name, h.JumpHost, engine.ErrJumpHost, engine.ErrAuth)
		}
	}
	return nil
}
