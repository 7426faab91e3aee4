package installer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
)

// Each host gets the payload of its own platform; a dry run lists the uploads and sends nothing.
func TestUploadPhasePerPlatform(t *testing.T) {
	s := writeSite(t, fakeSite)
	dir := t.TempDir()
	bins := map[string][]byte{"amd64": []byte("k3s for amd64"), "arm64": []byte("k3s for arm64, longer")}
	for a, b := range bins {
		os.WriteFile(filepath.Join(dir, "k3s-"+a), b, 0o755)
	}
	plan := func(f *preflight.Facts) ([]UploadItem, error) {
		return []UploadItem{{Src: filepath.Join(dir, "k3s-"+f.Arch), Dst: "/usr/local/bin/k3s", Mode: 0o755}}, nil
	}
	for _, dry := range []bool{false, true} {
		st, err := newState(s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m := &phase.Manager{DryRun: dry}
		fakes := map[string]*hosttest.Fake{}
		for n, arch := range map[string]string{"cp1": "amd64", "a1": "arm64"} {
			f := hosttest.New(n, t.TempDir())
			fakes[n] = f
			if dry {
				st.hosts[n] = phase.DryHost{Host: f, M: m}
			} else {
				st.hosts[n] = f
			}
			st.facts[n] = &preflight.Facts{Host: n, Arch: arch}
		}
		m.Add(&uploadPhase{st: st, plan: plan})
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for n, arch := range map[string]string{"cp1": "amd64", "a1": "arm64"} {
			got, err := os.ReadFile(filepath.Join(fakes[n].Root, "/usr/local/bin/k3s"))
			if dry {
				if err == nil {
					t.Fatalf("dry run uploaded to %s", n)
				}
				continue
			}
			if !bytes.Equal(got, bins[arch]) {
				t.Fatalf("%s got %q, want the %s binary", n, got, arch)
			}
		}
		if dry {
			steps := m.DrySteps()
			if len(steps) != 2 || !strings.Contains(steps[0].Msg, "-> /usr/local/bin/k3s mode 0755") {
				t.Fatalf("dry steps: %+v", steps)
			}
		}
	}
}
