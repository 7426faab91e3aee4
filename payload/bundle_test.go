package payload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/internal/progress"
)

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	key := newKey(t)
	var events []progress.Event
	dst := filepath.Join(t.TempDir(), "demo.ferry")
	if err := Write(context.Background(), dst, f.src, WriteOptions{Key: key, Progress: func(e progress.Event) { events = append(events, e) }}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dst + ".partial"); !os.IsNotExist(err) {
		t.Fatalf("partial file left behind: %v", err)
	}
	if len(events) == 0 || events[len(events)-1].Done != events[len(events)-1].Total || events[len(events)-1].Total == 0 {
		t.Fatalf("progress did not end at done == total: %+v", events[len(events)-1:])
	}
	b := openBundle(t, dst)
	m := b.Manifest()
	if diff := cmp.Diff(f.src.App, m.App); diff != "" {
		t.Errorf("app (-want +got):\n%s", diff)
	}
	if m.K3s.Version != f.src.K3s.Version || !cmp.Equal(m.Platforms, f.src.Platforms) {
		t.Errorf("k3s %q platforms %v", m.K3s.Version, m.Platforms)
	}
	wantK3s := map[Platform]K3sFiles{
		amd64: {Binary: "k3s/linux-amd64/k3s", Checksums: "k3s/linux-amd64/sha256sum-amd64.txt", AirgapImages: "k3s/linux-amd64/k3s-airgap-images-amd64.tar.zst"},
		arm64: {Binary: "k3s/linux-arm64/k3s-arm64", Checksums: "k3s/linux-arm64/sha256sum-arm64.txt", AirgapImages: "k3s/linux-arm64/k3s-airgap-images-arm64.tar.zst"},
	}
	if diff := cmp.Diff(wantK3s, m.K3s.Assets); diff != "" {
		t.Errorf("k3s assets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ChartInfo{Path: chartPath, Name: "demo", Version: "0.3.0", AppVersion: "1.2.0"}, m.Chart); diff != "" {
		t.Errorf("chart (-want +got):\n%s", diff)
	}
	if m.Schema == "" {
		t.Error("the chart's values.schema.json was not carried")
	}
	// Members read back equal their sources.
	for _, c := range []struct{ member, file string }{
		{wantK3s[arm64].Binary, f.src.K3s.Assets[arm64].Binary},
		{wantK3s[amd64].AirgapImages, f.src.K3s.Assets[amd64].AirgapImages},
		{chartPath, f.src.Chart},
	} {
		want, _ := os.ReadFile(c.file)
		if got := readMember(t, b, c.member); !bytes.Equal(got, want) {
			t.Errorf("%s: read back %d bytes differing from %s", c.member, len(got), c.file)
		}
	}
	if got := string(readMember(t, b, m.Values)); got != "replicas: 2\nimage: example.com/app:1.0\n" {
		t.Errorf("default values taken from the chart: got %q", got)
	}
	// Images: the multi-arch index keeps its upstream digest; both get one manifest per platform.
	want := []Image{
		{Ref: f.appRef, Digest: f.appIndex.String(), MediaType: "application/vnd.oci.image.index.v1+json", Platforms: f.appDigests},
	}
	if diff := cmp.Diff(want[0], m.Images[0]); diff != "" {
		t.Errorf("app image (-want +got):\n%s", diff)
	}
	if len(m.Images) != 2 || m.Images[1].Ref != f.toolRef || m.Images[1].Digest != "" || len(m.Images[1].Platforms) != 2 {
		t.Errorf("tool image from two single-platform entries: %+v", m.Images[1:])
	}
	// Content addressing: the shared layer is one member; the s390x blobs are not carried.
	n := 0
	for _, mem := range m.Members {
		if strings.HasSuffix(mem.Path, f.shared.Hex) {
			n++
		}
		for _, h := range f.s390xOnly {
			if strings.HasSuffix(mem.Path, h.Hex) {
				t.Errorf("blob %s of an unrequested platform was bundled", h)
			}
		}
	}
	if n != 1 {
		t.Errorf("shared layer stored %d times, want once", n)
	}
	v, err := b.Verify(context.Background(), []ed25519.PublicKey{pub(newKey(t)), pub(key)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Trusted || !v.Signed || v.KeyID != KeyID(pub(key)) || v.Members != len(m.Members) {
		t.Errorf("verification %+v", v)
	}
}

func readMember(t *testing.T, b *Bundle, path string) []byte {
	t.Helper()
	rc, err := b.OpenMember(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWriteIsReproducible(t *testing.T) {
	f := newFixture(t)
	key := newKey(t)
	a, _ := os.ReadFile(writeBundle(t, f.src, key))
	b, _ := os.ReadFile(writeBundle(t, f.src, key))
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of the same source differ")
	}
}

func TestSignatureDecisions(t *testing.T) {
	f := newFixture(t)
	vendor, other := newKey(t), newKey(t)
	signed := writeBundle(t, f.src, vendor)
	unsigned := writeBundle(t, f.src, nil)
	for _, c := range []struct {
		name    string
		path    string
		trusted []ed25519.PublicKey
		want    error
		notWant error
	}{
		{"trusted", signed, []ed25519.PublicKey{pub(vendor)}, nil, nil},
		{"wrong key", signed, []ed25519.PublicKey{pub(other)}, ErrUntrusted, ErrBadSignature},
		{"no keys", signed, nil, ErrUntrusted, ErrBadSignature},
		{"unsigned", unsigned, []ed25519.PublicKey{pub(vendor)}, ErrUnsigned, ErrBadSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := openBundle(t, c.path)
			v, err := b.Verify(context.Background(), c.trusted, nil)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
			if c.notWant != nil && errors.Is(err, c.notWant) {
				t.Fatalf("Verify: %v, must not be %v", err, c.notWant)
			}
			if v.Trusted != (c.want == nil) || v.Members != len(b.Manifest().Members) {
				t.Fatalf("verification %+v", v)
			}
		})
	}
}

func TestWriteChecksK3sAgainstSha256sum(t *testing.T) {
	f := newFixture(t)
	bin := f.src.K3s.Assets[arm64].Binary
	data, _ := os.ReadFile(bin)
	data[len(data)/2] ^= 1
	os.WriteFile(bin, data, 0o644)
	dst := filepath.Join(t.TempDir(), "x.ferry")
	err := Write(context.Background(), dst, f.src, WriteOptions{})
	var me *MemberError
	if !errors.Is(err, ErrChecksumMismatch) || !errors.As(err, &me) || me.Member != "k3s/linux-arm64/k3s-arm64" {
		t.Fatalf("Write with a corrupt k3s binary: %v", err)
	}
	assertNoOutput(t, dst)
}

func assertNoOutput(t *testing.T, dst string) {
	t.Helper()
	for _, p := range []string{dst, dst + ".partial"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed write", p)
		}
	}
}

func TestWriteCancelLeavesNothing(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dst := filepath.Join(t.TempDir(), "x.ferry")
	sawPartial := false
	err := Write(ctx, dst, f.src, WriteOptions{Progress: func(e progress.Event) {
		if e.Done > 0 {
			_, err := os.Stat(dst + ".partial")
			sawPartial = err == nil
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after cancel: %v", err)
	}
	if !sawPartial {
		t.Fatal("cancel came before the partial file existed; the test proves nothing")
	}
	assertNoOutput(t, dst)
}

func TestWriteRefusesBadSources(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Source)
		want string
	}{
		{"no app version", func(s *Source) { s.App.Version = "" }, "app name and version"},
		{"missing platform assets", func(s *Source) { delete(s.K3s.Assets, arm64) }, "no k3s assets for linux/arm64"},
		{"platform without image variant", func(s *Source) {
			s.Platforms = append(s.Platforms, "linux/riscv64")
			s.K3s.Assets["linux/riscv64"] = s.K3s.Assets[arm64]
		}, "no linux/riscv64 variant"},
		{"sums without binary line", func(s *Source) {
			a := s.K3s.Assets[amd64]
			a.Checksums = s.K3s.Assets[arm64].Checksums
			s.K3s.Assets[amd64] = a
		}, "has no line for k3s"},
		{"missing chart", func(s *Source) { s.Chart = s.Chart + ".gone" }, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			c.edit(&f.src)
			dst := filepath.Join(t.TempDir(), "x.ferry")
			err := Write(context.Background(), dst, f.src, WriteOptions{})
			if !errors.Is(err, ErrBadSource) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrBadSource mentioning %q", err, c.want)
			}
			assertNoOutput(t, dst)
		})
	}
}

