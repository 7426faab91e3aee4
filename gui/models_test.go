package gui

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/widget"
	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
	"github.com/ferry-delivery/ferry/internal/progress"
)

func TestMain(m *testing.M) {
	_ = SetLanguage(LangEN)
	m.Run()
}

func TestSchemaFormDefaultsValuesAndValidation(t *testing.T) {
	f, err := ParseSchema([]byte(fakeengine.DemoSchema))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range f.Leaves {
		ids = append(ids, l.ID())
	}
	// The author's order, nested objects by path.
	if d := cmp.Diff([]string{"hostname", "replicas", "cpuLimit", "tls", "logLevel", "db.size"}, ids); d != "" {
		t.Fatalf("fields (-want +got):\n%s", d)
	}
	// values.yaml and extra keys the form does not show survive; defaults fill the rest.
	f.SetValues(map[string]any{"replicas": float64(4), "extra": map[string]any{"keep": "me"}})
	vals, errs := f.Values()
	if len(errs) != 0 {
		t.Fatalf("errors on defaults: %v", errs)
	}
	want := map[string]any{"hostname": "shop.local", "replicas": int64(4), "cpuLimit": 0.5, "tls": true, "logLevel": "info",
		"db": map[string]any{"size": "10Gi"}, "extra": map[string]any{"keep": "me"}}
	if d := cmp.Diff(want, vals); d != "" {
		t.Fatalf("values (-want +got):\n%s", d)
	}
	leaf := func(id string) *Field {
		for _, l := range f.Leaves {
			if l.ID() == id {
				return l
			}
		}
		t.Fatalf("no field %s", id)
		return nil
	}
	for _, tc := range []struct{ id, text, wantErr string }{
		{"replicas", "2.5", "Web replicas must be a whole number."},
		{"replicas", "0", "Web replicas must be at least 1."},
		{"replicas", "10", "Web replicas must be at most 9."},
		{"cpuLimit", "lots", "CPU limit (cores) must be a number."},
		{"hostname", "", "Public host name is required."},
		{"hostname", "Shop Local", "Public host name must match ^[a-z0-9.-]+$."},
		{"logLevel", "trace", "Log level must be one of: debug, info, warn, error."},
		{"replicas", "3", ""},
		{"cpuLimit", "", ""}, // optional: left out of the values
	} {
		t.Run(tc.id+"="+tc.text, func(t *testing.T) {
			f.SetValues(nil)
			_ = leaf(tc.id).Text.Set(tc.text)
			vals, errs := f.Values()
			if errs[tc.id] != tc.wantErr {
				t.Fatalf("error %q, want %q", errs[tc.id], tc.wantErr)
			}
			if tc.wantErr == "" && tc.text == "" {
				if _, ok := vals[tc.id]; ok {
					t.Fatalf("empty optional %s is in the values", tc.id)
				}
			}
		})
	}
}

func TestSchemaYAMLRoundTripAndBadSchemas(t *testing.T) {
	f, _ := ParseSchema([]byte(fakeengine.DemoSchema))
	if err := f.SetYAML([]byte("hostname: a.example\nreplicas: 7\ndb:\n  size: 20Gi\n")); err != nil {
		t.Fatal(err)
	}
	out, errs, err := f.YAML()
	if err != nil || len(errs) != 0 {
		t.Fatal(err, errs)
	}
	for _, want := range []string{"hostname: a.example", "replicas: 7", "size: 20Gi", "logLevel: info"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("YAML lacks %q:\n%s", want, out)
		}
	}
	if err := f.SetYAML([]byte("a: [")); err == nil {
		t.Error("bad YAML accepted")
	}
	for _, bad := range []string{`{`, `{"type":"string"}`, `{"type":"object","properties":{"x":{"type":"string","pattern":"("}}}`} {
		if _, err := ParseSchema([]byte(bad)); err == nil {
			t.Errorf("schema %s accepted", bad)
		}
	}
	// Arrays are left to the YAML editor, and a type list picks the non-null type.
	f, err = ParseSchema([]byte(`{"type":"object","properties":{"tags":{"type":"array"},"n":{"type":["null","integer"]}}}`))
	if err != nil || len(f.Leaves) != 1 || f.Leaves[0].Type != "integer" {
		t.Fatalf("leaves %+v %v", f.Leaves, err)
	}
}

