package installer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"

	"github.com/ferry-delivery/ferry/internal/fsutil"
)

// Files in a site's records directory (0600: both hold cluster-admin secrets).
const (
	// LegacyTokenRecord is where Ferry before 26 Nov 2026 kept the cluster token. Ferry no longer writes
	// it: the token lives only on the hosts and is read back from a server when a run needs it. An
	// existing record is still used, and removed once the first server confirms it holds that token.
	LegacyTokenRecord = "k3s-token"
	// KubeconfigRecord is the fetched admin kubeconfig, pointed at the first server. It stays on the
	// laptop (0600): it is how the engineer and the appliance reach the cluster at all, and unlike the
	// token it can be re-fetched from a server at any time (see docs/bootstrap.md).
	KubeconfigRecord = "kubeconfig"
)

// ErrNotReady means a node or the cluster did not become ready within the timeout; the error carries the
// last journal lines of the service.
var ErrNotReady = errors.New("k3s did not become ready")

// ErrForeignCluster means the first server runs a k3s cluster whose token is not the site's.
var ErrForeignCluster = errors.New("the first server holds a k3s cluster that is not this site's")

// ErrForeignK3s means a host already has a k3s that this site did not install: another Ferry site's, or
// one installed by other means. Install changes nothing on such a host.
var ErrForeignK3s = errors.New("host has a k3s that is not this site's")

// InstallOptions configure Install.
type InstallOptions struct {
	Options
	// ReadyTimeout bounds each wait for readiness (a node Ready, the cluster checks); 10 minutes if zero.
	ReadyTimeout time.Duration
	// PollInterval is how often readiness is polled (2 s if zero).
	PollInterval time.Duration
	// CacheDir receives the bundle members hosts need, extracted and verified once
	// (os.UserCacheDir()/ferry/members if empty).
	CacheDir string
	// Env is the k3s service environment (proxy settings...), never a secret.
	Env map[string]string
	// Consent is shown the fixes Ferry can apply to failed preflight checks (clock, hostname, dummy
	// default route) and returns the ones the user agreed to, as ferryctl preflight's --fix/--yes do.
	// nil applies none: a failed check then stops the install before anything is written.
	Consent func([]preflight.Fix) []preflight.Fix
}

// Action is one change Install made on a host. A re-run of a finished install makes none.
type Action struct {
	Phase, Host, What string
}

// InstallResult says what Install did.
type InstallResult struct {
	// Actions lists every change made on a host, in order per host.
	Actions []Action
	// Kubeconfig is the path of the stored admin kubeconfig.
	Kubeconfig string
	// DrySteps lists what a dry run would have done.
	DrySteps []phase.DryStep
	// Took is the wall time of the whole install.
	Took time.Duration
}

// InstallSteps lists the titles of an install's phases.
func InstallSteps() []string {
	m, _ := installManager(&state{site: &site.Site{}}, nil, InstallOptions{})
	return m.Titles()
}

// InstallPhases lists an install's phases with their stable ids (the wizard's step list, which it
// translates by id). Install's events name a phase by its Title.
func InstallPhases() []phase.Step {
	m, _ := installManager(&state{site: &site.Site{}}, nil, InstallOptions{})
	return m.Steps()
}

// cluster is what the install phases share beyond the connection state.
type cluster struct {
	st     *state
	bundle *payload.Bundle
	o      InstallOptions

	mu    sync.Mutex
	token k3s.Token // short form until the first server has handed out the full one; never written locally
	// tokenFrom says where the token came from (a server's name, the records, or "" when generated now),
	// for error messages; legacyToken is set while it came from an old record still to be removed.
	tokenFrom   string
	legacyToken bool
	actions     []Action
	cache       map[string]string // member path -> extracted local file
}

