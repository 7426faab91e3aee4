package payload

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// flipAt returns a copy of the bundle file with one byte changed.
func flipAt(t *testing.T, path string, off int64, newByte func(byte) byte) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] = newByte(data[off])
	return writeFile(t, filepath.Join(t.TempDir(), "tampered.ferry"), data)
}

func wantMemberErr(t *testing.T, err error, sentinel error, member string) {
	t.Helper()
	var me *MemberError
	if !errors.Is(err, sentinel) || !errors.As(err, &me) || me.Member != member {
		t.Fatalf("got %v; want %v naming member %q", err, sentinel, member)
	}
	if !strings.Contains(err.Error(), strconv.Quote(member)) {
		t.Fatalf("error text %q does not name the member", err)
	}
}

func TestTamperedMembersAreRefused(t *testing.T) {
	f := newFixture(t)
	key := newKey(t)
	path := writeBundle(t, f.src, key)
	orig := openBundle(t, path)
	m := orig.Manifest()
	// One member of every role; for image blobs, a layer and a manifest.
	picks := map[string]string{}
	for _, mem := range m.Members {
		if _, ok := picks[string(mem.Role)]; !ok {
			picks[string(mem.Role)] = mem.Path
		}
	}
	picks["image-layer"] = blobMemberPath(f.shared)
	picks["image-manifest"] = blobMemberPath(f.appDigests[arm64])
	picks["image-index-blob"] = blobMemberPath(f.appIndex)
	if len(picks) != len(knownRoles)+3 {
		t.Fatalf("fixture lacks some member roles: %v", picks)
	}
	for kind, member := range picks {
		t.Run(kind, func(t *testing.T) {
			e := orig.entries[member]
			tampered := flipAt(t, path, e.offset+e.size/2, func(b byte) byte { return b ^ 0x01 })
			b, err := Open(tampered)
			if err != nil {
				t.Fatalf("a flipped data byte should pass Open (structure intact) and fail Verify: %v", err)
			}
			defer b.Close()
			_, err = b.Verify(context.Background(), []ed25519.PublicKey{pub(key)}, nil)
			wantMemberErr(t, err, ErrChecksumMismatch, member)
			// A stream of that member also refuses to end cleanly.
			rc, _ := b.OpenMember(member)
			if _, err := io.ReadAll(rc); !errors.Is(err, ErrChecksumMismatch) {
				t.Fatalf("OpenMember read of a tampered member: %v", err)
			}
		})
	}
}

func TestTamperedManifestAndSignature(t *testing.T) {
	f := newFixture(t)
	key := newKey(t)
	signed := writeBundle(t, f.src, key)
	unsigned := writeBundle(t, f.src, nil)
	hexFlip := func(b byte) byte {
		if b == 'a' {
			return 'b'
		}
		return 'a'
	}
	offsetOf := func(path, member, needle string) int64 {
		b := openBundle(t, path)
		raw := b.RawManifest()
		if member == SignaturePath {
			e := b.entries[SignaturePath]
			raw, _ = io.ReadAll(io.NewSectionReader(b.r, e.offset, e.size))
		}
		i := bytes.Index(raw, []byte(needle))
		if i < 0 {
			t.Fatalf("%q not in %s", needle, member)
		}
		e := b.entries[member]
		return e.offset + int64(i+len(needle)) + 3
	}
	t.Run("manifest hash edited, signed", func(t *testing.T) {
		p := flipAt(t, signed, offsetOf(signed, ManifestPath, `"sha256": "`), hexFlip)
		b := openBundle(t, p)
		_, err := b.Verify(context.Background(), []ed25519.PublicKey{pub(key)}, nil)
		wantMemberErr(t, err, ErrBadSignature, ManifestPath)
	})
	t.Run("manifest hash edited, unsigned", func(t *testing.T) {
		p := flipAt(t, unsigned, offsetOf(unsigned, ManifestPath, `"sha256": "`), hexFlip)
		b := openBundle(t, p)
		_, err := b.Verify(context.Background(), nil, nil)
		if !errors.Is(err, ErrChecksumMismatch) {
			t.Fatalf("an edited hash in an unsigned manifest must still fail the member check: %v", err)
		}
	})
	t.Run("manifest syntax broken", func(t *testing.T) {
		b := openBundle(t, signed)
		p := flipAt(t, signed, b.entries[ManifestPath].offset, func(byte) byte { return 'x' })
		_, err := Open(p)
		wantMemberErr(t, err, ErrBadManifest, ManifestPath)
	})
	t.Run("signature edited", func(t *testing.T) {
		p := flipAt(t, signed, offsetOf(signed, SignaturePath, `"signature": "`), func(b byte) byte {
			if b == 'A' {
				return 'B'
			}
			return 'A'
		})
		b := openBundle(t, p)
		_, err := b.Verify(context.Background(), []ed25519.PublicKey{pub(key)}, nil)
		wantMemberErr(t, err, ErrBadSignature, ManifestPath)
	})
}

func TestTruncatedBundles(t *testing.T) {
	f := newFixture(t)
	path := writeBundle(t, f.src, newKey(t))
	data, _ := os.ReadFile(path)
	for _, cut := range []int{1, 30, 5000, len(data) / 2, len(data) - 200} {
		p := writeFile(t, filepath.Join(t.TempDir(), "cut.ferry"), data[:len(data)-cut])
		if _, err := Open(p); !errors.Is(err, ErrTruncated) {
			t.Errorf("cut %d bytes off the end: %v, want ErrTruncated", cut, err)
		}
	}
	for name, content := range map[string][]byte{"random": randBytes(t, 4096), "empty": nil, "tiny": []byte("PK")} {
		p := writeFile(t, filepath.Join(t.TempDir(), name), content)
		if _, err := Open(p); !errors.Is(err, ErrNotBundle) {
			t.Errorf("%s file: %v, want ErrNotBundle", name, err)
		}
	}
}

