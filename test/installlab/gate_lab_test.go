package installlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/test/lab"
)

// sudoPasswordEnv is the variable the site file names for the ferry user's password. The test hands
// the password over through InstallOptions.Getenv, as a laptop's environment would: never argv, never
// the site file.
const sudoPasswordEnv = "FERRY_LAB_FERRY_PASSWORD"

// untouched fails the test if Install left any trace on any host: k3s files, Ferry's records on the
// host, a default route (the consented fix must not run while another check fails).
func untouched(t *testing.T, ctx context.Context, l *lab.Lab, inv *lab.Inventory, s *site.Site, what string) {
	t.Helper()
	for _, h := range inv.Hosts {
		out, err := l.Run(ctx, h.Name, "for p in /usr/local/bin/k3s /opt/bin/k3s /etc/rancher /var/lib/ferry/k3s-created.list /var/lib/rancher/k3s "+
			"/etc/systemd/system/k3s.service /etc/systemd/system/k3s-agent.service; do [ -e $p ] && echo \"file $p\"; done; ip -4 route show default; true")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "" {
			t.Errorf("%s: %s changed %s:\n%s", what, "the refused install", h.Name, out)
		}
	}
	if _, err := os.Stat(filepath.Join(s.RecordsDir(), installer.LegacyTokenRecord)); err == nil {
		t.Errorf("%s: a token record was written", what)
	}
}

