package site

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const good = `
name: plant-7
defaults:
  user: ops
  auth:
    keyFile: keys/id_ed25519
    sudoPasswordEnv: FERRY_SUDO_PW
jumpHost:
  address: bastion.plant7.example
  user: jump
  auth: {agent: true}
hosts:
  - {name: cp1, address: 10.0.0.11, role: server}
  - {name: cp2, address: 10.0.0.12, role: server, port: 2222}
  - {name: cp3, address: 10.0.0.13, role: server, user: root, auth: {passwordPrompt: true}}
  - name: edge1
    address: 10.0.0.21
    role: agent
    jumpHost: {address: 10.0.0.1, user: root, auth: {keyFile: /keys/edge}}
k3s:
  tlsSAN: [k8s.plant7.example]
  disable: [traefik, servicelb]
`

func TestParseGood(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "site.yaml")
	os.WriteFile(p, []byte(good), 0o600)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	cp1 := s.Login(s.Hosts[0])
	if cp1.User != "ops" || cp1.Port != 22 || !*cp1.Sudo || cp1.Auth.KeyFile != "keys/id_ed25519" || cp1.Auth.SudoPasswordEnv != "FERRY_SUDO_PW" {
		t.Fatalf("cp1 login: %+v", cp1)
	}
	if s.Login(s.Hosts[1]).Port != 2222 {
		t.Fatal("per-host port ignored")
	}
	cp3 := s.Login(s.Hosts[2])
	if cp3.User != "root" || *cp3.Sudo || cp3.Auth.KeyFile != "" || !cp3.Auth.PasswordPrompt {
		t.Fatalf("cp3 login: %+v (own credentials must replace the defaults)", cp3)
	}
	if j := s.Jump(s.Hosts[0]); j == nil || j.Address != "bastion.plant7.example" || s.JumpLogin(j).User != "jump" {
		t.Fatalf("site jump host: %+v", j)
	}
	if j := s.Jump(s.Hosts[3]); j == nil || j.Address != "10.0.0.1" {
		t.Fatalf("per-host jump host: %+v", j)
	}
	if s.RecordsDir() != filepath.Join(dir, "plant-7.records") || s.Path("keys/id_ed25519") != filepath.Join(dir, "keys/id_ed25519") {
		t.Fatalf("paths: %s %s", s.RecordsDir(), s.Path("keys/id_ed25519"))
	}
	if d := cmp.Diff([]string{"cp1", "cp2", "cp3"}, names(s.Servers())); d != "" {
		t.Fatal(d)
	}
	if s.DataDir() != DefaultDataDir {
		t.Fatal(s.DataDir())
	}
}

func names(hs []Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestParseBad(t *testing.T) {
	base := "name: s\nhosts:\n  - {name: a, address: 10.0.0.1, role: server, auth: {agent: true}}\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"password in file", "name: s\nhosts:\n  - {name: a, address: x, role: server, password: hunter2}\n", "never stored"},
		{"typo", base + "k3s: {disabel: [traefik]}\n", `unknown field "disabel"`},
		{"bad role", strings.Replace(base, "role: server", "role: master", 1), `role "master"`},
		{"no hosts", "name: s\nhosts: []\n", "at least one host"},
		{"no server", strings.Replace(base, "role: server", "role: agent", 1), "role: server"},
		{"two servers", base + "  - {name: b, address: 10.0.0.2, role: server, auth: {agent: true}}\n", "odd number"},
		{"dup name", base + "  - {name: a, address: 10.0.0.2, role: agent, auth: {agent: true}}\n", "unique"},
		{"dup address", base + "  - {name: b, address: 10.0.0.1, role: agent, auth: {agent: true}}\n", "also host"},
		{"no credentials", "name: s\nhosts:\n  - {name: a, address: x, role: server}\n", "no credentials"},
		{"bad disable", base + "k3s: {disable: [dns]}\n", `"dns" is not a k3s component`},
		{"relative data dir", base + "k3s: {dataDir: data}\n", "absolute"},
		{"bad site name", strings.Replace(base, "name: s", "name: Plant 7", 1), "lower-case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("secret echoed in the error")
			}
		})
	}
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("base case must be valid: %v", err)
	}
}
