package jumplab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/realengine"
	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
	"github.com/ferry-delivery/ferry/test/lab"
)

const (
	envEnable = "FERRY_LAB"
	envID     = "FERRY_JUMP_LAB_ID"
	gateUser  = "gate"
)

func labID(t *testing.T) int {
	id := 50
	if v := os.Getenv(envID); v != "" {
		var err error
		if id, err = strconv.Atoi(v); err != nil {
			t.Fatalf("%s=%q: %v", envID, v, err)
		}
	}
	return id
}

// TestBastionWithItsOwnLoginOnLab: two lab hosts, a bastion that lets in only its own forward-only
// account and a target that accepts root only from the bastion's address.
func TestBastionWithItsOwnLoginOnLab(t *testing.T) {
	if os.Getenv(envEnable) != "1" {
		t.Skipf("site lab scenario: set %s=1 (make test-jumphost)", envEnable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	id := labID(t)
	l, err := lab.Up(ctx, lab.Options{ID: id, Hosts: lab.Spec(2, 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), "", id); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	inv := l.Inventory()
	if err := inv.CheckNetwork(); err != nil {
		t.Fatal(err)
	}
	b, tg := inv.Hosts[0], inv.Hosts[1]
	dir := t.TempDir()
	gateKey := filepath.Join(dir, "gate_key")
	gatePub := sshtest.WriteKey(t, gateKey, []byte("gate phrase"))
	// Bastion: the account gate (no shell, its own key) is the only one sshd lets in.
	if _, err := l.Run(ctx, b.Name, fmt.Sprintf(`set -e
useradd --create-home --shell /usr/sbin/nologin %[1]s
install -d -m 700 -o %[1]s -g %[1]s /home/%[1]s/.ssh
printf '%%s' '%[2]s' > /home/%[1]s/.ssh/authorized_keys
chown %[1]s:%[1]s /home/%[1]s/.ssh/authorized_keys; chmod 600 /home/%[1]s/.ssh/authorized_keys
printf 'AllowUsers %[1]s\n' > /etc/ssh/sshd_config.d/ferry-jump-only.conf
systemctl reload ssh`, gateUser, strings.TrimSpace(string(xssh.MarshalAuthorizedKey(gatePub))))); err != nil {
		t.Fatal(err)
	}
	// Target: root only from the bastion's address.
	if _, err := l.Run(ctx, tg.Name, fmt.Sprintf("printf 'AllowUsers root@%s\\n' > /etc/ssh/sshd_config.d/ferry-via-bastion.conf && systemctl reload ssh", b.Address)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(ctx, b.Name, "true"); err == nil {
		t.Fatal("the bastion still lets root in")
	}

	e := realengine.New(realengine.Options{})
	direct := engine.Host{Name: "target", Address: tg.Address, Port: tg.Port, User: "root", KeyPath: tg.KeyFile, Role: engine.RoleServer, HostKey: tg.KnownHosts}
	// Reached directly, the target refuses root: only the bastion gets in.
	if _, err := e.TestConnection(ctx, direct); !errors.Is(err, engine.ErrAuth) {
		t.Fatalf("target reached directly: %v, want its sshd to refuse root from this laptop", err)
	}

	h := direct
	h.HostKey = ""
	h.JumpHost = fmt.Sprintf("%s:%d", b.Address, b.Port)
	h.JumpLogin = &engine.Login{User: gateUser, KeyPath: gateKey, KeyEncrypted: true, KeyPassphrase: "gate phrase"}
	first, err := e.TestConnection(ctx, h)
	if err != nil || first.Jump == nil || first.Jump.Fingerprint != b.Fingerprint || first.KeyStatus != engine.KeyUnchecked {
		t.Fatalf("bastion's first contact: %+v, %v", first, err)
	}
	h.JumpHostKey = first.Jump.KeyLine
	second, err := e.TestConnection(ctx, h)
	if err != nil || second.KeyStatus != engine.KeyNew || second.Fingerprint != tg.Fingerprint {
		t.Fatalf("target's key through the bastion: %+v, %v", second, err)
	}
	h.HostKey = second.KeyLine
	known, err := e.TestConnection(ctx, h)
	if err != nil || known.KeyStatus != engine.KeyKnown || known.OS != "linux" {
		t.Fatalf("target through the bastion with its own login: %+v, %v", known, err)
	}

	// The host's login on the bastion (root, the lab key): refused, and said to be the bastion's doing.
	same := h
	same.JumpLogin = nil
	if _, err := e.TestConnection(ctx, same); !errors.Is(err, engine.ErrAuth) || !errors.Is(err, engine.ErrJumpHost) ||
		!strings.Contains(err.Error(), "jump host "+h.JumpHost) {
		t.Fatalf("bastion given the host's login: %v", err)
	}
	wrong := h
	wrong.JumpLogin = &engine.Login{User: gateUser, KeyPath: tg.KeyFile}
	if _, err := e.TestConnection(ctx, wrong); !errors.Is(err, engine.ErrAuth) || !errors.Is(err, engine.ErrJumpHost) ||
		!strings.Contains(err.Error(), `refused user "gate"`) {
		t.Fatalf("bastion given another key: %v", err)
	}

	// The installer (ferryctl's path): a site file whose jump host has its own user and key, its
	// passphrase from an environment variable served from memory.
	sitePath := filepath.Join(dir, "site.yaml")
	doc := fmt.Sprintf(`name: gated
hosts:
  - name: target
    address: %s
    role: server
    auth: {keyFile: %s}
    jumpHost: {address: %s, user: %s, auth: {keyFile: %s, keyPassphraseEnv: GATE_PP}}
`, tg.Address, tg.KeyFile, b.Address, gateUser, gateKey)
	if err := os.WriteFile(sitePath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := site.Load(sitePath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := installer.Connect(ctx, s, installer.Options{AcceptHostKeys: []string{b.Fingerprint, tg.Fingerprint},
		Getenv: func(k string) string { return map[string]string{"GATE_PP": "gate phrase"}[k] }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Hosts["target"].Run(ctx, host.Cmd{Line: "hostname; id -un"})
	c.Close()
	if f := strings.Fields(string(res.Stdout)); err != nil || len(f) != 2 || f[0] != tg.Name || f[1] != "root" {
		t.Fatalf("on the target through the bastion: %q %v", res.Stdout, err)
	}
}