// An unreachable host stops Install with an error naming it, nothing changed elsewhere. Bad hosts are
// refused by Install's own preflight with the check's fix, and nothing changes on any host: port 6443 held by another service on the server; a data disk too small for the bundle. In
// between, an install through the non-root `ferry` user, whose sudo asks for its password, on the agent
// of a 2-node cluster completes, re-runs as a no-op and resets.
func TestInstallGateOnLab(t *testing.T) {
	binDir := lab.NeedEnv(t, EnvStandinBin, "test-install")
	l, inv := lab.TestSite(t, LabID, []lab.HostSpec{{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}})
	bundlePath := testBundle(t, binDir)
	server, agent := inv.Hosts[0], inv.Hosts[1]
	if agent.SudoUser == "" || agent.PasswordFile == "" {
		t.Fatal("the lab inventory gives no sudo user for " + agent.Name)
	}
	pw, err := agent.Password()
	if err != nil {
		t.Fatal(err)
	}
	// The server logs in as root with the lab key; the agent as the sudo user, by password.
	var b strings.Builder
	fmt.Fprintf(&b, "name: installgate\nrecords: %s\ndefaults: {user: root, auth: {keyFile: %s}}\nhosts:\n", filepath.Join(t.TempDir(), "records"), server.KeyFile)
	fmt.Fprintf(&b, "  - {name: %s, address: %s, port: %d, role: server}\n", server.Name, server.Address, server.SSHPort())
	fmt.Fprintf(&b, "  - {name: %s, address: %s, port: %d, role: agent, user: %s, auth: {passwordEnv: %s, sudoPasswordEnv: %s}}\n",
		agent.Name, agent.Address, agent.SSHPort(), agent.SudoUser, sudoPasswordEnv, sudoPasswordEnv)
	b.WriteString(standinK3s)
	s := loadSite(t, b.String())
	if strings.Contains(b.String(), pw) {
		t.Fatal("the password ended up in the site file")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	o := installer.InstallOptions{
		Options: installer.Options{AcceptHostKeys: []string{server.Fingerprint, agent.Fingerprint},
			Getenv: func(k string) string {
				if k == sudoPasswordEnv {
					return pw
				}
				return ""
			},
			Progress: func(e progress.Event) { t.Logf("%s | %s | %s %v", e.Phase, e.Host, e.Msg, e.Err) }},
		CacheDir: t.TempDir(), ReadyTimeout: 5 * time.Minute, Consent: consentRoute,
	}

	// The agent unreachable (its link cut): a clear error naming it, nothing changed on the server.
	if err := l.CutLink(ctx, agent.Name); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = installer.Install(ctx, s, mustOpen(t, bundlePath), o)
	if err == nil || !strings.Contains(err.Error(), agent.Name) || strings.Contains(err.Error(), server.Name+":") {
		t.Fatalf("install with %s cut off: %v, want an error naming only it", agent.Name, err)
	}
	t.Logf("MEASURE unreachable host refused after %s:\n%v", time.Since(began).Round(time.Second), err)
	if err := l.RestoreLink(ctx, agent.Name); err != nil {
		t.Fatal(err)
	}
	untouched(t, ctx, l, inv, s, "agent unreachable")

	// Port 6443 held on the server by another service.
	if err := l.OccupyPort(ctx, server.Name, 6443); err != nil {
		t.Fatal(err)
	}
	_, err = installer.Install(ctx, s, mustOpen(t, bundlePath), o)
	if !errors.Is(err, installer.ErrPreflightFailed) {
		t.Fatalf("install with 6443 busy: %v, want ErrPreflightFailed", err)
	}
	for _, want := range []string{server.Name + ": ports: in use: 6443/tcp", "fix: stop the service using 6443/tcp", "nothing was changed on any host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	t.Logf("port refusal:\n%v", err)
	untouched(t, ctx, l, inv, s, "port 6443 busy")
	if err := l.FreePort(ctx, server.Name, 6443); err != nil {
		t.Fatal(err)
	}

	// Through the sudo user on the agent: completes, and a re-run changes nothing.
	began = time.Now()
	if _, err := installer.Install(ctx, s, mustOpen(t, bundlePath), o); err != nil {
		t.Fatalf("install with the agent through %s (sudo with password): %v", agent.SudoUser, err)
	}
	t.Logf("MEASURE install of 1 server + 1 agent through a password-sudo user: %s", time.Since(began).Round(time.Second))
	if out, err := l.Run(ctx, agent.Name, "stat -c %U /usr/local/bin/k3s; systemctl is-active k3s-agent"); err != nil || strings.Fields(out)[0] != "root" || strings.Fields(out)[1] != "active" {
		t.Errorf("agent after the sudo install: %q %v, want a root-owned binary and an active k3s-agent", out, err)
	}
	res, err := installer.Install(ctx, s, mustOpen(t, bundlePath), o)
	if err != nil {
		t.Fatalf("re-run through the sudo user: %v", err)
	}
	if len(res.Actions) != 0 {
		t.Errorf("re-run changed things: %+v", res.Actions)
	}
	if _, err := installer.Reset(ctx, s, installer.ResetOptions{Options: o.Options}); err != nil {
		t.Fatal(err)
	}
	// Reset leaves the consented route (it is not k3s's); drop it so the next refusal starts clean.
	for _, h := range inv.Hosts {
		if _, err := l.Run(ctx, h.Name, "ip route del default; ip link del ferry-dummy0 2>/dev/null; true"); err != nil {
			t.Fatal(err)
		}
	}
	untouched(t, ctx, l, inv, s, "after reset")

	// The server's data disk (/var/lib/rancher) too small for the bundle.
	if err := l.SmallDataFS(ctx, server.Name, 64, 8); err != nil {
		t.Fatal(err)
	}
	_, err = installer.Install(ctx, s, mustOpen(t, bundlePath), o)
	if !errors.Is(err, installer.ErrPreflightFailed) {
		t.Fatalf("install on a small data disk: %v, want ErrPreflightFailed", err)
	}
	re := regexp.MustCompile(regexp.QuoteMeta(server.Name) + `: disk: /var/lib/rancher\S* has \d[\d.]* MiB free, needs \d[\d.]* [MG]iB\n\s+fix: free `)
	if !re.MatchString(err.Error()) || !strings.Contains(err.Error(), "nothing was changed on any host") {
		t.Errorf("error does not name free vs needed space on %s:\n%v", server.Name, err)
	}
	t.Logf("disk refusal:\n%v", err)
	untouched(t, ctx, l, inv, s, "small data disk")
}
