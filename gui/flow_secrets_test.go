package gui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/widget"
	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

func passwordEntries(w *Wizard) []*widget.Entry {
	var out []*widget.Entry
	for _, o := range objects(w) {
		if e, ok := o.(*widget.Entry); ok && e.Password && e.Visible() {
			out = append(out, e)
		}
	}
	return out
}

// TestReopenedSiteAsksForSecrets: the record says which secrets the hosts need (a login password, a key
// passphrase, a sudo password), never the secrets; reopening the site asks for them before the engine is
// called, the engine gets them, and no file of the record ever holds them.
func TestReopenedSiteAsksForSecrets(t *testing.T) {
	w, f := newTestWizard(t)
	l1, _ := fakeengine.FakeKey("node1", "1")
	l2, _ := fakeengine.FakeKey("node2", "1")
	f.Installed("1.0.0", "v1.33.4+k3s1", engine.Release{Version: "1.0.0", Time: fixedNow, Action: "install", Result: "succeeded", Kept: true})
	rec := siterecord.Record{Name: "plant-8", App: "shop", Version: "1.0.0", Updated: fixedNow, Hosts: []engine.Host{
		{Name: "node1", Address: "node1", User: "ops", Role: engine.RoleServer, PasswordAuth: true, Sudo: true, HostKey: l1},
		{Name: "node2", Address: "node2", User: "ops", Role: engine.RoleAgent, KeyPath: "/k2", KeyEncrypted: true, Sudo: true, SudoAsks: true, HostKey: l2},
	}}
	if err := w.Store.Save(rec); err != nil {
		t.Fatal(err)
	}
	w.ShowStart()
	tap(t, w, "plant-8 — shop 1.0.0")
	w.Wait()
	mustContain(t, w, "Log in to plant-8", "Password of ops@node1:22 (node1)", "Passphrase of the key /k2 (node2)", "sudo password of ops@node2:22 (node2)", "never stores")
	if slices.ContainsFunc(f.Calls(), func(c string) bool { return c == "Status" || c == "History" }) {
		t.Fatalf("the engine was called before the secrets were entered: %v", f.Calls())
	}
	golden(t, w, "secrets.xml")
	pw := passwordEntries(w)
	if len(pw) != 3 {
		t.Fatalf("%d password entries, want 3", len(pw))
	}
	secrets := []string{"login-secret-1", "passphrase-secret-2", "sudo-secret-3"}
	for i, e := range pw {
		if !button(t, w, "Continue").Disabled() {
			t.Fatalf("Continue is enabled with %d of 3 secrets entered", i)
		}
		setText(e, secrets[i])
	}
	tap(t, w, "Continue")
	w.Wait()
	// The fake refuses a host whose needed secret is missing, as a real host would: a healthy status
	// proves every secret reached the engine.
	mustContain(t, w, "Site plant-8", "healthy")
	h := w.Site.Hosts
	if h[0].Password != secrets[0] || h[1].KeyPassphrase != secrets[1] || h[1].SudoPassword != secrets[2] {
		t.Fatalf("hosts after login: %+v", h)
	}
	if err := w.Store.Save(w.Site.Record()); err != nil {
		t.Fatal(err)
	}
	noFileHolds(t, w.Store.Root, secrets...)
	// Reopened again: the record still says what to ask for.
	w.ShowStart()
	tap(t, w, "plant-8 — shop 1.0.0")
	if !strings.Contains(screenText(w), "Log in to plant-8") {
		t.Fatal("a reopened site did not ask for its secrets again")
	}
}

func TestNeededSecrets(t *testing.T) {
	hosts := []engine.Host{
		{Name: "a", PasswordAuth: true},
		{Name: "b", PasswordAuth: true, Password: "in memory"},
		{Name: "c", KeyEncrypted: true, SudoAsks: true},
		{Name: "d", KeyPath: "/k", Sudo: true},
	}
	got := NeededSecrets(hosts)
	want := []SecretPrompt{{Host: 0, Kind: SecretPassword}, {Host: 2, Kind: SecretPassphrase}, {Host: 2, Kind: SecretSudo}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("NeededSecrets (-want +got):\n%s", diff)
	}
	vm := NewSecretsVM(hosts)
	if _, err := vm.Apply(hosts); err == nil {
		t.Fatal("Apply accepted empty answers")
	}
	for i, v := range []string{"pw", "pp", "sp"} {
		_ = vm.Answers[i].Set(v)
	}
	out, err := vm.Apply(hosts)
	if err != nil || out[0].Password != "pw" || out[2].KeyPassphrase != "pp" || out[2].SudoPassword != "sp" || out[1].Password != "in memory" {
		t.Fatalf("Apply: %+v, %v", out, err)
	}
	if hosts[0].Password != "" {
		t.Fatal("Apply changed its input")
	}
	if len(NeededSecrets(out)) != 0 {
		t.Fatal("secrets still needed after Apply")
	}
}

// `ferry --bundle PATH` (a Preset): the verification's end is reported to the hook cmd/ferry logs for
// the benchmark.
func TestBundleVerifiedHook(t *testing.T) {
	w, f := newTestWizard(t)
	f.AddBundle(fakeengine.DemoBundle(bundlePath, "1.0.0"))
	var got []string
	w.onVerified = func(path string, b engine.Bundle, err error, _ time.Duration) {
		got = append(got, path+" "+b.Version)
		if err != nil {
			t.Errorf("verify: %v", err)
		}
	}
	w.startPreset(Preset{Bundle: bundlePath})
	w.Wait()
	mustContain(t, w, "Open the bundle", "The signature is valid", "1.0.0")
	if len(got) != 1 || got[0] != bundlePath+" 1.0.0" {
		t.Fatalf("hook calls: %q", got)
	}
	if button(t, w, "Next").Disabled() {
		t.Fatal("Next is disabled after the bundle given on the command line was verified")
	}
}

// A host that refuses the login of a reopened site (a mistyped password): the Manage screen explains it
// and offers to enter the passwords again, which forgets the typed ones and asks anew.
func TestManageOffersReloginAfterAuthFailure(t *testing.T) {
	w, f := newTestWizard(t)
	l1, _ := fakeengine.FakeKey("node1", "1")
	f.Installed("1.0.0", "v1.33.4+k3s1")
	w.Site = FromRecord(siterecord.Record{Name: "plant-8", App: "shop", Version: "1.0.0", Hosts: []engine.Host{
		{Name: "node1", Address: "node1", User: "ops", Role: engine.RoleServer, PasswordAuth: true, HostKey: l1}}})
	w.ShowManage() // as if the secret had been skipped: the engine refuses
	w.Wait()
	mustContain(t, w, "The host refused the user name, key or password.")
	tap(t, w, "Enter the passwords again")
	mustContain(t, w, "Log in to plant-8", "Password of ops@node1:22 (node1)")
	setText(passwordEntries(w)[0], "right")
	tap(t, w, "Continue")
	w.Wait()
	mustContain(t, w, "healthy")
	for _, b := range buttons(w, "Enter the passwords again") {
		if b.Visible() {
			t.Fatal("the relogin button stays after a successful login")
		}
	}
}