func TestConfigureVMFallsBackToYAML(t *testing.T) {
	b := fakeengine.DemoBundle("/b", "1.0.0")
	b.ValuesSchema = nil
	vm := NewConfigureVM(b, nil)
	if vm.Form != nil {
		t.Fatal("a form without a schema")
	}
	_ = vm.YAML.Set("replicas: [")
	if _, ok := vm.Validate(true); ok {
		t.Fatal("invalid YAML passed")
	}
	_ = vm.YAML.Set("replicas: 3\n")
	if out, ok := vm.Validate(true); !ok || string(out) != "replicas: 3\n" {
		t.Fatalf("%q %v", out, ok)
	}
	// Earlier site values win over the chart's defaults.
	vm = NewConfigureVM(fakeengine.DemoBundle("/b", "1.0.0"), []byte("replicas: 5\n"))
	out, ok := vm.Validate(false)
	if !ok || !strings.Contains(string(out), "replicas: 5") || !strings.Contains(string(out), "hostname: shop.local") {
		t.Fatalf("%s %v", out, ok)
	}
}

func TestTransferText(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		rate        float64
		want        string
	}{
		{512, 1024, 0, "512 B / 1.0 KiB"},
		{48 << 20, 96 << 20, 16 << 20, "48.0 MiB / 96.0 MiB · 16.0 MiB/s · about 3s left"},
		{96 << 20, 96 << 20, 16 << 20, "96.0 MiB / 96.0 MiB"},
		{1 << 30, 3 << 30, 100 << 20, "1.0 GiB / 3.0 GiB · 100.0 MiB/s · about 20s left"},
	} {
		if got := transferText(tc.done, tc.total, tc.rate); got != tc.want {
			t.Errorf("transferText(%d,%d,%v) = %q, want %q", tc.done, tc.total, tc.rate, got, tc.want)
		}
	}
}

func TestRunProgressStatesRatesAndResume(t *testing.T) {
	phases := []engine.Phase{{ID: "a", Title: "A"}, {ID: "b", Title: "B"}, {ID: "c", Title: "C"}}
	p := NewRunProgress(phases, []string{"h1"})
	t0 := time.Unix(1000, 0)
	p.Apply(progress.Event{Phase: "a", Msg: "started"})
	p.Apply(progress.Event{Phase: "b", Host: "h1", Done: 0, Total: 100 << 20, Time: t0})
	p.Apply(progress.Event{Phase: "b", Host: "h1", Done: 50 << 20, Total: 100 << 20, Time: t0.Add(5 * time.Second)})
	p.Flush()
	if p.State(0) != PhaseDone || p.State(1) != PhaseRunning || p.State(2) != PhasePending {
		t.Fatalf("states %v %v %v", p.State(0), p.State(1), p.State(2))
	}
	if txt, _ := p.HostTexts[0].Get(); txt != "50.0 MiB / 100.0 MiB · 10.0 MiB/s · about 5s left" {
		t.Fatalf("host text %q", txt)
	}
	if v, _ := p.HostBars[0].Get(); v != 0.5 {
		t.Fatalf("bar %v", v)
	}
	p.Apply(progress.Event{Phase: "b", Msg: "boom", Err: errors.New("boom")})
	p.Finish(errors.New("boom"))
	if p.State(1) != PhaseFailed {
		t.Fatal("failed phase not marked")
	}
	// A retry: the done phase stays done even though the engine reports it skipped.
	p.Begin()
	p.Apply(progress.Event{Phase: "a", Msg: engine.MsgSkipped})
	if p.State(0) != PhaseDone || p.State(1) != PhasePending {
		t.Fatalf("after Begin: %v %v", p.State(0), p.State(1))
	}
	p.Finish(nil)
	for i := range phases {
		if p.State(i) != PhaseDone {
			t.Fatalf("phase %d not done after success", i)
		}
	}
	// The log is bounded.
	for i := 0; i < maxLogLines+10; i++ {
		p.Apply(progress.Event{Msg: fmt.Sprint(i)})
	}
	p.Flush()
	if l, _ := p.Log.Get(); len(l) != maxLogLines || l[len(l)-1] != fmt.Sprint(maxLogLines+9) {
		t.Fatalf("log has %d lines, last %q", len(l), l[len(l)-1])
	}
}