func installManager(st *state, b *payload.Bundle, o InstallOptions) (*phase.Manager, *cluster) {
	c := &cluster{st: st, bundle: b, o: o, cache: map[string]string{}}
	m := &phase.Manager{Sink: o.Progress, DryRun: o.DryRun}
	st.m = m
	m.Add(
		&connectPhase{st: st},
		&factsPhase{st: st},
		installPreflight(st, b, o),
		&tokenPhase{c: c},
		&installFilesPhase{c: c},
		&firstServerPhase{c: c},
		&joinServersPhase{c: c},
		&joinAgentsPhase{c: c},
		&waitPhase{c: c},
		&kubeconfigPhase{c: c},
	)
	return m, c
}

// installPreflight is the install's gate: the same checks as Preflight, against the bundle's platforms
// and sizes, run after the facts and before the first write to any host. A failed check stops the
// install; warnings reach the progress sink.
func installPreflight(st *state, b *payload.Bundle, o InstallOptions) *preflightPhase {
	var req Requirements
	if b != nil {
		req = BundleRequirements(b.Manifest())
	}
	return &preflightPhase{st: st, consent: o.Consent, fatal: true,
		opts: preflight.Options{Platforms: req.Platforms, NeedData: req.NeedData, NeedBin: req.NeedBin}}
}

// Install bootstraps the site's k3s cluster from the bundle: connect, gather facts, run the preflight
// checks (any failure stops it before a host is changed; consented fixes are applied first), upload the k3s binary
// and air-gap images for each host's architecture, start the first server, join the other servers one at
// a time and the agents in parallel (at most o.Parallel at once), wait for readiness, and store the
// admin kubeconfig in the site's records. Every phase checks the hosts first, so re-running after any
// interruption resumes, and re-running a finished install changes nothing. The bundle must already be
// verified by the caller (payload.Bundle.Verify): Install trusts its manifest's checksums.
func Install(ctx context.Context, s *site.Site, b *payload.Bundle, o InstallOptions) (*InstallResult, error) {
	began := time.Now()
	if len(s.Servers()) == 0 {
		return nil, fmt.Errorf("installing k3s: site %s has no server: give at least one host role: server", s.Name)
	}
	if b != nil {
		s = withDisable(s, b.Manifest().K3s.Disable)
	}
	st, err := newState(s, o.Options)
	if err != nil {
		return nil, fmt.Errorf("installing k3s: %w", err)
	}
	defer st.close()
	m, c := installManager(st, b, o)
	err = m.Run(ctx)
	res := &InstallResult{Actions: c.actions, DrySteps: m.DrySteps(), Took: time.Since(began)}
	if err != nil {
		return res, fmt.Errorf("installing k3s: %w", err)
	}
	if !o.DryRun {
		res.Kubeconfig = filepath.Join(s.RecordsDir(), KubeconfigRecord)
	}
	return res, nil
}

// withDisable returns s with the k3s components the bundle's vendor disabled (its manifest's k3s.disable)
// added to the site's own disable list: the site can switch more off, never switch the vendor's back on.
// The caller's site is not changed.
func withDisable(s *site.Site, vendor []string) *site.Site {
	if len(vendor) == 0 {
		return s
	}
	cp := *s
	cp.K3s.Disable = slices.Clone(s.K3s.Disable)
	for _, d := range vendor {
		if !slices.Contains(cp.K3s.Disable, d) {
			cp.K3s.Disable = append(cp.K3s.Disable, d)
		}
	}
	return &cp
}

func (o *InstallOptions) readyTimeout() time.Duration {
	if o.ReadyTimeout <= 0 {
		return 10 * time.Minute
	}
	return o.ReadyTimeout
}

func (o *InstallOptions) pollInterval() time.Duration {
	if o.PollInterval <= 0 {
		return 2 * time.Second
	}
	return o.PollInterval
}

// record notes a change made on a host (in a dry run, DryHost has already recorded the step instead).
func (c *cluster) record(ph, host, what string) {
	if !c.st.m.DryRun {
		c.mu.Lock()
		c.actions = append(c.actions, Action{Phase: ph, Host: host, What: what})
		c.mu.Unlock()
	}
	c.st.m.Emit(progress.Event{Phase: ph, Host: host, Msg: what})
}

func (c *cluster) skip(ph, host, what string) {
	c.st.m.Emit(progress.Event{Phase: ph, Host: host, Msg: what + ": already done"})
}

