package gui

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2/widget"
	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

// The jump host part of the host form: its address (host[:port]) and, optionally, a login of its own
// (user, key file + passphrase or password) that the view-model maps to engine.Host.JumpLogin; unticked,
// the bastion is logged into as the host. Each mistake has its own error, the form's defaults are "no
// jump host, same login", an older record's user@bastion reads as an own login with the host's
// credentials, and editing the bastion's login keeps its accepted key but not the last test.
func TestHostsVMJumpLogin(t *testing.T) {
	vm := NewHostsVM("s", nil)
	if own, _ := vm.JumpOwnLogin.Get(); own || get(vm.JumpHost) != "" || get(vm.JumpAuth) != AuthKey {
		t.Fatalf("defaults: own login %v, jump %q, auth %q", own, get(vm.JumpHost), get(vm.JumpAuth))
	}
	_ = vm.Address.Set("node1")
	_ = vm.KeyPath.Set("/k")
	_ = vm.KeyPassphrase.Set("host-pp")
	for _, tc := range []struct {
		name string
		set  func()
		want error
	}{
		{"user in the address", func() { _ = vm.JumpHost.Set("ops@bastion:2222") }, errJumpAddress},
		{"space in the address", func() { _ = vm.JumpHost.Set("bast ion") }, errJumpAddress},
		{"port out of range", func() { _ = vm.JumpHost.Set("bastion:99999") }, errJumpPort},
		{"port not a number", func() { _ = vm.JumpHost.Set("bastion:ssh") }, errJumpPort},
		{"the host itself", func() { _ = vm.JumpHost.Set("node1:22") }, errJumpSelf},
		{"same login as the host", func() { _ = vm.JumpHost.Set(" bastion:2222 ") }, nil},
		{"own login without a user", func() { _ = vm.JumpOwnLogin.Set(true) }, errJumpUser},
		{"own login without a key", func() { _ = vm.JumpUser.Set("gate") }, errJumpAuth},
		{"own key", func() { _ = vm.JumpKeyPath.Set("/kb") }, nil},
		{"own password left empty", func() { _ = vm.JumpAuth.Set(AuthPassword) }, errJumpAuth},
		{"own password", func() { _ = vm.JumpPassword.Set("gate-pw") }, nil},
	} {
		tc.set()
		if err := vm.Save(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Fatalf("%s: Save = %v, want %v", tc.name, err, tc.want)
		}
	}
	want := engine.Host{Name: "node1", Address: "node1", Port: 22, User: "root", Role: engine.RoleServer, KeyPath: "/k", KeyPassphrase: "host-pp", KeyEncrypted: true,
		JumpHost: "bastion:2222", JumpLogin: &engine.Login{User: "gate", Password: "gate-pw", PasswordAuth: true}}
	if diff := cmp.Diff(want, vm.Entries()[0].Host); diff != "" {
		t.Fatalf("saved host (-want +got):\n%s", diff)
	}
	// An encrypted key for the bastion: the passphrase is held, the record only says it is needed.
	_ = vm.JumpAuth.Set(AuthKey)
	_ = vm.JumpKeyPassphrase.Set("gate-pp")
	if err := vm.Save(); err != nil {
		t.Fatal(err)
	}
	if l := vm.Entries()[0].Host.JumpLogin; *l != (engine.Login{User: "gate", KeyPath: "/kb", KeyPassphrase: "gate-pp", KeyEncrypted: true}) {
		t.Fatalf("bastion key login: %+v", l)
	}
	// Editing the bastion's login keeps its accepted key (same machine) but not the last test; a new
	// bastion address forgets the key too.
	vm.hosts[0].Host.JumpHostKey, vm.hosts[0].State = "bastion:2222 ssh-ed25519 AAAA", ConnOK
	_ = vm.JumpUser.Set("other")
	if err := vm.Save(); err != nil {
		t.Fatal(err)
	}
	if e := vm.Entries()[0]; e.Host.JumpHostKey == "" || e.State != ConnUntested {
		t.Fatalf("bastion user changed: key %q, state %v", e.Host.JumpHostKey, e.State)
	}
	_ = vm.JumpHost.Set("bastion2")
	if err := vm.Save(); err != nil || vm.Entries()[0].Host.JumpHostKey != "" {
		t.Fatalf("another bastion kept the old one's key: %v", err)
	}
	// No jump host: an own login left in the (hidden) fields means nothing.
	_ = vm.JumpHost.Set("")
	if err := vm.Save(); err != nil || vm.Entries()[0].Host.JumpLogin != nil {
		t.Fatalf("no jump host: %+v, %v", vm.Entries()[0].Host, err)
	}

	// Unticked: the bastion logs in as the host.
	vm.New()
	if own, _ := vm.JumpOwnLogin.Get(); own || get(vm.JumpUser) != "" {
		t.Fatal("a new host starts with the previous host's bastion login")
	}
	_ = vm.Address.Set("node2")
	_ = vm.KeyPath.Set("/k")
	_ = vm.JumpHost.Set("bastion")
	if err := vm.Save(); err != nil || vm.Entries()[1].Host.JumpLogin != nil || jumpText(vm.Entries()[1].Host) != "root@bastion" {
		t.Fatalf("same login as the host: %+v, %v", vm.Entries()[1].Host, err)
	}

	// A record from before own logins: user@bastion with the host's credentials.
	old := NewHostsVM("s", []engine.Host{{Name: "a", Address: "a", User: "root", KeyPath: "/k", KeyPassphrase: "pp", KeyEncrypted: true, Role: engine.RoleServer,
		JumpHost: "ops@bastion:2222", JumpHostKey: "[bastion]:2222 ssh-ed25519 AAAA"}})
	if own, _ := old.JumpOwnLogin.Get(); !own || get(old.JumpHost) != "bastion:2222" || get(old.JumpUser) != "ops" || get(old.JumpKeyPath) != "/k" {
		t.Fatalf("older record: own %v, %q %q %q", own, get(old.JumpHost), get(old.JumpUser), get(old.JumpKeyPath))
	}
	if err := old.Save(); err != nil {
		t.Fatal(err)
	}
	if h := old.Entries()[0].Host; h.JumpHost != "bastion:2222" || h.JumpHostKey == "" || *h.JumpLogin != (engine.Login{User: "ops", KeyPath: "/k", KeyPassphrase: "pp", KeyEncrypted: true}) {
		t.Fatalf("older record saved again: %+v %+v", h, h.JumpLogin)
	}
}

