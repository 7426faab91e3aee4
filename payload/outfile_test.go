package payload

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// outFile must put exactly the bytes written, in order, whatever the chunking and whether or not the
// file system took O_DIRECT; the tail that does not fill an aligned block included.
func TestOutFileWritesTheExactStream(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, direct := range []bool{true, false} {
		for _, size := range []int{0, 1, 4095, outBlock - 1, outBlock, outBlock + 1, 2*outBlock + 12345} {
			want := make([]byte, size)
			for i := range want {
				want[i] = byte(r.Uint32())
			}
			p := filepath.Join(t.TempDir(), "out")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			o := newOutFile(f)
			if !direct && o.direct != nil {
				o.Close()
				o = &outFile{f: f, buf: make([]byte, outBlock)}
			}
			if direct && o.direct == nil {
				t.Logf("O_DIRECT not available in %s: both runs use ordinary writes", filepath.Dir(p))
			}
			for rest := want; len(rest) > 0; {
				k := min(len(rest), 1+r.IntN(3<<20))
				if n, err := o.Write(rest[:k]); err != nil || n != k {
					t.Fatalf("Write: %d, %v", n, err)
				}
				rest = rest[k:]
			}
			if err := o.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("direct=%v size=%d: file differs from what was written (%d bytes)", direct, size, len(got))
			}
		}
	}
}