// A phase the engine says has nothing to do shows as not needed at once, while the running phase keeps
// running; it is not logged, survives a retry's Begin, and a successful end does not turn it into "done".
func TestRunProgressNotNeeded(t *testing.T) {
	phases := []engine.Phase{{ID: "a", Title: "A"}, {ID: "b", Title: "B"}, {ID: "c", Title: "C"}}
	p := NewRunProgress(phases, nil)
	p.Apply(progress.Event{Phase: "a", Msg: "started"})
	p.Apply(progress.Event{Phase: "b", Msg: engine.MsgNotNeeded})
	if p.State(0) != PhaseRunning || p.State(1) != PhaseNotNeeded || p.State(2) != PhasePending {
		t.Fatalf("states %v %v %v, want running, not needed, pending", p.State(0), p.State(1), p.State(2))
	}
	p.Flush()
	if v, _ := p.PhaseStates[1].Get(); PhaseState(v) != PhaseNotNeeded || phaseStateText(PhaseState(v)) != "not needed" {
		t.Fatalf("bound state %v (%q)", v, phaseStateText(PhaseState(v)))
	}
	if l, _ := p.Log.Get(); len(l) != 1 {
		t.Fatalf("log %q: only the start is a log line", l)
	}
	p.Apply(progress.Event{Phase: "c", Msg: "failed", Err: errors.New("boom")})
	p.Finish(errors.New("boom"))
	p.Begin()
	if p.State(1) != PhaseNotNeeded {
		t.Fatalf("after a retry's Begin: %v", p.State(1))
	}
	p.Finish(nil)
	if p.State(1) != PhaseNotNeeded || p.State(2) != PhaseDone {
		t.Fatalf("after success: %v %v", p.State(1), p.State(2))
	}
}

