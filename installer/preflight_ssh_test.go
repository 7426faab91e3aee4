package installer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/ferry-delivery/ferry/installer/audit"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
)

// Two real sshd on loopback stand for two hosts; both are this machine, so the facts can be checked
// against what Go sees here, and the hostname clash is real.
func TestPreflightOverSSH(t *testing.T) {
	s1 := sshtest.Start(t, sshtest.Options{})
	s2 := sshtest.Start(t, sshtest.Options{})
	s2.Authorize(t, "root", s1.ClientPub)
	s := writeSite(t, fmt.Sprintf(`
name: loop
defaults: {auth: {keyFile: %s}}
hosts:
  - {name: cp1, address: 127.0.0.1, port: %d, role: server}
  - {name: w1, address: 127.0.0.1, port: %d, role: agent}
`, s1.ClientKey, s1.Port, s2.Port))
	ctx := context.Background()

	rep, err := Preflight(ctx, s, PreflightOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"cp1", "w1"} {
		if !errors.Is(rep.Unreachable[n], ssh.ErrUnknownHostKey) {
			t.Fatalf("%s without acceptance: %v", n, rep.Unreachable[n])
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	rep, err = Preflight(ctx, s, PreflightOptions{Options: Options{AcceptHostKeys: []string{s1.Fingerprint, s2.Fingerprint}}, Platforms: []string{runtime.GOARCH}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unreachable) != 0 {
		t.Fatalf("unreachable: %v", rep.Unreachable)
	}
	hn, _ := os.Hostname()
	f := rep.Facts["cp1"]
	if f.Arch != runtime.GOARCH || f.Hostname != hn || f.CPUs != runtime.NumCPU() || f.UID != 0 || !f.ClockKnown {
		t.Fatalf("facts disagree with this machine: %+v", f)
	}
	if !slices.Contains(f.Listening, preflight.Socket{Proto: "tcp", Port: port}) || !slices.Contains(f.Listening, preflight.Socket{Proto: "tcp", Port: s1.Port}) {
		t.Fatalf("listening ports %v lack %d and sshd's %d", f.Listening, port, s1.Port)
	}
	st := map[string]preflight.Status{}
	for _, r := range rep.Results {
		st[r.Host+"/"+r.Check] = r.Status
	}
	if st["cp1/hostname"] != preflight.Fail || st["w1/hostname"] != preflight.Fail || st["cp1/arch"] != preflight.Pass || st["cp1/sudo"] != preflight.Pass {
		t.Fatalf("results: %v", st)
	}
	es, err := audit.Read(filepath.Join(s.RecordsDir(), audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range es {
		kinds[e.Host+"/"+e.Kind]++
	}
	if kinds["cp1/connect"] < 2 || kinds["cp1/run"] < 1 || kinds["w1/run"] < 1 {
		t.Fatalf("audit log: %v", kinds)
	}
}
