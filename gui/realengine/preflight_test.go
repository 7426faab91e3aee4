package realengine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

// fakeSite has wizard-style names (spaces, capitals) the installer's site file would refuse; the third
// host's key was never accepted.
func fakeSite(t *testing.T) engine.Site {
	return engine.Site{Name: "Plant 7", Dir: t.TempDir(), Hosts: []engine.Host{
		{Name: "CP 1", Address: "10.0.0.1", User: "root", Role: engine.RoleServer, Password: "s3cret-cp"},
		{Name: "Worker_A", Address: "10.0.0.2", User: "ops", Role: engine.RoleAgent, KeyPath: "/keys/id", KeyPassphrase: "pp", Sudo: true},
		{Name: "worker-b", Address: "10.0.0.3", User: "root", Role: engine.RoleAgent, KeyPath: "/keys/id"},
	}}
}

// fakeDial serves the installer's Debian facts fixture on every host (same hostname: a clash) and
// records the SSH settings each host was given.
func fakeDial(t *testing.T) (installer.Options, map[string]*hosttest.Fake, map[string]ssh.Config) {
	out, err := os.ReadFile("../../installer/preflight/testdata/debian-systemd.txt")
	if err != nil {
		t.Fatal(err)
	}
	fixture := strings.NewReplacer("### id\n1000", "### id\n0", "file /usr/local/bin/k3s\nmarker plant-7\n", "").Replace(string(out))
	fakes := map[string]*hosttest.Fake{}
	cfgs := map[string]ssh.Config{}
	var mu sync.Mutex
	for _, n := range []string{"cp-1", "worker-a"} {
		f := hosttest.New(n, t.TempDir())
		f.Handler = func(c host.Cmd) (host.Result, error) {
			if strings.HasPrefix(c.Line, "sh -c ") {
				return host.Result{Stdout: []byte(fixture)}, nil
			}
			return host.Result{}, nil
		}
		fakes[n] = f
	}
	dial := func(ctx context.Context, h site.Host, cfg ssh.Config) (host.Host, error) {
		mu.Lock()
		cfgs[h.Name] = cfg
		mu.Unlock()
		if f, ok := fakes[h.Name]; ok {
			return f, nil
		}
		return nil, fmt.Errorf("connecting to %s: %w", h.Name, ssh.ErrUnknownHostKey)
	}
	// The laptop clock is the fixture's, so only the hostname clash fails.
	return installer.Options{Dial: dial, Now: func() time.Time { return time.Unix(1764140000, 0) }}, fakes, cfgs
}

func TestPreflightRowsAndFixes(t *testing.T) {
	s := fakeSite(t)
	io, fakes, cfgs := fakeDial(t)
	e := New(Options{Installer: io})
	rows, err := e.Preflight(context.Background(), s, engine.Bundle{Platforms: []string{"linux/amd64"}, Images: []engine.Image{{Ref: "a", Bytes: 1 << 20}}})
	if err != nil {
		t.Fatal(err)
	}
	// Secrets reach the SSH layer from memory, under the installer's names for the hosts.
	if string(cfgs["cp-1"].Password) != "s3cret-cp" || string(cfgs["worker-a"].KeyPassphrase) != "pp" || cfgs["worker-a"].KeyFile != "/keys/id" {
		t.Fatalf("ssh settings: %+v", cfgs)
	}
	if !strings.HasSuffix(cfgs["cp-1"].KnownHosts, s.Dir+"/known_hosts") {
		t.Fatalf("known_hosts %q is not the site record's", cfgs["cp-1"].KnownHosts)
	}
	type row struct {
		Host, ID, Title string
		Sev             engine.Severity
		Fixable         bool
	}
	var notPass []row
	perHost := map[string]int{}
	for _, c := range rows {
		perHost[c.Host]++
		if c.Severity != engine.Pass {
			notPass = append(notPass, row{c.Host, c.ID, c.Title, c.Severity, c.Fixable})
		}
		if c.Severity == engine.Fail && c.Fix == "" {
			t.Errorf("failed row without a fix: %+v", c)
		}
	}
	want := []row{
		{"worker-b", "connect", "SSH connection", engine.Fail, false},
		{"CP 1", "hostname", "Unique hostname", engine.Fail, true},
		{"Worker_A", "hostname", "Unique hostname", engine.Fail, true},
	}
	// Warnings depend on the fixture's machine; the failures are the decision the screen makes.
	var fails []row
	for _, r := range notPass {
		if r.Sev == engine.Fail {
			fails = append(fails, r)
		}
	}
	if d := cmp.Diff(want, fails); d != "" {
		t.Fatalf("failed rows (-want +got):\n%s", d)
	}
	if perHost["worker-b"] != 1 || perHost["CP 1"] < 10 {
		t.Fatalf("rows per host: %v", perHost)
	}
	if !strings.Contains(rows[0].Fix, "accept") {
		t.Fatalf("unknown key fix: %q", rows[0].Fix)
	}
	for _, f := range fakes {
		for _, c := range f.Cmds() {
			if !c.ReadOnly {
				t.Fatalf("preflight changed %s: %q", f.Name(), c.Line)
			}
		}
	}

	// Apply only CP 1's hostname fix: Worker_A is left alone; the unreachable host is an error.
	io, fakes, _ = fakeDial(t)
	e = New(Options{Installer: io})
	err = e.ApplyFixes(context.Background(), s, []engine.Check{{Host: "CP 1", ID: "hostname", Fixable: true}}, nil)
	if !errors.Is(err, engine.ErrUnreachable) || !errors.Is(err, ssh.ErrUnknownHostKey) {
		t.Fatalf("apply fixes: %v", err)
	}
	changed := map[string]bool{}
	for n, f := range fakes {
		for _, c := range f.Cmds() {
			if !c.ReadOnly {
				changed[n] = changed[n] || strings.Contains(c.Line, "hostname")
			}
		}
	}
	if !changed["cp-1"] || changed["worker-a"] {
		t.Fatalf("hosts changed: %v", changed)
	}
}

