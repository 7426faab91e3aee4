package transfer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/transfer"
	"github.com/ferry-delivery/ferry/internal/progress"
)

func payload(t *testing.T, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "k3s")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestMain(m *testing.M) {
	// Small chunks so small files exercise chunked verification and resumption.
	transfer.VerifyChunk = 1 << 20
	os.Exit(m.Run())
}

func TestUploadFreshSkipResume(t *testing.T) {
	const size = 20<<20 + 123
	src, data := payload(t, size)
	f := hosttest.New("node1", t.TempDir())
	ctx := context.Background()
	dst := "/usr/local/bin/k3s"

	// A cut link leaves a partial temporary file and no target.
	f.CutAfter = 15 << 20
	if _, err := f.Upload(ctx, src, dst, host.UploadOptions{Mode: 0o755}); !errors.Is(err, hosttest.ErrCut) {
		t.Fatalf("cut upload: err = %v, want ErrCut", err)
	}
	if _, err := f.Stat(ctx, dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target exists after a cut upload: %v", err)
	}

	// The re-run continues: fewer bytes than the file cross the wire, and the result is verified.
	f.CutAfter = 0
	res, err := f.Upload(ctx, src, dst, host.UploadOptions{Mode: 0o755})
	if err != nil {
		t.Fatal(err)
	}
	// Only chunks not wholly on the host (plus any a concurrent write left incomplete) are sent again.
	if !res.Resumed || res.Sent >= size-10<<20 || res.Sent < size-15<<20 {
		t.Fatalf("resume: %+v, want Resumed and %d <= Sent < %d", res, size-15<<20, size-10<<20)
	}
	got, _ := os.ReadFile(filepath.Join(f.Root, dst))
	if !bytes.Equal(got, data) || res.Sha256 != sum(data) {
		t.Fatal("resumed file differs from the source")
	}
	if fi, _ := os.Stat(filepath.Join(f.Root, dst)); fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, want 0755", fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(f.Root, "/usr/local/bin/.k3s.ferry-part")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}

	// Present with the right hash: nothing is sent.
	res, err = f.Upload(ctx, src, dst, host.UploadOptions{Sha256: sum(data)})
	if err != nil || !res.Skipped || res.Sent != 0 {
		t.Fatalf("second upload: %+v, %v; want skipped", res, err)
	}

	// Same size, different content: uploaded again.
	os.WriteFile(filepath.Join(f.Root, dst), make([]byte, size), 0o755)
	res, err = f.Upload(ctx, src, dst, host.UploadOptions{})
	if err != nil || res.Skipped || res.Sent != size {
		t.Fatalf("stale target: %+v, %v; want a full upload", res, err)
	}
}

// A partial file altered on the host (e.g. a hole after out-of-order writes) must not poison the result:
// the host-side hash catches the bad chunk, which alone is sent again.
func TestUploadResumeDistrustsPartial(t *testing.T) {
	const size = 30 << 20
	src, data := payload(t, size)
	f := hosttest.New("node1", t.TempDir())
	part := filepath.Join(f.Root, "/opt/.app.tar.ferry-part")
	os.MkdirAll(filepath.Dir(part), 0o755)
	bad := append([]byte(nil), data[:25<<20]...)
	bad[1000] ^= 0xff // before the resume margin: only the final hash can notice
	os.WriteFile(part, bad, 0o600)

	res, err := f.Upload(context.Background(), src, "/opt/app.tar", host.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(f.Root, "/opt/app.tar"))
	if !bytes.Equal(got, data) {
		t.Fatal("uploaded file differs from the source")
	}
	if !res.Resumed || res.Sent != size-25<<20+1<<20 {
		t.Fatalf("sent %d, want the missing 5 MiB and the altered 1 MiB chunk", res.Sent)
	}
}

// Bytes altered on the way (or on the host's disk) are caught by the host-side hashes; nothing is put
// in place.
func TestUploadDetectsCorruptionOnHost(t *testing.T) {
	src, _ := payload(t, 5<<20)
	f := hosttest.New("node1", t.TempDir())
	f.FlipAt = 3<<20 + 17
	_, err := f.Upload(context.Background(), src, "/opt/x", host.UploadOptions{})
	if !errors.Is(err, transfer.ErrChecksumMismatch) {
		t.Fatalf("err = %v, want ErrChecksumMismatch", err)
	}
	if _, err := os.Stat(filepath.Join(f.Root, "/opt/x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a corrupted file was put in place")
	}
}

func TestUploadLocalHashMismatch(t *testing.T) {
	src, _ := payload(t, 1<<20)
	f := hosttest.New("node1", t.TempDir())
	_, err := f.Upload(context.Background(), src, "/opt/x", host.UploadOptions{Sha256: sum([]byte("other"))})
	if !errors.Is(err, transfer.ErrChecksumMismatch) {
		t.Fatalf("err = %v, want ErrChecksumMismatch", err)
	}
	if _, err := os.Stat(filepath.Join(f.Root, "/opt/x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file with the wrong hash was put in place")
	}
}