// The host editor's jump section (headless Fyne): the own-login box appears once a jump host is typed,
// its key or password entries follow the radio, every mistake is said in words, and a bastion that lets
// in only its own user is passed with its own login and refused, naming the jump host, without it. The
// login ends up in the site's hosts, its password in memory only.
func TestHostEditorJumpSection(t *testing.T) {
	w, f := newTestWizard(t)
	f.RequireJumpUser("bastion", "gate")
	w.Site = NewSiteModel()
	w.Site.Name = "plant-9"
	w.Site.Bundle = fakeengine.DemoBundle(bundlePath, "1.0.0")
	w.ShowHosts()
	const (
		jumpHint = "optional: bastion or bastion:2222"
		userHint = "user on the jump host"
		keyHint  = "key file for the jump host, e.g. ~/.ssh/bastion"
		pwHint   = "password on the jump host"
	)
	setText(formEntry(t, w, "Name"), "node1")
	setText(formEntry(t, w, "Address"), "node1")
	setText(entry(t, w, "~/.ssh/id_ed25519"), "/k")
	for _, o := range visibleObjects(w) {
		if c, ok := o.(*widget.Check); ok && strings.HasPrefix(c.Text, "Own login") {
			t.Fatal("the jump host's own login is offered before a jump host is given")
		}
	}
	for _, tc := range []struct{ jump, want string }{
		{"ops@bastion:2222", "Write the jump host as host or host:port. Its user goes under \"Own login on the jump host\"."},
		{"bastion:0", "The jump host's port must be a number from 1 to 65535."},
		{"node1", "The jump host cannot be this machine itself: leave it empty to connect directly."},
	} {
		setText(entry(t, w, jumpHint), tc.jump)
		tap(t, w, "Save host")
		mustContain(t, w, tc.want)
	}
	setText(entry(t, w, jumpHint), "bastion:2222")
	mustContain(t, w, "Unticked, Ferry logs into the jump host as this machine's user")
	if shown(w, userHint) {
		t.Fatal("the bastion's user is asked for while its own login is unticked")
	}
	// Unticked, the bastion gets the host's user (root), which it refuses once its key is accepted.
	tap(t, w, "Test connection")
	tap(t, w, "The fingerprints match: trust this host")
	w.Wait()
	mustContain(t, w, "The jump host refused the user name, key or password it was given.", "Check the jump host's own login", "failed")

	checkBox(t, w, "Own login on the jump host").SetChecked(true)
	tap(t, w, "Save host")
	mustContain(t, w, "Enter the user name to log into the jump host with.")
	setText(entry(t, w, userHint), "gate")
	tap(t, w, "Save host")
	mustContain(t, w, "Choose a key file or enter a password for the jump host.")
	radios := visibleRadios(w)
	if len(radios) != 2 || !shown(w, keyHint) || shown(w, pwHint) {
		t.Fatalf("%d radio groups; key entry shown %v, password entry shown %v", len(radios), shown(w, keyHint), shown(w, pwHint))
	}
	radios[1].SetSelected("Password")
	if shown(w, keyHint) || !shown(w, pwHint) {
		t.Fatal("the bastion's password entry does not replace its key entry")
	}
	setText(entry(t, w, pwHint), "gate-secret")
	tap(t, w, "Save host")
	golden(t, w, "hosts-jump-ownlogin.xml")

	tap(t, w, "Test connection")
	w.Wait()
	mustContain(t, w, "First connection to node1", "Reached through the jump host gate@bastion:2222")
	tap(t, w, "The fingerprints match: trust this host")
	tap(t, w, "Test connection")
	w.Wait()
	mustContain(t, w, "through the jump host gate@bastion:2222", "connected")
	tap(t, w, "Next")
	h := w.Site.Hosts[0]
	if h.JumpHost != "bastion:2222" || h.JumpLogin == nil || *h.JumpLogin != (engine.Login{User: "gate", Password: "gate-secret", PasswordAuth: true}) {
		t.Fatalf("site host after Next: %+v %+v", h, h.JumpLogin)
	}
	if err := w.Store.Save(w.Site.Record()); err != nil {
		t.Fatal(err)
	}
	noFileHolds(t, w.Store.Root, "gate-secret")
	rec, err := w.Store.Load("plant-9")
	if err != nil || rec.Hosts[0].JumpLogin == nil || !rec.Hosts[0].JumpLogin.PasswordAuth || rec.Hosts[0].JumpLogin.Password != "" {
		t.Fatalf("record: %+v, %v", rec.Hosts, err)
	}
}

