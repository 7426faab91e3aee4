package installer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// clashingSite is the site of the Install preflight tests: a server and an agent whose fake hosts answer
// the facts script with the same hostname (the one failure preflight finds there), and the Options that
// dial those fakes at a fixed laptop time.
func clashingSite(t *testing.T) (*site.Site, map[string]*hosttest.Fake, Options) {
	t.Helper()
	s := writeSite(t, `
name: plant-7
defaults: {auth: {agent: true}}
hosts:
  - {name: cp1, address: 10.0.0.1, role: server}
  - {name: a1, address: 10.0.0.2, role: agent}
`)
	fakes, dial := fakeHosts(t)
	return s, fakes, Options{Dial: dial, Now: func() time.Time { return time.Unix(1764140000, 0) }}
}

// Install runs the preflight checks after the facts: a failed check stops it with the host, the check
// and the fix, before the token phase or any write on any host; warnings reach the progress sink.
func TestInstallStopsOnFailedPreflight(t *testing.T) {
	s, fakes, opts := clashingSite(t)
	var events []progress.Event
	opts.Progress = func(e progress.Event) { events = append(events, e) }
	o := InstallOptions{Options: opts}
	// No bundle is needed: the install must stop before anything reads one.
	res, err := Install(context.Background(), s, nil, o)
	if !errors.Is(err, ErrPreflightFailed) {
		t.Fatalf("err = %v, want ErrPreflightFailed", err)
	}
	for _, want := range []string{"cp1: hostname: ", "a1: hostname: ", "fix: k3s node names must be unique", "nothing was changed on any host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if len(res.Actions) != 0 {
		t.Errorf("actions after a failed preflight: %+v", res.Actions)
	}
	for n, f := range fakes {
		if n == "a2" {
			continue
		}
		if len(f.Cmds()) == 0 {
			t.Fatalf("%s: no facts gathered", n)
		}
		for _, c := range f.Cmds() {
			if !c.ReadOnly {
				t.Errorf("failed preflight changed %s: %q", n, c.Line)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(s.RecordsDir(), LegacyTokenRecord)); err == nil {
		t.Error("token record written although preflight failed")
	}
	var warned, failedPhase bool
	for _, e := range events {
		warned = warned || (e.Phase == "Preflight checks" && e.Host != "" && strings.Contains(e.Msg, " warn: "))
		failedPhase = failedPhase || (e.Phase == "Preflight checks" && e.Msg == "failed")
	}
	if !warned || !failedPhase {
		t.Errorf("events: warning reported %v, phase failed %v: %+v", warned, failedPhase, events)
	}
}

// With consent the offered fixes run (under sudo) and the facts are gathered again; a failure they do
// not cover still stops the install, and the error says the fixes were the only change.
func TestInstallConsentedFixes(t *testing.T) {
	s, fakes, opts := clashingSite(t)
	var offered []preflight.Fix
	o := InstallOptions{Options: opts, Consent: func(f []preflight.Fix) []preflight.Fix { offered = f; return f }}
	// The fake hosts keep answering with the same hostname, so the clash survives the fix: the install
	// must still stop, having run only the fixes.
	_, err := Install(context.Background(), s, nil, o)
	if !errors.Is(err, ErrPreflightFailed) || !strings.Contains(err.Error(), "only the consented fixes were applied") {
		t.Fatalf("err = %v", err)
	}
	if len(offered) != 2 {
		t.Fatalf("offered %+v, want the hostname fix on cp1 and a1", offered)
	}
	for _, n := range []string{"cp1", "a1"} {
		for _, c := range fakes[n].Cmds() {
			if !c.ReadOnly && !(c.Sudo && strings.Contains(c.Line, "set-hostname "+n)) {
				t.Errorf("%s: unexpected change %q", n, c.Line)
			}
		}
	}
}

// A dry run with consent shows the failures the chosen fixes address as pending, not failed.
func TestPendingFixes(t *testing.T) {
	route := &preflight.Fix{Kind: preflight.FixRoute, Host: "h1", Desc: "add a route"}
	rs := []preflight.Result{
		{Check: "route", Host: "h1", Status: preflight.Fail, AutoFix: route},
		{Check: "clock", Host: "h1", Status: preflight.Fail, AutoFix: &preflight.Fix{Kind: preflight.FixClock, Host: "h1"}},
		{Check: "ports", Host: "h1", Status: preflight.Fail},
	}
	got := pendingFixes(rs, []preflight.Fix{*route})
	if got[0].Status != preflight.Warn || !strings.Contains(got[0].Detail, "would be fixed: add a route") {
		t.Errorf("route: %+v", got[0])
	}
	if got[1].Status != preflight.Fail || got[2].Status != preflight.Fail || rs[0].Status != preflight.Fail {
		t.Errorf("unchosen or input results changed: %+v / %+v", got, rs)
	}
}

// A failure no fix covers (here the data disk) stops the install before any consented fix runs: the
// user is not even asked, and no host changes.
func TestInstallNoFixWhileUnfixableFailure(t *testing.T) {
	s, fakes, opts := clashingSite(t)
	asked := false
	o := InstallOptions{Options: opts, Consent: func(f []preflight.Fix) []preflight.Fix { asked = true; return f }}
	cs, err := newState(s, o.Options)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.close()
	// Install's own first phases, with a disk requirement no fixture host meets.
	pp := installPreflight(cs, nil, o)
	pp.opts.NeedData = 1 << 50
	m := &phase.Manager{}
	cs.m = m
	m.Add(&connectPhase{st: cs}, &factsPhase{st: cs}, pp)
	err = m.Run(context.Background())
	if !errors.Is(err, ErrPreflightFailed) || !strings.Contains(err.Error(), "cp1: disk: ") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v", err)
	}
	if asked {
		t.Error("consent asked although a failure no fix covers remains")
	}
	for n, f := range fakes {
		for _, c := range f.Cmds() {
			if !c.ReadOnly {
				t.Errorf("%s changed: %q", n, c.Line)
			}
		}
	}
}
