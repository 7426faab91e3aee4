package preflight

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
)

// The usrlocalbin section decides where the binary goes and which filesystem the binary's free space is
// checked on.
func TestUsrLocalBinReadOnly(t *testing.T) {
	laptop := time.Unix(1764140000, 0)
	base := load(t, "debian-systemd.txt", "cp1", laptop)
	if !base.UsrLocalBinWritable || base.BinDirFor() != BinDir {
		t.Fatalf("no usrlocalbin section: writable %v, bin dir %s; want /usr/local/bin", base.UsrLocalBinWritable, base.BinDirFor())
	}
	for _, tc := range []struct {
		mount    string
		writable bool
		dir      string
	}{{"ro", false, FallbackBinDir}, {"rw", true, BinDir}} {
		b := withSection(t, "debian-systemd.txt", "usrlocalbin", tc.mount)
		f, err := ParseFacts("cp1", b, laptop)
		if err != nil {
			t.Fatal(err)
		}
		if f.UsrLocalBinWritable != tc.writable || f.BinDirFor() != tc.dir {
			t.Errorf("%s mount: writable %v, bin dir %s; want %v, %s", tc.mount, f.UsrLocalBinWritable, f.BinDirFor(), tc.writable, tc.dir)
		}
	}
	// The binary's space is checked where it will go: /opt/bin's filesystem here has too little.
	f, _ := ParseFacts("cp1", withSection(t, "debian-systemd.txt", "usrlocalbin", "ro"), laptop)
	f.Free[FallbackBinDir] = 10 << 20
	r := checkDisk(Options{DataDir: "/var/lib/rancher/k3s", NeedBin: 100 << 20}, f)
	if r.Status != Fail || !strings.Contains(r.Detail, "/opt/bin has 10.0 MiB free, needs 100.0 MiB") {
		t.Errorf("disk check with a read-only /usr/local/bin: %+v", r)
	}
	f.UsrLocalBinWritable = true
	if r := checkDisk(Options{DataDir: "/var/lib/rancher/k3s", NeedBin: 100 << 20}, f); r.Status != Pass {
		t.Errorf("disk check with /usr/local/bin writable: %+v", r)
	}
}

// The facts script itself, run by this machine's sh through the fake host: the section is there and
// agrees with the mount table (this machine's /usr/local/bin is on a writable mount).
func TestFactsScriptUsrLocalBin(t *testing.T) {
	f := hosttest.New("local", t.TempDir())
	f.Handler = func(c host.Cmd) (host.Result, error) {
		out, err := exec.Command("sh", "-c", c.Line).Output()
		return host.Result{Stdout: out}, err
	}
	facts, err := Gather(context.Background(), f, GatherOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := exec.Command("sh", "-c", "findmnt -n -o OPTIONS -T /usr/local/bin 2>/dev/null | tr , '\\n' | grep -qx ro && echo ro || echo rw").Output()
	if err != nil {
		t.Skip("findmnt not available to compare")
	}
	if want := strings.TrimSpace(string(ro)) == "rw"; facts.UsrLocalBinWritable != want {
		t.Errorf("facts say /usr/local/bin writable %v; findmnt says %s", facts.UsrLocalBinWritable, ro)
	}
	if _, ok := facts.Free[FallbackBinDir]; !ok {
		t.Errorf("no free space reported for %s: %v", FallbackBinDir, facts.Free)
	}
}

// withSection returns the fixture with a section appended before the end marker.
func withSection(t *testing.T, name, sec, body string) []byte {
	t.Helper()
	raw := mustRead(t, "testdata/"+name)
	return bytes.Replace(raw, []byte("### end"), []byte("### "+sec+"\n"+body+"\n### end"), 1)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An install killed after the upload but before the node's files leaves Ferry's created list and the
// binary, but no site marker: preflight lets the re-run resume it, as the install phase does; the same
// files without the created list are a foreign k3s.
func TestInterruptedInstallResumes(t *testing.T) {
	laptop := time.Unix(1764140000, 0)
	raw := strings.Replace(string(mustRead(t, "testdata/debian-systemd.txt")), "marker plant-7\n", "", 1)
	for _, tc := range []struct {
		created bool
		want    Status
	}{{true, Pass}, {false, Fail}} {
		out := raw
		if tc.created {
			out = strings.Replace(out, "### end", "### k3s\nfile /usr/local/bin/k3s\ncreated "+CreatedList+"\n### end", 1)
		}
		f, err := ParseFacts("cp1", []byte(out), laptop)
		if err != nil {
			t.Fatal(err)
		}
		if f.K3s.Created != tc.created {
			t.Fatalf("created %v, want %v", f.K3s.Created, tc.created)
		}
		if r := checkExisting(Options{Site: "plant-7"}, f); r.Status != tc.want {
			t.Errorf("created list %v: %+v, want %s", tc.created, r, tc.want)
		}
	}
}