func visibleRadios(w *Wizard) []*widget.RadioGroup {
	var out []*widget.RadioGroup
	for _, o := range visibleObjects(w) {
		if r, ok := o.(*widget.RadioGroup); ok {
			out = append(out, r)
		}
	}
	return out
}

// noFileHolds fails if any file under root contains one of the secrets.
func noFileHolds(t *testing.T, root string, secrets ...string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a secret", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A reopened site whose hosts share a bastion with its own login: the Log in screen asks for the
// bastion's password once (for both hosts) and a passphrase for another bastion's key; nothing reaches
// the engine before, the fake refuses a bastion login missing its secret as a real one would, and no
// file of the record ever holds them.
func TestReopenedSiteAsksForTheBastionSecret(t *testing.T) {
	w, f := newTestWizard(t)
	l1, _ := fakeengine.FakeKey("node1", "1")
	l2, _ := fakeengine.FakeKey("node2", "1")
	l3, _ := fakeengine.FakeKey("node3", "1")
	jl, _ := fakeengine.FakeKey("bastion", "1")
	f.Installed("1.0.0", "v1.33.4+k3s1")
	gate := &engine.Login{User: "gate", PasswordAuth: true}
	rec := siterecord.Record{Name: "plant-8", App: "shop", Version: "1.0.0", Updated: fixedNow, Hosts: []engine.Host{
		{Name: "node1", Address: "node1", User: "root", KeyPath: "/k", Role: engine.RoleServer, HostKey: l1, JumpHost: "bastion:2222", JumpHostKey: jl, JumpLogin: gate},
		{Name: "node2", Address: "node2", User: "root", KeyPath: "/k", Role: engine.RoleAgent, HostKey: l2, JumpHost: "bastion:2222", JumpHostKey: jl, JumpLogin: gate},
		{Name: "node3", Address: "node3", User: "root", KeyPath: "/k", Role: engine.RoleAgent, HostKey: l3, JumpHost: "gw",
			JumpLogin: &engine.Login{User: "ops", KeyPath: "/gw-key", KeyEncrypted: true}},
	}}
	if err := w.Store.Save(rec); err != nil {
		t.Fatal(err)
	}
	w.ShowStart()
	tap(t, w, "plant-8 — shop 1.0.0")
	w.Wait()
	mustContain(t, w, "Log in to plant-8", "Password of the jump host gate@bastion:2222 (node1, node2)",
		"Passphrase of the jump host's key /gw-key (ops@gw, node3)")
	for _, c := range f.Calls() {
		if c == "Status" || c == "History" {
			t.Fatalf("the engine was called before the bastion's secrets were entered: %v", f.Calls())
		}
	}
	pw := passwordEntries(w)
	if len(pw) != 2 {
		t.Fatalf("%d password entries, want 2 (one per bastion secret)", len(pw))
	}
	setText(pw[0], "gate-secret-1")
	if !button(t, w, "Continue").Disabled() {
		t.Fatal("Continue is enabled with a bastion secret missing")
	}
	setText(pw[1], "gw-passphrase-2")
	tap(t, w, "Continue")
	w.Wait()
	mustContain(t, w, "Site plant-8", "healthy")
	hs := w.Site.Hosts
	if hs[0].JumpLogin.Password != "gate-secret-1" || hs[1].JumpLogin.Password != "gate-secret-1" || hs[2].JumpLogin.KeyPassphrase != "gw-passphrase-2" {
		t.Fatalf("bastion logins after Log in: %+v %+v %+v", hs[0].JumpLogin, hs[1].JumpLogin, hs[2].JumpLogin)
	}
	if gate.Password != "" || rec.Hosts[2].JumpLogin.KeyPassphrase != "" {
		t.Fatal("the Log in screen wrote into the record's logins instead of copies")
	}
	if err := w.Store.Save(w.Site.Record()); err != nil {
		t.Fatal(err)
	}
	noFileHolds(t, w.Store.Root, "gate-secret-1", "gw-passphrase-2")
	w.ShowStart()
	tap(t, w, "plant-8 — shop 1.0.0")
	mustContain(t, w, "Password of the jump host gate@bastion:2222 (node1, node2)")
}