func TestRollbackTargetsAndPlanWarning(t *testing.T) {
	h := []engine.Release{
		{Version: "1.1.0", Kept: true}, {Version: "1.2.0", Kept: true}, {Version: "1.1.0", Kept: true},
		{Version: "1.0.0", Kept: true}, {Version: "0.9.0", Kept: false},
	}
	if d := cmp.Diff([]string{"1.2.0", "1.0.0"}, RollbackTargets("1.1.0", h)); d != "" {
		t.Fatal(d)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"1.0.0", "1.1.0", ""},
		{"1.1.0", "1.1.0", "already runs"},
		{"1.1.0", "1.0.0", "older"},
		{"custom", "1.0.0", ""},
	} {
		got := PlanWarning(engine.UpgradePlan{From: tc.from, To: tc.to})
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("PlanWarning(%s→%s) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestExplainPicksAdviceBySentinel(t *testing.T) {
	for _, tc := range []struct {
		err  error
		next string
	}{
		{fmt.Errorf("connecting to a: %w", engine.ErrHostKeyMismatch), "someone may be intercepting"},
		{fmt.Errorf("connecting to a: %w", engine.ErrAuth), "key file or password"},
		{fmt.Errorf("connecting to a: %w", engine.ErrUnreachable), "port 22"},
		{fmt.Errorf("opening: %w", engine.ErrBundleCorrupt), "Copy the bundle again"},
		{fmt.Errorf("installing: %w", context.Canceled), "Retry"},
		{errors.New("disk on fire"), "copy them"},
	} {
		p := explain(tc.err)
		if !strings.Contains(p.Next, tc.next) || p.Details != tc.err.Error() || p.What == "" {
			t.Errorf("explain(%v) = %+v, want next containing %q", tc.err, p, tc.next)
		}
	}
}

func TestHostsVMValidationAndKeys(t *testing.T) {
	w, f := newTestWizard(t)
	vm := NewHostsVM("", nil)
	if ok, _ := vm.CanContinue(); ok {
		t.Fatal("continue with no name and no hosts")
	}
	for _, tc := range []struct {
		set  func()
		want error
	}{
		{func() {}, errHostAddress},
		{func() { _ = vm.Address.Set("h1") }, errHostAuth},
		{func() { _ = vm.Port.Set("99999") }, errHostPort},
		{func() { _ = vm.Port.Set("22"); _ = vm.User.Set(" ") }, errHostUser},
		{func() { _ = vm.User.Set("ops"); _ = vm.Name.Set("../x") }, errHostName},
		{func() { _ = vm.Name.Set(""); _ = vm.Auth.Set(AuthPassword); _ = vm.Password.Set("s3cret") }, nil},
	} {
		tc.set()
		if err := vm.Save(); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Fatalf("Save = %v, want %v", err, tc.want)
		}
	}
	if es := vm.Entries(); len(es) != 1 || es[0].Host.Name != "h1" || es[0].Host.Password != "s3cret" || es[0].Host.Role != engine.RoleServer {
		t.Fatalf("entries %+v", es)
	}
	vm.New()
	_ = vm.Address.Set("h1")
	_ = vm.KeyPath.Set("/k")
	if err := vm.Save(); !errors.Is(err, errHostDup) {
		t.Fatalf("duplicate accepted: %v", err)
	}
	vm.Select(0)
	_ = vm.SiteName.Set("site-1")

	// First contact: a new key must be accepted; then the host is usable.
	if err := vm.Test(w); err != nil {
		t.Fatal(err)
	}
	w.Wait()
	if e := vm.Entries()[0]; e.State != ConnNewKey || e.Host.HostKey != "" {
		t.Fatalf("after first contact: %+v", e)
	}
	if ok, why := vm.CanContinue(); ok || !strings.Contains(why, "accept its key") {
		t.Fatalf("continue before accepting: %v %q", ok, why)
	}
	vm.AcceptKey(0)
	if ok, why := vm.CanContinue(); !ok {
		t.Fatalf("cannot continue after accepting: %s", why)
	}
	// The host's key changes (reinstall or attack): a red stop, and the accepted key is not replaced.
	accepted := vm.Entries()[0].Host.HostKey
	line, _ := fakeengine.FakeKey("h1", "2")
	f.SetHostKey("h1", line)
	_ = vm.Test(w)
	w.Wait()
	e := vm.Entries()[0]
	if e.State != ConnKeyChanged || e.Host.HostKey != accepted || !errors.Is(e.Err, engine.ErrHostKeyMismatch) {
		t.Fatalf("after key change: %+v", e)
	}
	vm.AcceptKey(0) // only first-contact keys can be accepted
	if vm.Entries()[0].Host.HostKey != accepted {
		t.Fatal("a changed key was accepted")
	}
	if ok, _ := vm.CanContinue(); ok {
		t.Fatal("continue with a changed host key")
	}
	// Agents alone are not a cluster.
	aKey, _ := fakeengine.FakeKey("a", "1")
	vm2 := NewHostsVM("s", []engine.Host{{Name: "a", Address: "a", User: "u", KeyPath: "/k", Role: engine.RoleAgent, HostKey: aKey}})
	_ = vm2.Test(w)
	w.Wait()
	if ok, why := vm2.CanContinue(); ok || !strings.Contains(why, "server role") {
		t.Fatalf("agents only: %v %q", ok, why)
	}
}

func TestHostKeyChangedScreenIsARedStop(t *testing.T) {
	w, f := newTestWizard(t)
	installReady(w)
	w.ShowHosts()
	line, _ := fakeengine.FakeKey("node1", "2")
	f.SetHostKey("node1", line)
	tap(t, w, "Test connection")
	mustContain(t, w, "STOP: the identity key of node1 has changed.", "someone may be intercepting", "KEY CHANGED", "do not continue until")
	for _, b := range buttonTexts(w) {
		if strings.Contains(b, "trust this host") {
			t.Fatal("a changed key can be accepted from the screen")
		}
	}
	if !button(t, w, "Next").Disabled() {
		t.Fatal("Next is enabled with a changed host key")
	}
	golden(t, w, "hosts-key-changed.xml")
}

func TestUnsignedBundleNeedsExplicitConfirmation(t *testing.T) {
	w, f := newTestWizard(t)
	b := fakeengine.DemoBundle("/media/usb/shop-unsigned.ferry", "1.0.0")
	b.Trust, b.Signer = engine.TrustUnsigned, ""
	f.AddBundle(b)
	tap(t, w, "Install a new site")
	setText(entry(t, w, "Path to the .ferry bundle file"), b.Path)
	tap(t, w, "Verify")
	mustContain(t, w, "DANGER: this bundle is not signed.", "none (not signed)")
	if !button(t, w, "Next").Disabled() {
		t.Fatal("Next is enabled for an unsigned bundle without confirmation")
	}
	golden(t, w, "bundle-unsigned.xml")
	var ack *widget.Check
	for _, o := range objects(w) {
		if c, ok := o.(*widget.Check); ok && strings.Contains(c.Text, "accept the risk") {
			ack = c
		}
	}
	if ack == nil {
		t.Fatal("no confirmation check box")
	}
	ack.SetChecked(true)
	if button(t, w, "Next").Disabled() {
		t.Fatal("Next stays disabled after the explicit confirmation")
	}
}

