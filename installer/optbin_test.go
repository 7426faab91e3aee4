package installer

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
)

// A host whose /usr/local/bin is on a read-only mount (image-based distributions) gets k3s in /opt/bin:
// the facts say so, and the node's files follow: the unit's ExecStart, the reset scripts; nothing is
// written to /usr/local/bin.
func TestOptBinFallback(t *testing.T) {
	raw, err := os.ReadFile("preflight/testdata/debian-systemd.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mount, bin string
	}{{"ro", "/opt/bin"}, {"rw", "/usr/local/bin"}} {
		t.Run(tc.mount, func(t *testing.T) {
			fixture := strings.NewReplacer("### id\n1000", "### id\n0", "file /usr/local/bin/k3s\nmarker plant-7\n", "",
				"### end", "### usrlocalbin\n"+tc.mount+"\n### end").Replace(string(raw))
			var mu sync.Mutex
			written := map[string]string{}
			f := hosttest.New("cp1", t.TempDir())
			f.Handler = func(c host.Cmd) (host.Result, error) {
				switch {
				case strings.HasPrefix(c.Line, "sh -c "):
					return host.Result{Stdout: []byte(fixture)}, nil
				case strings.HasPrefix(c.Line, "set -e; mkdir -p"):
					b, _ := io.ReadAll(c.Stdin)
					fs := strings.Fields(c.Line)
					mu.Lock()
					written[strings.Trim(fs[len(fs)-1], "'")] = string(b)
					mu.Unlock()
				}
				return host.Result{}, nil
			}
			s := writeSite(t, fakeSite)
			st, err := newState(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			st.m = &phase.Manager{}
			facts, err := preflight.Gather(context.Background(), f, preflight.GatherOptions{DataDir: s.DataDir()})
			if err != nil {
				t.Fatal(err)
			}
			st.facts["cp1"] = facts
			c := &cluster{st: st, cache: map[string]string{}}
			if got := c.paths("cp1").Binary(); got != tc.bin+"/k3s" {
				t.Fatalf("binary at %s, want %s/k3s", got, tc.bin)
			}
			tok, err := k3s.GenerateToken()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.setupNode(context.Background(), "test", f, tok); err != nil {
				t.Fatal(err)
			}
			unit, ok := written[k3s.UnitFile(k3s.RoleServerFirst)]
			if !ok {
				t.Fatalf("no unit written; wrote %v", keys(written))
			}
			if !strings.Contains(unit, "\nExecStart="+tc.bin+"/k3s server") {
				t.Errorf("unit ExecStart does not use %s/k3s:\n%s", tc.bin, unit)
			}
			other := map[string]string{"/opt/bin": "/usr/local/bin", "/usr/local/bin": "/opt/bin"}[tc.bin]
			var inBin int
			for p, data := range written {
				if strings.HasPrefix(p, other+"/") || bytes.Contains([]byte(data), []byte(other+"/k3s")) {
					t.Errorf("%s: %s refers to %s", tc.mount, p, other)
				}
				if strings.HasPrefix(p, tc.bin+"/") {
					inBin++
				}
			}
			if inBin == 0 {
				t.Errorf("no reset scripts written to %s: %v", tc.bin, keys(written))
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
