package siterecord

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/gui/engine"
)

func TestSaveLoadRoundTripNeverWritesSecrets(t *testing.T) {
	s := Store{Root: t.TempDir()}
	r := Record{
		Name: "plant-7", App: "shop", Version: "1.0.0",
		Hosts: []engine.Host{{Name: "a", Address: "10.0.0.1", User: "ops", Role: engine.RoleServer,
			Password: "hunter2-secret", KeyPassphrase: "pass-phrase-secret", HostKey: "10.0.0.1 ssh-ed25519 AAAA", JumpHost: "bastion:2222",
			JumpLogin: &engine.Login{User: "gate", KeyPath: "/gate", KeyPassphrase: "gate-pp-secret", KeyEncrypted: true, Password: "gate-pw-secret", PasswordAuth: true}}},
		History: []engine.Release{{Version: "1.0.0", Action: "install", Result: "succeeded", Kept: true, Time: time.Unix(100, 0).UTC()}},
		Updated: time.Unix(200, 0).UTC(),
	}
	if err := s.Save(r); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		for _, secret := range []string{"hunter2-secret", "pass-phrase-secret", "gate-pp-secret", "gate-pw-secret"} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s contains a secret", p)
			}
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("plant-7")
	if err != nil {
		t.Fatal(err)
	}
	want := r
	want.Hosts[0].Password, want.Hosts[0].KeyPassphrase = "", ""
	// The bastion's login is kept with which secrets it needs, not the secrets.
	want.Hosts[0].JumpLogin = &engine.Login{User: "gate", KeyPath: "/gate", KeyEncrypted: true, PasswordAuth: true}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	kh, _ := os.ReadFile(filepath.Join(s.Dir("plant-7"), "known_hosts"))
	if string(kh) != "10.0.0.1 ssh-ed25519 AAAA\n" {
		t.Fatalf("known_hosts = %q", kh)
	}
}

func TestNamesCannotEscapeTheStore(t *testing.T) {
	s := Store{Root: t.TempDir()}
	for _, n := range []string{"", "..", "../x", "a/b", ".hidden", "a b"} {
		if err := s.Save(Record{Name: n}); !errors.Is(err, ErrBadName) {
			t.Errorf("Save(%q) = %v, want ErrBadName", n, err)
		}
	}
}

func TestListNewestFirstAndAudit(t *testing.T) {
	s := Store{Root: t.TempDir()}
	for i, n := range []string{"old", "new", "mid"} {
		if err := s.Save(Record{Name: n, Updated: time.Unix(int64([]int{1, 3, 2}[i]), 0)}); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(s.Root, "junk"), 0o700) // no site.json: skipped
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
	}
	if d := cmp.Diff([]string{"new", "mid", "old"}, names); d != "" {
		t.Fatal(d)
	}
	if err := s.Audit("new", time.Unix(0, 0), "install\nshop 1.0.0"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(s.Dir("new"), "audit.log"))
	if string(data) != "1970-01-01T00:00:00Z install shop 1.0.0\n" {
		t.Fatalf("audit.log = %q", data)
	}
}

// The jump hosts' accepted keys go into known_hosts with the hosts' keys, a bastion shared by two hosts
// once, so the installer and management session verify the bastion too.
func TestKnownHostsHoldJumpHostKeys(t *testing.T) {
	s := Store{Root: t.TempDir()}
	bastion := "[10.0.0.9]:2222 ssh-ed25519 BBBB"
	r := Record{Name: "p", Hosts: []engine.Host{
		{Name: "a", Address: "10.0.0.1", HostKey: "10.0.0.1 ssh-ed25519 AAAA", JumpHost: "10.0.0.9:2222", JumpHostKey: bastion},
		{Name: "b", Address: "10.0.0.2", HostKey: "10.0.0.2 ssh-ed25519 CCCC", JumpHost: "10.0.0.9:2222", JumpHostKey: bastion},
	}}
	if err := s.Save(r); err != nil {
		t.Fatal(err)
	}
	kh, _ := os.ReadFile(filepath.Join(s.Dir("p"), "known_hosts"))
	if want := "10.0.0.1 ssh-ed25519 AAAA\n" + bastion + "\n10.0.0.2 ssh-ed25519 CCCC\n"; string(kh) != want {
		t.Fatalf("known_hosts = %q, want %q", kh, want)
	}
	got, err := s.Load("p")
	if err != nil || got.Hosts[1].JumpHostKey != bastion {
		t.Fatalf("loaded %+v, %v", got.Hosts, err)
	}
}