func TestBundleErrorsAreExplained(t *testing.T) {
	w, _ := newTestWizard(t)
	tap(t, w, "Install a new site")
	setText(entry(t, w, "Path to the .ferry bundle file"), t.TempDir()) // a folder, not a bundle
	tap(t, w, "Verify")
	mustContain(t, w, "The bundle file is damaged or incomplete.", "Copy the bundle again")
	tap(t, w, "Copy details")
	if got := w.App.Clipboard().Content(); !strings.Contains(got, "it is a folder") || !strings.Contains(got, "Copy the bundle again") {
		t.Fatalf("clipboard %q", got)
	}
}

// A host behind a jump host: the bastion's fingerprint first (the host is not reached yet), accepting it
// tests again and shows the host's own fingerprint beside the bastion's; both end up accepted, and a
// bastion presenting another key later is a red stop on the bastion.
func TestJumpHostShowsBothFingerprints(t *testing.T) {
	w, f := newTestWizard(t)
	w.Site = NewSiteModel()
	w.Site.Name = "plant-9"
	w.Site.Bundle = fakeengine.DemoBundle(bundlePath, "1.0.0")
	w.ShowHosts()
	setText(formEntry(t, w, "Name"), "node1")
	setText(formEntry(t, w, "Address"), "node1")
	setText(entry(t, w, "~/.ssh/id_ed25519"), "/k")
	setText(entry(t, w, "optional: bastion or bastion:2222"), "bastion:2222")
	checkBox(t, w, "Own login on the jump host").SetChecked(true)
	setText(entry(t, w, "user on the jump host"), "ops")
	setText(entry(t, w, "key file for the jump host, e.g. ~/.ssh/bastion"), "/kb")
	tap(t, w, "Test connection")
	_, jfp := fakeengine.FakeKey("bastion", "1")
	_, hfp := fakeengine.FakeKey("node1", "1")
	mustContain(t, w, "First connection to the jump host ops@bastion:2222", jfp, "accept key?")
	if strings.Contains(screenText(w), hfp) {
		t.Fatal("the host's key is shown before the bastion's was accepted: the host must not have been reached")
	}
	golden(t, w, "hosts-jump-newkey.xml")
	if !button(t, w, "Next").Disabled() {
		t.Fatal("Next is enabled before the jump host's key is accepted")
	}

	tap(t, w, "The fingerprints match: trust this host")
	w.Wait()
	mustContain(t, w, "First connection to node1", hfp, "Reached through the jump host ops@bastion:2222, whose key you accepted: "+jfp)
	golden(t, w, "hosts-jump-hostkey.xml")
	if !button(t, w, "Next").Disabled() {
		t.Fatal("Next is enabled before the host's own key is accepted")
	}
	tap(t, w, "The fingerprints match: trust this host")
	tap(t, w, "Test connection")
	w.Wait()
	mustContain(t, w, "Connected: Debian GNU/Linux 12 (amd64), key "+hfp, "through the jump host ops@bastion:2222, key "+jfp)
	if button(t, w, "Next").Disabled() {
		t.Fatal("Next is disabled with both keys accepted")
	}
	jline, _ := fakeengine.FakeKey("bastion", "1")
	if h := w.Site.Hosts; len(h) != 0 {
		t.Fatalf("the site's hosts changed before Next: %+v", h)
	}
	tap(t, w, "Next")
	if len(w.Site.Hosts) != 1 || w.Site.Hosts[0].JumpHostKey != jline || w.Site.Hosts[0].HostKey == "" ||
		w.Site.Hosts[0].JumpHost != "bastion:2222" || *w.Site.Hosts[0].JumpLogin != (engine.Login{User: "ops", KeyPath: "/kb"}) {
		t.Fatalf("hosts after Next: %+v", w.Site.Hosts)
	}

	w.ShowHosts()
	other, _ := fakeengine.FakeKey("bastion", "2")
	f.SetHostKey("bastion", other)
	tap(t, w, "Test connection")
	w.Wait()
	mustContain(t, w, "STOP: the identity key of the jump host ops@bastion:2222 has changed.", "KEY CHANGED")
	for _, b := range buttonTexts(w) {
		if strings.Contains(b, "trust this host") {
			t.Fatal("a changed jump host key can be accepted from the screen")
		}
	}
	if !button(t, w, "Next").Disabled() {
		t.Fatal("Next is enabled with a changed jump host key")
	}
	golden(t, w, "hosts-jump-changed.xml")
}

