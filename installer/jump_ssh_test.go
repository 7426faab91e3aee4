package installer

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
)

// A site file's jump host with its own login (another user, another key, encrypted, its passphrase not
// in the file): Connect asks for the passphrase of the bastion's key, not the host's, and reaches the
// host through the bastion with the bastion's credentials. A wrong answer fails naming the jump host.
func TestConnectAsksForTheBastionKeyPassphrase(t *testing.T) {
	bastion := sshtest.Start(t, sshtest.Options{})
	target := sshtest.Start(t, sshtest.Options{})
	jumpKey := filepath.Join(t.TempDir(), "bastion_key")
	bastion.Authorize(t, sshtest.BastionUser, sshtest.WriteKey(t, jumpKey, []byte("gate phrase")))
	s := writeSite(t, fmt.Sprintf(`
name: gated
hosts:
  - name: cp1
    address: 127.0.0.1
    port: %d
    role: server
    auth: {keyFile: %s}
    jumpHost: {address: 127.0.0.1, port: %d, user: %s, auth: {keyFile: %s}}
`, target.Port, target.ClientKey, bastion.Port, sshtest.BastionUser, jumpKey))
	ctx := context.Background()
	for _, tc := range []struct {
		answer string
		ok     bool
	}{{"not the phrase", false}, {"gate phrase", true}} {
		var asked []string
		o := Options{AcceptHostKeys: []string{target.Fingerprint, bastion.Fingerprint},
			Prompt: func(label string) ([]byte, error) { asked = append(asked, label); return []byte(tc.answer), nil }}
		c, err := Connect(ctx, s, o)
		if want := []string{"passphrase of key file " + jumpKey}; !slices.Equal(asked, want) {
			t.Fatalf("asked %q, want %q", asked, want)
		}
		if !tc.ok {
			if err == nil || !strings.Contains(err.Error(), "jump host 127.0.0.1") {
				t.Fatalf("wrong bastion passphrase: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Hosts["cp1"].Run(ctx, host.Cmd{Line: "id -un"})
		c.Close()
		if err != nil || strings.TrimSpace(string(res.Stdout)) != "root" {
			t.Fatalf("on cp1 through the bastion: %q %v", res.Stdout, err)
		}
	}
}