// firstServer is the site's first server: it runs cluster-init and everything joins it.
func (c *cluster) firstServer() site.Host { return c.st.site.Servers()[0] }

// role maps a site host to its k3s role.
func (c *cluster) role(h site.Host) k3s.Role {
	switch {
	case h.Role == site.RoleAgent:
		return k3s.RoleAgent
	case h.Name == c.firstServer().Name:
		return k3s.RoleServerFirst
	default:
		return k3s.RoleServerJoin
	}
}

// definition is the k3s Cluster every node's config is rendered from. Every server's address goes into
// tls-san, so a client may talk to any of them with certificate verification.
func (c *cluster) definition() k3s.Cluster {
	s := c.st.site
	san := slices.Clone(s.K3s.TLSSAN)
	for _, h := range s.Servers() {
		if !slices.Contains(san, h.Address) {
			san = append(san, h.Address)
		}
	}
	return k3s.Cluster{
		FirstServer: c.firstServer().Address,
		TLSSAN:      san,
		Disable:     slices.Clone(s.K3s.Disable),
		DataDir:     s.DataDir(),
	}
}

func (c *cluster) facts(name string) (*preflight.Facts, error) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	f := c.st.facts[name]
	if f == nil {
		return nil, fmt.Errorf("%s: no facts gathered", name)
	}
	return f, nil
}

// paths are where k3s lives on a host: the binary in /usr/local/bin, or in /opt/bin where the facts found
// /usr/local/bin read-only (the unit's ExecStart and the reset scripts follow). Without facts (not
// gathered yet) the default.
func (c *cluster) paths(name string) k3s.Paths {
	writable := true
	c.st.mu.Lock()
	if f := c.st.facts[name]; f != nil {
		writable = f.UsrLocalBinWritable
	}
	c.st.mu.Unlock()
	return k3s.NewPaths(writable, c.st.site.DataDir())
}

func initOf(f *preflight.Facts) (k3s.Init, error) {
	switch f.Init {
	case "systemd":
		return k3s.Systemd, nil
	case "openrc":
		return k3s.OpenRC, nil
	}
	return 0, fmt.Errorf("%s runs %q as PID 1: Ferry installs k3s under systemd or OpenRC only", f.Host, f.Init)
}

// member extracts a bundle member to the cache (verified against the manifest while reading) and returns
// its local path; a cached copy is reused when its hash still matches.
func (c *cluster) member(p string) (string, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var mem *payload.Member
	for i := range c.bundle.Manifest().Members {
		if c.bundle.Manifest().Members[i].Path == p {
			mem = &c.bundle.Manifest().Members[i]
		}
	}
	if mem == nil {
		return "", "", fmt.Errorf("extracting %s: %w", p, payload.ErrMissingMember)
	}
	if f, ok := c.cache[p]; ok {
		return f, mem.SHA256, nil
	}
	dir := c.o.CacheDir
	if dir == "" {
		ucd, err := os.UserCacheDir()
		if err != nil {
			return "", "", fmt.Errorf("extracting %s: %w", p, err)
		}
		dir = filepath.Join(ucd, "ferry", "members")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("extracting %s: %w", p, err)
	}
	dst := filepath.Join(dir, mem.SHA256)
	if sum, err := fsutil.SHA256File(dst); err == nil && sum == mem.SHA256 {
		c.cache[p] = dst
		return dst, mem.SHA256, nil
	}
	r, err := c.bundle.OpenMember(p)
	if err != nil {
		return "", "", fmt.Errorf("extracting %s: %w", p, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(dir, ".member-*")
	if err != nil {
		return "", "", fmt.Errorf("extracting %s: %w", p, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r) // OpenMember fails the read on a checksum mismatch
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return "", "", fmt.Errorf("extracting %s: %w", p, err)
	}
	c.cache[p] = dst
	return dst, mem.SHA256, nil
}

// writeRecord writes a file of the site's records atomically, 0600.
func writeRecord(dir, name string, data []byte) error {
	return fsutil.WriteFileAtomic(filepath.Join(dir, name), data, 0o600)
}