func TestUploadCancelAndProgress(t *testing.T) {
	src, _ := payload(t, 64<<20)
	f := hosttest.New("node1", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var events []progress.Event
	sink := func(e progress.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
		cancel() // the first report arrives mid-transfer

	}
	_, err := f.Upload(ctx, src, "/opt/big", host.UploadOptions{Progress: sink, Phase: "upload"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(f.Root, "/opt/big")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("cancelled upload left a target")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) == 0 || events[0].Host != "node1" || events[0].Total != 64<<20 || events[0].Phase != "upload" {
		t.Fatalf("progress events: %+v", events)
	}
}

func TestUploadRejectsRelativeTarget(t *testing.T) {
	src, _ := payload(t, 10)
	f := hosttest.New("node1", t.TempDir())
	if _, err := f.Upload(context.Background(), src, "opt/x", host.UploadOptions{}); err == nil {
		t.Fatal("relative target accepted")
	}
}

func TestUploadNonRootStagesAndSudoMoves(t *testing.T) {
	src, data := payload(t, 3<<20)
	f := hosttest.New("node1", t.TempDir())
	f.NotRoot = true
	var placed host.Cmd
	f.Handler = func(c host.Cmd) (host.Result, error) {
		placed = c
		// Emulate the sudo move: staging file into place.
		os.MkdirAll(filepath.Join(f.Root, "/usr/local/bin"), 0o755)
		matches, _ := filepath.Glob(filepath.Join(f.Root, "/home/user", transfer.StagingDir, "k3s.*.ferry-part"))
		if len(matches) != 1 {
			return host.Result{ExitCode: 1}, nil
		}
		return host.Result{}, os.Rename(matches[0], filepath.Join(f.Root, "/usr/local/bin/k3s"))
	}
	if _, err := f.Upload(context.Background(), src, "/usr/local/bin/k3s", host.UploadOptions{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if !placed.Sudo {
		t.Fatalf("placing command not run with sudo: %+v", placed)
	}
	got, _ := os.ReadFile(filepath.Join(f.Root, "/usr/local/bin/k3s"))
	if !bytes.Equal(got, data) {
		t.Fatal("placed file differs")
	}
}

// With the bundle's hash given, the local file is not hashed before sending: the host's hash of the
// whole file decides. Bytes damaged on the way are refused, and the re-run sends only the bad chunk.
func TestUploadGivenHashCheckedOnHost(t *testing.T) {
	const size = 6 << 20
	src, data := payload(t, size)
	f := hosttest.New("node1", t.TempDir())
	f.FlipAt = 4<<20 + 5
	_, err := f.Upload(context.Background(), src, "/opt/x", host.UploadOptions{Sha256: sum(data)})
	if !errors.Is(err, transfer.ErrChecksumMismatch) || !strings.Contains(err.Error(), "on host") {
		t.Fatalf("err = %v, want a host-side ErrChecksumMismatch", err)
	}
	if _, err := os.Stat(filepath.Join(f.Root, "/opt/x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a corrupted file was put in place")
	}
	f.FlipAt = 0
	res, err := f.Upload(context.Background(), src, "/opt/x", host.UploadOptions{Sha256: sum(data)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(f.Root, "/opt/x")); !bytes.Equal(got, data) || res.Sha256 != sum(data) {
		t.Fatal("uploaded file differs from the source")
	}
	if !res.Resumed || res.Sent != transfer.VerifyChunk {
		t.Fatalf("re-run: %+v, want only the damaged chunk sent", res)
	}
}

// noStream hides the fake's StreamHasher: such targets get one whole-file hash after the transfer.
type noStream struct{ transfer.Target }

func TestUploadWithoutStreamHasher(t *testing.T) {
	src, data := payload(t, 3<<20+5)
	f := hosttest.New("node1", t.TempDir())
	res, err := transfer.Upload(context.Background(), noStream{f}, src, "/opt/y", host.UploadOptions{})
	if err != nil || res.Sha256 != sum(data) {
		t.Fatalf("upload: %+v, %v", res, err)
	}
	if got, _ := os.ReadFile(filepath.Join(f.Root, "/opt/y")); !bytes.Equal(got, data) {
		t.Fatal("uploaded file differs from the source")
	}
	f.FlipAt = 1 << 20
	if _, err := transfer.Upload(context.Background(), noStream{f}, src, "/opt/z", host.UploadOptions{}); !errors.Is(err, transfer.ErrChecksumMismatch) {
		t.Fatalf("corrupted upload: err = %v, want ErrChecksumMismatch", err)
	}
}
