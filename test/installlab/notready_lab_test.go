package installlab

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/test/lab"
)

// A host with a k3s that is not Ferry's is refused untouched. Then an agent whose k3s cannot start (a foreign config drop-in with a key k3s refuses) makes Install fail
// with ErrNotReady after the ready timeout, showing that node's journal; once the operator removes the
// drop-in, a re-run completes.
func TestNotReadyShowsJournal(t *testing.T) {
	binDir := lab.NeedEnv(t, EnvStandinBin, "test-install")
	l, inv := lab.TestSite(t, HALabID, []lab.HostSpec{{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}})
	bundlePath := testBundle(t, binDir)
	s, fps := labSite(t, inv, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	agent := inv.Hosts[1].Name
	o := installer.InstallOptions{
		Options:  installer.Options{AcceptHostKeys: fps, Progress: func(e progress.Event) { t.Logf("%s | %s | %s %v", e.Phase, e.Host, e.Msg, e.Err) }},
		CacheDir: t.TempDir(), ReadyTimeout: 40 * time.Second, Consent: consentRoute,
	}

	// A k3s that is not Ferry's is refused by preflight before anything is written on any host (not even
	// the consented route fix: a failure no fix covers stops everything).
	if err := l.InstallForeignK3s(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if _, err := installer.Install(ctx, s, mustOpen(t, bundlePath), o); !errors.Is(err, installer.ErrForeignK3s) {
		t.Fatalf("install over a foreign k3s: %v, want ErrForeignK3s", err)
	}
	for n, r := range defaultRoutes(t, ctx, l, inv) {
		if r != "" {
			t.Fatalf("refused install changed %s: default route %q", n, r)
		}
	}
	if out, _ := l.Run(ctx, agent, "ls /var/lib/ferry/k3s-created.list /etc/rancher 2>/dev/null; grep -c 'Ferry site lab' /usr/local/bin/k3s"); strings.TrimSpace(out) != "1" {
		t.Fatalf("Ferry touched the foreign k3s host: %s", out)
	}
	if _, err := l.Run(ctx, agent, "systemctl disable --now k3s.service && rm -f /usr/local/bin/k3s /etc/systemd/system/k3s.service && systemctl daemon-reload"); err != nil {
		t.Fatal(err)
	}

	if _, err := l.Run(ctx, agent, "mkdir -p /etc/rancher/k3s/config.yaml.d && echo 'ferry-test-bogus-key: 1' > /etc/rancher/k3s/config.yaml.d/zz-foreign.yaml"); err != nil {
		t.Fatal(err)
	}
	_, err := installer.Install(ctx, s, mustOpen(t, bundlePath), o)
	if !errors.Is(err, installer.ErrNotReady) {
		t.Fatalf("install with a broken agent: %v, want ErrNotReady", err)
	}
	if !strings.Contains(err.Error(), "last lines of the k3s log on "+agent) || !strings.Contains(err.Error(), "ferry-test-bogus-key") {
		t.Fatalf("the error does not show %s's journal naming the bad key:\n%v", agent, err)
	}
	if _, err := l.Run(ctx, agent, "rm -f /etc/rancher/k3s/config.yaml.d/zz-foreign.yaml"); err != nil {
		t.Fatal(err)
	}
	o.ReadyTimeout = 5 * time.Minute
	res, err := installer.Install(ctx, s, mustOpen(t, bundlePath), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Actions {
		if strings.HasPrefix(a.What, "uploaded") || strings.HasPrefix(a.What, "wrote") {
			t.Errorf("the re-run after the fix rewrote something: %+v", a)
		}
	}
	if _, err := installer.Reset(ctx, s, installer.ResetOptions{Options: o.Options}); err != nil {
		t.Fatal(err)
	}
}