type rawEntry struct {
	name   string
	data   []byte
	mode   os.FileMode
	method uint16
}

// rebuild rewrites a bundle's entries through edit into a new zip, as an attacker's tool would.
func rebuild(t *testing.T, path string, edit func([]rawEntry) []rawEntry) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var entries []rawEntry
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		entries = append(entries, rawEntry{name: f.Name, data: data, mode: 0o644})
	}
	entries = edit(entries)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: e.method}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	zw.Close()
	return writeFile(t, filepath.Join(t.TempDir(), "crafted.ferry"), buf.Bytes())
}

func TestCraftedBundlesAreRefused(t *testing.T) {
	f := newFixture(t)
	path := writeBundle(t, f.src, newKey(t))
	add := func(e rawEntry) func([]rawEntry) []rawEntry {
		return func(es []rawEntry) []rawEntry {
			if e.mode == 0 {
				e.mode = 0o644
			}
			return append(es[:1:1], append([]rawEntry{e}, es[1:]...)...)
		}
	}
	replace := func(name string, fn func(*rawEntry)) func([]rawEntry) []rawEntry {
		return func(es []rawEntry) []rawEntry {
			for i := range es {
				if es[i].name == name {
					fn(&es[i])
				}
			}
			return es
		}
	}
	for _, c := range []struct {
		name     string
		edit     func([]rawEntry) []rawEntry
		sentinel error
		member   string
	}{
		{"traversal", add(rawEntry{name: "app/../../etc/cron.d/x", data: []byte("x")}), ErrUnsafePath, "app/../../etc/cron.d/x"},
		{"parent", add(rawEntry{name: "../evil", data: []byte("x")}), ErrUnsafePath, "../evil"},
		{"absolute", add(rawEntry{name: "/etc/passwd", data: []byte("x")}), ErrUnsafePath, "/etc/passwd"},
		{"backslash", add(rawEntry{name: `..\evil`, data: []byte("x")}), ErrUnsafePath, `..\evil`},
		{"duplicate", add(rawEntry{name: chartPath, data: []byte("other chart")}), ErrDuplicateMember, chartPath},
		{"unlisted", add(rawEntry{name: "app/extra.yaml", data: []byte("x: 1")}), ErrUnlistedMember, "app/extra.yaml"},
		{"symlink", add(rawEntry{name: "app/link", data: []byte("/etc/shadow"), mode: os.ModeSymlink | 0o777}), ErrLink, "app/link"},
		{"listed member as symlink", replace(chartPath, func(e *rawEntry) { e.mode = os.ModeSymlink | 0o777; e.data = []byte("/etc/shadow") }), ErrLink, chartPath},
		{"directory", add(rawEntry{name: "app/dir/", mode: os.ModeDir | 0o755}), ErrLink, "app/dir/"},
		{"compressed", replace(valuesPath, func(e *rawEntry) { e.method = zip.Deflate }), ErrUnsupportedFormat, valuesPath},
		{"missing", func(es []rawEntry) []rawEntry {
			var out []rawEntry
			for _, e := range es {
				if e.name != valuesPath {
					out = append(out, e)
				}
			}
			return out
		}, ErrMissingMember, valuesPath},
		{"resized", replace(valuesPath, func(e *rawEntry) { e.data = append(e.data, '\n') }), ErrSizeMismatch, valuesPath},
		{"oversized manifest", replace(ManifestPath, func(e *rawEntry) {
			e.data = append(e.data, bytes.Repeat([]byte(" "), MaxManifestSize)...)
		}), ErrManifestTooLarge, ManifestPath},
		{"oversized signature", replace(SignaturePath, func(e *rawEntry) {
			e.data = append(e.data, bytes.Repeat([]byte(" "), MaxSignatureSize)...)
		}), ErrManifestTooLarge, SignaturePath},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(rebuild(t, path, c.edit))
			wantMemberErr(t, err, c.sentinel, c.member)
		})
	}
	// The untouched rebuild is accepted: the refusals above come from the edits, not from rebuilding.
	if _, err := Open(rebuild(t, path, func(es []rawEntry) []rawEntry { return es })); err != nil {
		t.Fatalf("a faithful rebuild was refused: %v", err)
	}
}

// TestOverlappingMembersAreRefused points one central directory entry at another member's local header,
// so two names share bytes: a zip trick archive/zip itself accepts.
func TestOverlappingMembersAreRefused(t *testing.T) {
	f := newFixture(t)
	path := writeBundle(t, f.src, nil)
	data, _ := os.ReadFile(path)
	eocd := bytes.LastIndex(data, []byte("PK\x05\x06"))
	le16 := func(o int) int { return int(data[o]) | int(data[o+1])<<8 }
	le32 := func(o int) int { return le16(o) | le16(o+2)<<16 }
	dirOff := le32(eocd + 16)
	offsets := map[string]int{} // name -> position of its local-header-offset field
	for p := dirOff; p < eocd && string(data[p:p+4]) == "PK\x01\x02"; {
		n, x, c := le16(p+28), le16(p+30), le16(p+32)
		offsets[string(data[p+46:p+46+n])] = p + 42
		p += 46 + n + x + c
	}
	victim, target := offsets[valuesPath], offsets[chartPath]
	if victim == 0 || target == 0 {
		t.Fatal("central directory not parsed")
	}
	copy(data[victim:victim+4], data[target:target+4])
	_, err := Open(writeFile(t, filepath.Join(t.TempDir(), "overlap.ferry"), data))
	if !errors.Is(err, ErrOverlap) {
		t.Fatalf("overlapping members: %v, want ErrOverlap", err)
	}
}