func TestToSiteRefusesWhatTheInstallerRefuses(t *testing.T) {
	s := engine.Site{Name: "x", Dir: t.TempDir(), Hosts: []engine.Host{
		{Name: "a", Address: "10.0.0.1", Role: engine.RoleServer}, {Name: "b", Address: "10.0.0.2", Role: engine.RoleServer},
	}}
	if _, err := toSite(s); !errors.Is(err, site.ErrInvalid) || !strings.Contains(err.Error(), "odd number") {
		t.Fatalf("two servers: %v", err)
	}
	if j, err := parseJump("ops@bastion:2222"); err != nil || j.User != "ops" || j.Address != "bastion" || j.Port != 2222 {
		t.Fatalf("jump: %+v %v", j, err)
	}
}

// The secrets a host's record says it needs are handed to the installer from memory (never the
// environment); a reopened site whose secret was not entered is refused with ErrAuth before any dial.
func TestToSiteSecrets(t *testing.T) {
	h := engine.Host{Name: "a", Address: "10.0.0.1", User: "ops", Role: engine.RoleServer, KeyPath: "/k", KeyEncrypted: true, KeyPassphrase: "pp-secret",
		Sudo: true, SudoAsks: true, SudoPassword: "sudo-secret", JumpHost: "bastion:2200"}
	m, err := toSite(engine.Site{Name: "x", Dir: t.TempDir(), Hosts: []engine.Host{h}})
	if err != nil {
		t.Fatal(err)
	}
	a := m.site.Hosts[0].Auth
	if m.getenv(a.KeyPassphraseEnv) != "pp-secret" || m.getenv(a.SudoPasswordEnv) != "sudo-secret" || os.Getenv(a.SudoPasswordEnv) != "" {
		t.Fatalf("secrets: %+v", a)
	}
	if j := m.site.Hosts[0].JumpHost; j == nil || j.User != "ops" || j.Port != 2200 || j.Auth.KeyPassphraseEnv != a.KeyPassphraseEnv {
		t.Fatalf("jump host: %+v", j)
	}
	for _, tc := range []struct {
		name string
		mod  func(*engine.Host)
		want string
	}{
		{"password", func(h *engine.Host) { h.KeyPath, h.PasswordAuth, h.KeyEncrypted = "", true, false }, "logs in with a password"},
		{"passphrase", func(h *engine.Host) { h.KeyPassphrase = "" }, "needs a passphrase"},
		{"sudo", func(h *engine.Host) { h.SudoPassword = "" }, "sudo asks for a password"},
	} {
		bad := h
		tc.mod(&bad)
		if _, err := toSite(engine.Site{Name: "x", Dir: t.TempDir(), Hosts: []engine.Host{bad}}); !errors.Is(err, engine.ErrAuth) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s not entered: %v", tc.name, err)
		}
	}
}