func TestConnState(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    engine.Connection
		err  error
		want ConnState
	}{
		{"direct, new", engine.Connection{KeyStatus: engine.KeyNew}, nil, ConnNewKey},
		{"direct, known", engine.Connection{KeyStatus: engine.KeyKnown}, nil, ConnOK},
		{"jump new, host unchecked", engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: &engine.KeyCheck{Status: engine.KeyNew}}, nil, ConnNewKey},
		{"jump known, host new", engine.Connection{KeyStatus: engine.KeyNew, Jump: &engine.KeyCheck{Status: engine.KeyKnown}}, nil, ConnNewKey},
		{"jump changed", engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: &engine.KeyCheck{Status: engine.KeyChanged}}, engine.ErrHostKeyMismatch, ConnKeyChanged},
		{"jump changed, error lost", engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: &engine.KeyCheck{Status: engine.KeyChanged}}, nil, ConnKeyChanged},
		{"host changed behind a known jump", engine.Connection{KeyStatus: engine.KeyChanged, Jump: &engine.KeyCheck{Status: engine.KeyKnown}}, engine.ErrHostKeyMismatch, ConnKeyChanged},
		{"jump unreachable", engine.Connection{}, engine.ErrUnreachable, ConnFailed},
		{"unchecked without a new key", engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: &engine.KeyCheck{Status: engine.KeyKnown}}, nil, ConnUntested},
	} {
		if got := connState(tc.c, tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The engine's own start/done/failed events are worded by the wizard, with the step's title and, for a
// failure, the engine's error; its free-form news is logged as it said it; the failed step is known.
func TestRunProgressWordsTheEnginesStepEvents(t *testing.T) {
	phases := []engine.Phase{{ID: "k3s.connect", Title: "Connect to hosts"}, {ID: "x.new", Title: "A newer step"}}
	p := NewRunProgress(phases, []string{"h1"})
	p.Apply(progress.Event{Phase: "k3s.connect", Msg: progress.MsgStarted})
	p.Apply(progress.Event{Phase: "k3s.connect", Host: "h1", Msg: "connected as root"})
	p.Apply(progress.Event{Phase: "k3s.connect", Host: "h1", Msg: progress.MsgDone})
	p.Apply(progress.Event{Phase: "k3s.connect", Msg: progress.MsgDone})
	p.Apply(progress.Event{Phase: "x.new", Msg: progress.MsgStarted})
	p.Apply(progress.Event{Phase: "x.new", Msg: progress.MsgFailed, Err: errors.New("tuning h1: no sysctl")})
	p.Apply(progress.Event{Phase: "elsewhere", Msg: progress.MsgStarted}) // not a listed step: as said
	p.Finish(errors.New("tuning h1: no sysctl"))
	p.Flush()
	want := []string{"Connect to hosts: started", "h1: connected as root", "h1: Connect to hosts: done", "Connect to hosts: done",
		"A newer step: started", "A newer step: failed: tuning h1: no sysctl", "started"}
	if l, _ := p.Log.Get(); !reflect.DeepEqual(l, want) {
		t.Fatalf("log:\n%q\nwant:\n%q", l, want)
	}
	if f := p.FailedPhase(); f == nil || f.ID != "x.new" {
		t.Fatalf("failed phase %+v, want x.new", f)
	}
	if p := explainStep(errors.New("tuning h1: no sysctl"), &phases[1]); p.What != "The step “A newer step” failed." || p.Cause != "The engine reported: tuning h1: no sysctl" {
		t.Fatalf("problem %+v", p)
	}
}
