package installer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/google/go-cmp/cmp"
)

func writeSite(t *testing.T, body string) *site.Site {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := site.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const fakeSite = `
name: plant-7
defaults: {auth: {agent: true}}
hosts:
  - {name: cp1, address: 10.0.0.1, role: server}
  - {name: a1, address: 10.0.0.2, role: agent}
  - {name: a2, address: 10.0.0.3, role: agent}
`

// fakeHosts answers the facts script with the Debian fixture, all hosts with the same hostname.
func fakeHosts(t *testing.T) (map[string]*hosttest.Fake, func(context.Context, site.Host, ssh.Config) (host.Host, error)) {
	out, err := os.ReadFile("preflight/testdata/debian-systemd.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Root login, no k3s, nothing on the flannel port: only the hostname clash should fail.
	fixture := strings.NewReplacer("### id\n1000", "### id\n0", "file /usr/local/bin/k3s\nmarker plant-7\n", "").Replace(string(out))
	fakes := map[string]*hosttest.Fake{}
	for _, n := range []string{"cp1", "a1", "a2"} {
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
		if h.Name == "a2" {
			return nil, &ssh.HostKeyError{Host: "a2"}
		}
		return fakes[h.Name], nil
	}
	return fakes, dial
}

func TestPreflightWithFakes(t *testing.T) {
	s := writeSite(t, fakeSite)
	fakes, dial := fakeHosts(t)
	var events []progress.Event
	o := PreflightOptions{Options: Options{Dial: dial, Now: func() time.Time { return time.Unix(1764140000, 0) }, Progress: func(e progress.Event) { events = append(events, e) }},
		Platforms: []string{"amd64"}, NeedData: 1 << 30, NeedBin: 100 << 20}
	rep, err := Preflight(context.Background(), s, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rep.Unreachable["a2"]; !ok || len(rep.Unreachable) != 1 {
		t.Fatalf("unreachable: %v", rep.Unreachable)
	}
	failed := map[string]bool{}
	for _, r := range rep.Results {
		if r.Status == preflight.Fail {
			failed[r.Host+"/"+r.Check] = true
		}
	}
	if len(failed) != 2 || !failed["cp1/hostname"] || !failed["a1/hostname"] {
		t.Fatalf("failures %v, want only the hostname clash on cp1 and a1", failed)
	}
	if rep.OK() {
		t.Fatal("report OK despite failures")
	}
	for _, f := range fakes {
		for _, c := range f.Cmds() {
			if !c.ReadOnly {
				t.Fatalf("preflight without consent changed %s: %q", f.Name(), c.Line)
			}
		}
	}
	if d := cmp.Diff([]string{"Connect to hosts", "Gather host facts", "Preflight checks"}, PreflightSteps()); d != "" {
		t.Fatal(d)
	}
	if len(events) == 0 || events[0].Phase != "Connect to hosts" {
		t.Fatalf("events: %+v", events)
	}

	// Dry run with consent: the fixes are listed, not run.
	fakes, dial = fakeHosts(t)
	o.Dial, o.DryRun = dial, true
	o.Consent = func(f []preflight.Fix) []preflight.Fix { return f }
	rep, err = Preflight(context.Background(), s, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Fixed) != 2 || len(rep.DrySteps) != 2 || !strings.Contains(rep.DrySteps[0].Msg, "hostnamectl set-hostname") {
		t.Fatalf("dry run: fixed %+v, steps %+v", rep.Fixed, rep.DrySteps)
	}
	for _, f := range fakes {
		for _, c := range f.Cmds() {
			if !c.ReadOnly {
				t.Fatalf("dry run changed %s: %q", f.Name(), c.Line)
			}
		}
	}

	// With consent: the hostname fix runs on both clashing hosts.
	fakes, dial = fakeHosts(t)
	o.Dial, o.DryRun = dial, false
	if rep, err = Preflight(context.Background(), s, o); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"cp1", "a1"} {
		var ran bool
		for _, c := range fakes[n].Cmds() {
			ran = ran || (c.Sudo && strings.Contains(c.Line, "set-hostname "+n))
		}
		if !ran {
			t.Fatalf("hostname fix not run on %s: %+v", n, fakes[n].Cmds())
		}
	}
}

func TestPreflightCancelled(t *testing.T) {
	s := writeSite(t, fakeSite)
	_, dial := fakeHosts(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Preflight(ctx, s, PreflightOptions{Options: Options{Dial: dial}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