// A bastion with its own login becomes site.Jump{Address, Port, Login{User, Auth}}: its key file, and its
// password or passphrase served from memory under names of its own; the installer's JumpLogin reads it
// back as is. Without one, the bastion gets the host's user and credentials (never its sudo password).
// A reopened site whose bastion secret was not entered is refused with ErrAuth and ErrJumpHost.
func TestToSiteJumpLogin(t *testing.T) {
	h := engine.Host{Name: "a", Address: "10.0.0.1", User: "ops", Role: engine.RoleServer, KeyPath: "/k", Sudo: true, SudoAsks: true, SudoPassword: "sudo-secret",
		JumpHost: "bastion:2200", JumpLogin: &engine.Login{User: "gate", KeyPath: "/gate-key", KeyEncrypted: true, KeyPassphrase: "gate-pp"}}
	pw := h
	pw.Name, pw.Address, pw.JumpLogin = "b", "10.0.0.2", &engine.Login{User: "gate", PasswordAuth: true, Password: "gate-pw"}
	same := h
	same.Name, same.Address, same.JumpLogin = "c", "10.0.0.3", nil
	m, err := toSite(engine.Site{Name: "x", Dir: t.TempDir(), Hosts: []engine.Host{h, pw, same}})
	if err != nil {
		t.Fatal(err)
	}
	type login struct {
		Address, User, KeyFile, Passphrase, Password string
		Port                                         int
		Agent                                        bool
	}
	var got []login
	for _, sh := range m.site.Hosts {
		j := m.site.Jump(sh)
		l := m.site.JumpLogin(j)
		got = append(got, login{Address: j.Address, Port: l.Port, User: l.User, KeyFile: l.Auth.KeyFile, Agent: l.Auth.Agent,
			Passphrase: m.getenv(l.Auth.KeyPassphraseEnv), Password: m.getenv(l.Auth.PasswordEnv)})
		if l.Auth.SudoPasswordEnv != "" {
			t.Errorf("%s: the bastion was handed a sudo password", sh.Name)
		}
	}
	want := []login{
		{Address: "bastion", Port: 2200, User: "gate", KeyFile: "/gate-key", Passphrase: "gate-pp"},
		{Address: "bastion", Port: 2200, User: "gate", Password: "gate-pw"},
		{Address: "bastion", Port: 2200, User: "ops", KeyFile: "/k"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("bastion logins (-want +got):\n%s", diff)
	}
	agent := h
	agent.JumpLogin = &engine.Login{User: "gate"}
	if m, err := toSite(engine.Site{Name: "x", Dir: t.TempDir(), Hosts: []engine.Host{agent}}); err != nil || !m.site.Hosts[0].JumpHost.Auth.Agent {
		t.Fatalf("bastion login without key or password: %v", err)
	}
	for _, tc := range []struct {
		name string
		l    engine.Login
		want string
	}{
		{"password", engine.Login{User: "gate", PasswordAuth: true}, "jump host bastion:2200 of a: authentication failed: it logs in with a password"},
		{"passphrase", engine.Login{User: "gate", KeyPath: "/gate-key", KeyEncrypted: true}, "key file /gate-key needs a passphrase"},
	} {
		bad := h
		bad.JumpLogin = &tc.l
		_, err := toSite(engine.Site{Name: "x", Dir: t.TempDir(), Hosts: []engine.Host{bad}})
		if !errors.Is(err, engine.ErrAuth) || !errors.Is(err, engine.ErrJumpHost) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bastion %s not entered: %v", tc.name, err)
		}
	}
}

// Install gives the installer's preflight gate no consent: a failing check that Ferry could fix (the two
// hosts share a hostname) stops Install before any host is changed. Fixes are applied only from the
// Checks screen (ApplyFixes), for exactly the checks the user saw.
func TestInstallAppliesNoFixOfItsOwn(t *testing.T) {
	s := fakeSite(t)
	s.Hosts = s.Hosts[:2]
	io, fakes, _ := fakeDial(t)
	e := New(Options{Installer: io})
	bundlePath := filepath.Join(t.TempDir(), "shop.ferry")
	if err := payload.Write(context.Background(), bundlePath, source(t), payload.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var notNeeded []string
	sink := func(ev progress.Event) {
		if ev.Msg == engine.MsgNotNeeded {
			notNeeded = append(notNeeded, ev.Phase)
		}
	}
	_, err := e.Install(context.Background(), engine.InstallRequest{Site: s, Bundle: engine.Bundle{Path: bundlePath}}, sink)
	if err == nil || !strings.Contains(err.Error(), "hostname") {
		t.Fatalf("install with a failing hostname check: %v", err)
	}
	// One server, so no other server joins: said before anything ran (even this install, stopped at its
	// preflight, said it), under the id the wizard's step list has for it.
	listed := map[string]bool{}
	for _, p := range e.InstallPhases(s, engine.Bundle{}) {
		listed[p.ID] = true
	}
	if len(notNeeded) != 1 || !listed[notNeeded[0]] || notNeeded[0] != "k3s.join-servers" {
		t.Errorf("phases said not needed: %q; want the one joining other servers, as listed by InstallPhases", notNeeded)
	}
	for _, f := range fakes {
		for _, c := range f.Cmds() {
			if !c.ReadOnly {
				t.Errorf("install changed %s without consent: %q", f.Name(), c.Line)
			}
		}
	}
}