func TestBundleAppendedToExecutable(t *testing.T) {
	f := newFixture(t)
	key := newKey(t)
	bundle, _ := os.ReadFile(writeBundle(t, f.src, key))
	exe, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	joined := writeFile(t, filepath.Join(t.TempDir(), "installer"), append(append([]byte{}, exe...), bundle...))
	b := openBundle(t, joined)
	if _, err := b.Verify(context.Background(), []ed25519.PublicKey{pub(key)}, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(f.src.K3s.Assets[amd64].Binary)
	if got := readMember(t, b, "k3s/linux-amd64/k3s"); !bytes.Equal(got, want) {
		t.Fatal("k3s binary read from the appended bundle differs")
	}
	var buf bytes.Buffer
	if err := b.WriteImageArchive(context.Background(), &buf, amd64, ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestMemberSectionRandomAccess(t *testing.T) {
	f := newFixture(t)
	b := openBundle(t, writeBundle(t, f.src, nil))
	want, _ := os.ReadFile(f.src.K3s.Assets[amd64].Binary)
	sec, err := b.MemberSection("k3s/linux-amd64/k3s")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 100)
	if _, err := sec.ReadAt(got, 5000); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want[5000:5100]) {
		t.Fatal("ReadAt at an offset returned other bytes")
	}
	if _, err := b.MemberSection("k3s/linux-amd64/nope"); !errors.Is(err, ErrMissingMember) {
		t.Fatalf("unknown member: %v", err)
	}
}
