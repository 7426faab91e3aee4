package installlab

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/test/lab"
)

// An agent whose k3s cannot start (a foreign config drop-in with a key k3s refuses) makes Install fail
// with ErrNotReady after the ready timeout, showing that node's journal; once the operator removes the
// drop-in, a re-run completes.
func TestNotReadyShowsJournal(t *testing.T) {
	binDir := os.Getenv(EnvStandinBin)
	if binDir == "" && os.Getenv(lab.EnvEnable) == "1" {
		t.Fatal(EnvStandinBin + " not set: run make test-install")
	}
	l, inv := lab.TestSite(t, HALabID, []lab.HostSpec{{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}})
	bundlePath := testBundle(t, binDir)
	s, fps := labSite(t, inv, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	agent := inv.Hosts[1].Name
	if _, err := l.Run(ctx, agent, "mkdir -p /etc/rancher/k3s/config.yaml.d && echo 'ferry-test-bogus-key: 1' > /etc/rancher/k3s/config.yaml.d/zz-foreign.yaml"); err != nil {
		t.Fatal(err)
	}
	o := installer.InstallOptions{
		Options:  installer.Options{AcceptHostKeys: fps, Progress: func(e progress.Event) { t.Logf("%s | %s | %s %v", e.Phase, e.Host, e.Msg, e.Err) }},
		CacheDir: t.TempDir(), ReadyTimeout: 40 * time.Second,
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
