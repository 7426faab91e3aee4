package realengine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/gui/engine"
)

// A site.yaml becomes the wizard's hosts: defaults merged, the key file resolved beside the site file,
// the jump host as host:port with its own login when it logs in otherwise than its host (its
// passphrase or password asked on screen, never read), no host key accepted; settings the wizard cannot take are noted.
func TestLoadSiteDraft(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "site.yaml")
	doc := `name: plant7
defaults: {user: root, auth: {keyFile: keys/lab}}
hosts:
  - {name: s1, address: 10.231.20.11, role: server}
  - {name: s2, address: 10.231.20.12, role: server, port: 2222}
  - {name: s3, address: 10.231.20.13, role: server}
  - {name: a1, address: 10.0.0.21, role: agent, user: ops, auth: {passwordEnv: A1_PW},
     jumpHost: {address: 10.0.0.1, user: jump}}
  - {name: a2, address: 10.0.0.22, role: agent, jumpHost: {address: 10.0.0.1}}
  - {name: a3, address: 10.0.0.23, role: agent,
     jumpHost: {address: 10.0.0.2, port: 2200, user: bast, auth: {keyFile: keys/b, keyPassphraseEnv: B_PP}}}
  - {name: a4, address: 10.0.0.24, role: agent, jumpHost: {address: 10.0.0.2, user: bast, auth: {passwordPrompt: true}}}
k3s: {disable: [traefik]}
`
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := LoadSiteDraft(p)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "keys/lab")
	want := []engine.Host{
		{Name: "s1", Address: "10.231.20.11", Port: 22, User: "root", Role: engine.RoleServer, KeyPath: key},
		{Name: "s2", Address: "10.231.20.12", Port: 2222, User: "root", Role: engine.RoleServer, KeyPath: key},
		{Name: "s3", Address: "10.231.20.13", Port: 22, User: "root", Role: engine.RoleServer, KeyPath: key},
		{Name: "a1", Address: "10.0.0.21", Port: 22, User: "ops", Role: engine.RoleAgent, Sudo: true, JumpHost: "10.0.0.1:22",
			JumpLogin: &engine.Login{User: "jump", KeyPath: key}},
		{Name: "a2", Address: "10.0.0.22", Port: 22, User: "root", Role: engine.RoleAgent, KeyPath: key, JumpHost: "10.0.0.1:22"},
		{Name: "a3", Address: "10.0.0.23", Port: 22, User: "root", Role: engine.RoleAgent, KeyPath: key, JumpHost: "10.0.0.2:2200",
			JumpLogin: &engine.Login{User: "bast", KeyPath: filepath.Join(dir, "keys/b"), KeyEncrypted: true}},
		{Name: "a4", Address: "10.0.0.24", Port: 22, User: "root", Role: engine.RoleAgent, KeyPath: key, JumpHost: "10.0.0.2:22",
			JumpLogin: &engine.Login{User: "bast", PasswordAuth: true}},
	}
	if diff := cmp.Diff(want, d.Hosts); diff != "" || d.Name != "plant7" {
		t.Errorf("draft %s (-want +got):\n%s", d.Name, diff)
	}
	notes := strings.Join(d.Notes, "\n")
	for _, w := range []string{"a1 logs in with a password", "a4: its jump host logs in with a password", "k3s settings"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	// The draft's hosts make a valid installer site (what Preflight and Install will build from them),
	// once the secrets asked on screen are typed.
	d.Hosts[5].JumpLogin = &engine.Login{User: "bast", KeyPath: d.Hosts[5].JumpLogin.KeyPath, KeyEncrypted: true, KeyPassphrase: "pp"}
	d.Hosts[6].JumpLogin = &engine.Login{User: "bast", PasswordAuth: true, Password: "pw"}
	if _, err := toSite(engine.Site{Name: d.Name, Dir: dir, Hosts: d.Hosts}); err != nil {
		t.Errorf("draft hosts refused by toSite: %v", err)
	}
	if _, err := LoadSiteDraft(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}
