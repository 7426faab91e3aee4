package payload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The seed corpus in testdata/fuzz/<FuzzName>/ holds a small real bundle and its manifest; `go test` runs
// the seeds, `go test -fuzz=FuzzOpen ./payload` (or FuzzParseManifest) explores from them. Regenerate
// the seeds after a format change with FERRY_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./payload.

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"formatVersion":1}`))
	f.Add([]byte(`{"formatVersion":2}`))
	f.Add([]byte(`{"formatVersion":1,"members":[{"path":"../x"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip unchanged.
		out, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-parsing a marshalled manifest: %v", err)
		}
		if diff := cmp.Diff(m, again, cmpopts.IgnoreUnexported(Manifest{})); diff != "" {
			t.Fatalf("round trip changed the manifest:\n%s", diff)
		}
		for _, mem := range m.Members {
			if checkPath(mem.Path) != nil {
				t.Fatalf("unsafe path %q accepted", mem.Path)
			}
		}
	})
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := OpenReaderAt(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, m := range b.Manifest().Members {
			sec, err := b.MemberSection(m.Path)
			if err != nil {
				t.Fatalf("listed member %s not readable: %v", m.Path, err)
			}
			if sec.Size() != m.Size {
				t.Fatalf("member %s: section %d bytes, manifest %d", m.Path, sec.Size(), m.Size)
			}
		}
		b.Verify(context.Background(), nil, nil)
		for _, p := range b.Manifest().Platforms {
			b.WriteImageArchive(context.Background(), io.Discard, p, ArchiveOptions{})
		}
	})
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FERRY_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set FERRY_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz seeds")
	}
	fx := newFixtureSized(t, 200)
	bundle, err := os.ReadFile(writeBundle(t, fx.src, newKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	b := openBundle(t, writeBundle(t, fx.src, nil))
	seed := func(fuzz, name string, data []byte) {
		p := filepath.Join("testdata", "fuzz", fuzz, name)
		writeFile(t, p, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)))
	}
	seed("FuzzOpen", "signed-bundle", bundle)
	seed("FuzzOpen", "truncated-bundle", bundle[:len(bundle)-40])
	seed("FuzzParseManifest", "manifest", b.RawManifest())
}
