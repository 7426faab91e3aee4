package payload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// fakeStager plays a pull in progress: the blobs it holds back sit outside the layout until release
// moves them in, in whatever order the test picks.
type fakeStager struct {
	index   []byte
	layout  string
	hidden  string
	mu      sync.Mutex
	ready   map[v1.Hash]chan struct{}
	fail    error
	waiting chan v1.Hash // receives each digest Write starts waiting for (non-blocking)
}

// newFakeStager moves every layer, and every config the planner does not need to read, out of the
// layout of src and returns a stager for them.
func newFakeStager(t *testing.T, src Source) (*fakeStager, []v1.Hash) {
	t.Helper()
	index, err := os.ReadFile(filepath.Join(src.Images, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeStager{index: index, layout: src.Images, hidden: t.TempDir(), ready: map[v1.Hash]chan struct{}{},
		waiting: make(chan v1.Hash, 100)}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(index))
	if err != nil {
		t.Fatal(err)
	}
	readManifest := func(h v1.Hash) *v1.Manifest {
		m, err := v1.ParseManifest(mustOpenFile(t, filepath.Join(src.Images, "blobs", "sha256", h.Hex)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var hide []v1.Hash
	for _, d := range idx.Manifests {
		if d.MediaType.IsIndex() {
			child, err := v1.ParseIndexManifest(mustOpenFile(t, filepath.Join(src.Images, "blobs", "sha256", d.Digest.Hex)))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range child.Manifests {
				if _, err := os.Stat(filepath.Join(src.Images, "blobs", "sha256", c.Digest.Hex)); err != nil {
					continue // a platform the layout does not carry
				}
				m := readManifest(c.Digest)
				hide = append(hide, m.Config.Digest)
				for _, l := range m.Layers {
					hide = append(hide, l.Digest)
				}
			}
			continue
		}
		for _, l := range readManifest(d.Digest).Layers {
			hide = append(hide, l.Digest)
		}
	}
	var out []v1.Hash
	for _, h := range hide {
		if _, ok := s.ready[h]; ok {
			continue
		}
		if err := os.Rename(filepath.Join(src.Images, "blobs", "sha256", h.Hex), filepath.Join(s.hidden, h.Hex)); err != nil {
			t.Fatal(err)
		}
		s.ready[h] = make(chan struct{})
		out = append(out, h)
	}
	return s, out
}

func mustOpenFile(t *testing.T, p string) *bytes.Reader {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func (s *fakeStager) IndexJSON() []byte { return s.index }

func (s *fakeStager) Await(ctx context.Context, h v1.Hash) error {
	ch, ok := s.ready[h]
	if !ok {
		return nil // never held back
	}
	select {
	case s.waiting <- h:
	default:
	}
	select {
	case <-ch:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.fail
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *fakeStager) release(t *testing.T, h v1.Hash) {
	if err := os.Rename(filepath.Join(s.hidden, h.Hex), filepath.Join(s.layout, "blobs", "sha256", h.Hex)); err != nil {
		t.Error(err)
	}
	close(s.ready[h])
}

// copySource copies the fixture's layout so each run can hide and release blobs on its own.
func copySource(t *testing.T, src Source) Source {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "layout")
	if err := os.CopyFS(dst, os.DirFS(src.Images)); err != nil {
		t.Fatal(err)
	}
	src.Images = dst
	return src
}

func TestWriteWithStagerIsIdenticalWhateverTheCompletionOrder(t *testing.T) {
	f := newFixture(t)
	key := newKey(t)
	want, err := os.ReadFile(writeBundle(t, f.src, key))
	if err != nil {
		t.Fatal(err)
	}
	for i, order := range []string{"forward", "reverse", "shuffled"} {
		for _, verified := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/verified=%v", order, verified), func(t *testing.T) {
				src := copySource(t, f.src)
				st, held := newFakeStager(t, src)
				if len(held) < 4 {
					t.Fatalf("only %d blobs held back; the test proves little", len(held))
				}
				switch order {
				case "reverse":
					for a, b := 0, len(held)-1; a < b; a, b = a+1, b-1 {
						held[a], held[b] = held[b], held[a]
					}
				case "shuffled":
					r := rand.New(rand.NewPCG(uint64(i), 7))
					r.Shuffle(len(held), func(a, b int) { held[a], held[b] = held[b], held[a] })
				}
				go func() {
					for _, h := range held {
						time.Sleep(time.Millisecond)
						st.release(t, h)
					}
				}()
				dst := filepath.Join(t.TempDir(), "b.ferry")
				if err := Write(context.Background(), dst, src, WriteOptions{Key: key, Stager: st, BlobsVerified: verified}); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(dst)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatal("a pipelined write differs from a write of the complete layout")
				}
				if _, err := openBundle(t, dst).Verify(context.Background(), []ed25519.PublicKey{pub(key)}, nil); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestWriteWithStagerCancelWhileWaitingLeavesNothing(t *testing.T) {
	f := newFixture(t)
	src := copySource(t, f.src)
	st, _ := newFakeStager(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dst := filepath.Join(t.TempDir(), "x.ferry")
	go func() {
		<-st.waiting // Write has written the leading members and waits for a blob: the pipeline is mid-way
		if _, err := os.Stat(dst + ".partial"); err != nil {
			t.Errorf("no partial file while waiting for a blob: %v", err)
		}
		cancel()
	}()
	err := Write(ctx, dst, src, WriteOptions{Stager: st, BlobsVerified: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write cancelled while waiting for a blob: %v", err)
	}
	assertNoOutput(t, dst)
}

func TestWriteWithStagerReportsTheStagersFailure(t *testing.T) {
	f := newFixture(t)
	src := copySource(t, f.src)
	st, held := newFakeStager(t, src)
	errPull := errors.New("registry went away")
	st.fail = errPull
	close(st.ready[held[0]]) // Await for it now returns the failure
	dst := filepath.Join(t.TempDir(), "x.ferry")
	go func() {
		for _, h := range held[1:] {
			st.release(t, h)
		}
	}()
	if err := Write(context.Background(), dst, src, WriteOptions{Stager: st}); !errors.Is(err, errPull) {
		t.Fatalf("Write with a failing stager: %v", err)
	}
	assertNoOutput(t, dst)
}

// BlobsVerified trusts the staged names, so a blob damaged after staging is written as is; the
// manifest still records the digest, and Verify, which hashes everything, refuses the bundle.
func TestBlobsVerifiedStillCaughtByVerify(t *testing.T) {
	f := newFixture(t)
	src := copySource(t, f.src)
	p := filepath.Join(src.Images, "blobs", "sha256", f.shared.Hex)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "x.ferry")
	if err := Write(context.Background(), dst, src, WriteOptions{}); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("Write without BlobsVerified of a damaged blob: %v", err)
	}
	assertNoOutput(t, dst)
	key := newKey(t)
	if err := Write(context.Background(), dst, src, WriteOptions{Key: key, BlobsVerified: true}); err != nil {
		t.Fatal(err)
	}
	_, err = openBundle(t, dst).Verify(context.Background(), []ed25519.PublicKey{pub(key)}, nil)
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("Verify of a bundle with a damaged blob: %v", err)
	}
}
