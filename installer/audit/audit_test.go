package audit

import (
	"path/filepath"
	"sync"
	"testing"
)

func TestRecordAppendsConcurrently(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "records")
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := l.Record(Entry{Host: "n1", Kind: "run", Cmd: "true", ExitCode: i}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	es, err := Read(l.Path())
	if err != nil || len(es) != 20 {
		t.Fatalf("read %d entries, %v; want 20", len(es), err)
	}
	seen := map[int]bool{}
	for _, e := range es {
		seen[e.ExitCode] = true
	}
	if len(seen) != 20 {
		t.Fatalf("entries lost or garbled: %v", seen)
	}
	var nilLog *Log
	if err := nilLog.Record(Entry{}); err != nil {
		t.Fatal(err)
	}
}
