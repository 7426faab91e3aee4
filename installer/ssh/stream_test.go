package ssh

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
	"github.com/ferry-delivery/ferry/installer/transfer"
)

// The host-side streaming hash (real sshd, real sh, dd and openssl) hashes exactly the ranges it is fed,
// in order, including a short last one; a range it was not fed is not in the digest.
func TestRemoteSha256Stream(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	h := dial(t, rootConfig(t, s, t.TempDir()))
	data := make([]byte, 5<<20+123)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "it's a file") // quoting
	os.WriteFile(p, data, 0o644)
	hash := func(ranges ...transfer.Range) string {
		ch := make(chan transfer.Range, len(ranges))
		for _, r := range ranges {
			ch <- r
		}
		close(ch)
		got, err := h.RemoteSha256Stream(context.Background(), p, ch)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

	if got := hash(transfer.Range{Off: 0, N: 2 << 20}, transfer.Range{Off: 2 << 20, N: 2 << 20}, transfer.Range{Off: 4 << 20, N: 1<<20 + 123}); got != sum(data) {
		t.Fatalf("whole file: %s, want %s", got, sum(data))
	}
	if got := hash(transfer.Range{Off: 0, N: 2 << 20}, transfer.Range{Off: 4 << 20, N: 1<<20 + 123}); got == sum(data) {
		t.Fatal("a skipped range did not change the digest")
	}
	if got := hash(); got != sum(nil) {
		t.Fatalf("no ranges: %s, want the empty digest", got)
	}
	// Cancelled: returns promptly with an error even though the feeder never closes its channel.
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan transfer.Range)
	defer close(ch)
	cancel()
	if _, err := h.RemoteSha256Stream(ctx, p, ch); err == nil {
		t.Fatal("cancelled stream hash succeeded")
	}
}
