package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/crypto/ssh"
)

// keyPair is an ed25519 key in OpenSSH's file formats.
type keyPair struct {
	Private []byte // OpenSSH PEM
	Public  ssh.PublicKey
}

func newKeyPair(comment string) (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{Private: pem.EncodeToMemory(blk), Public: sp}, nil
}

func (k keyPair) authorizedLine(comment string) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.Public))) + " " + comment + "\n"
}

// newPassword returns a random password of letters and digits (no shell or sudo-prompt specials).
func newPassword(n int) (string, error) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b strings.Builder
	for range n {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String(), nil
}

// shadowHash returns a SHA-512 crypt hash of password for /etc/shadow. The password goes to openssl on
// stdin, never in argv.
func shadowHash(ctx context.Context, password string) (string, error) {
	cmd := exec.CommandContext(ctx, "openssl", "passwd", "-6", "-stdin")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hashing the sudo user's password with openssl: %w", err)
	}
	h := strings.TrimSpace(string(out))
	if !strings.HasPrefix(h, "$6$") {
		return "", fmt.Errorf("hashing the sudo user's password: unexpected openssl output")
	}
	return h, nil
}

// setShadowPassword replaces user's password field in a shadow file's content.
func setShadowPassword(shadow, user, hash string) (string, error) {
	lines := strings.Split(shadow, "\n")
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) >= 2 && f[0] == user {
			f[1] = hash
			lines[i] = strings.Join(f, ":")
			return strings.Join(lines, "\n"), nil
		}
	}
	return "", fmt.Errorf("user %s not in the rootfs's /etc/shadow", user)
}

func newMachineID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func writeSecret(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
