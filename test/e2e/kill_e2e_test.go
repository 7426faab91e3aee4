package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/internal/testimage"
	"github.com/ferry-delivery/ferry/test/lab"
)

// KillLabID is the site lab of the kill scenario (docs/testing.md: 10-19 appliance scenarios).
const KillLabID = 11

// EnvKill must be "1" for TestKilledUpgradeOnLab to run (make test-e2e-kill sets it), so that `make
// test-e2e` (lab 4) does not boot this scenario's lab too.
const EnvKill = "FERRY_E2E_KILL"

// kill runs ferryctl and SIGKILLs it as soon as a line of its progress output matches at: no signal
// handler, no deferred clean-up, no record closed, as when a laptop dies. It fails the test if the run
// ends before reaching that point.
func (f ferryctlCLI) kill(step string, at *regexp.Regexp, args ...string) string {
	f.t.Helper()
	killed := false
	out, errOut, cmd, err := f.stream(args, func(cmd *exec.Cmd, line string) string {
		if killed || !at.MatchString(line) {
			return ""
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			f.t.Fatalf("%s: killing ferryctl: %v", step, err)
		}
		killed = true
		return "<<< SIGKILL >>>\n"
	})
	f.t.Logf("%s stdout:\n%s", step, out)
	if !killed {
		f.t.Fatalf("%s: ferryctl ended (%v) before a line matched %s\nstderr:\n%s", step, err, at, errOut)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		f.t.Fatalf("%s: ferryctl was not killed by SIGKILL: %v", step, cmd.ProcessState)
	}
	return out
}

// historyRows parses `ferryctl history`: action, version and state per record, oldest first.
func historyRows(out string) [][3]string {
	var rows [][3]string
	re := regexp.MustCompile(`(?m)^\d+ +\S+ \S+ +(\S+) +(\S+) +(\S+)`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		rows = append(rows, [3]string{m[1], m[2], m[3]})
	}
	return rows
}

func countRows(rows [][3]string, action, version, state string) int {
	n := 0
	for _, r := range rows {
		if r[0] == action && r[1] == version && (state == "" || r[2] == state) {
			n++
		}
	}
	return n
}

// The laptop is killed (SIGKILL) in the middle of upgrades, at points read from ferryctl's own progress
// output, and the engineer reconnects: status tells the truth at once, a re-run finishes the change
// under its one record without applying anything twice or re-sending what landed, and a rollback undoes
// a killed change. Each step by the ferryctl binary against a lab site (server + agent) over SSH only.
func TestKilledUpgradeOnLab(t *testing.T) {
	s := bringUp(t, KillLabID, "test-e2e-kill", EnvKill, "kill scenario")
	server, agent := s.inv.Hosts[0], s.inv.Hosts[1]

	img1 := testimage.Random(t, layerSize, 3, "amd64")
	// v2's new layer is large enough (48 MiB, random) that its upload to a node takes a while: the kill
	// lands while bytes are on their way.
	img2, fresh2 := testimage.NextVersion(t, img1, 48<<20)
	img3, _ := testimage.NextVersion(t, img2, layerSize)
	img4, _ := testimage.NextVersion(t, img3, 24<<20)
	b1 := s.writeBundle(t, webBundle("1.0.0", img1))
	b2 := s.writeBundle(t, webBundle("2.0.0", img2))
	b3 := s.writeBundle(t, webBundle("3.0.0", img3))
	b4 := s.writeBundle(t, webBundle("4.0.0", img4))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	ferryctl, accept := s.cli(t, ctx, "kill")
	run, kill, pub := ferryctl.run, ferryctl.kill, s.pub
	upgrade := func(b string) []string { return []string{"upgrade", "--bundle", b, "--key", pub} }
	revs := func() []release { t.Helper(); return releases(t, ctx, server, "shop") }
	history := func(step string) [][3]string { t.Helper(); return historyRows(run(step, "history")) }

	ferryctl.install(b1, pub, accept)
	run("deploy v1", "deploy", "--bundle", b1, "--key", pub)
	if r := revs(); len(r) != 1 || r[0].Status != "deployed" {
		t.Fatalf("releases after deploy: %+v", r)
	}

	// 1. Killed while v2's new layer is on its way to the agent (the server has landed it already: node
	// order is site order). Detected from ferryctl's byte progress for the agent's archive.
	atAgentUpload := regexp.MustCompile(`^\[images\] ` + regexp.QuoteMeta(agent.Name) + `: [0-9a-f]{64}\.tar: .*\((\d+)/(\d+) bytes\)$`)
	killed := kill("upgrade v2, killed while sending images", atAgentUpload, upgrade(b2)...)
	if !strings.Contains(killed, "images landed") {
		t.Fatalf("the server had not landed its images before the kill:\n%s", killed)
	}
	st := run("status after kill 1", "status")
	for _, want := range []string{"version: 1.0.0", "(upgrade in-progress)", "health:  Healthy", "upgrade to 2.0.0 was interrupted before it was applied"} {
		if !strings.Contains(st, want) {
			t.Errorf("status after a kill while sending images lacks %q:\n%s", want, st)
		}
	}
	if r := revs(); len(r) != 1 {
		t.Fatalf("the killed upgrade reached helm: releases %+v", r)
	}
	out := run("upgrade v2 again", upgrade(b2)...)
	if !strings.Contains(out, "resuming interrupted upgrade of shop 2.0.0") || !strings.Contains(out, "shop is at 2.0.0") {
		t.Fatalf("re-run after the kill:\n%s", out)
	}
	sent, lacked := sentPerNode(t, out), lackedPerNode(out)
	fl, _ := fresh2.Size()
	for _, h := range []lab.Host{server, agent} {
		t.Logf("MEASURE re-run after kill 1, %s: lacked %d bytes in %d blobs, sent %d bytes with %d blobs", h.Name, lacked[h.Name][0], lacked[h.Name][1], sent[h.Name][0], sent[h.Name][1])
	}
	// The server had landed v2: nothing of it travels again (only an archive of no blob, which re-names
	// and re-pins the image). The agent still lacked the new layer, its manifest and config: those, plus
	// tar framing, and nothing of the unchanged layers.
	if ss := sent[server.Name]; ss[1] != 0 || ss[0] > 64<<10 || lacked[server.Name][0] != 0 {
		t.Errorf("re-run sent %d bytes, %d blobs to the server, which had landed v2 (lacked %d)", ss[0], ss[1], lacked[server.Name][0])
	}
	if l, sa := lacked[agent.Name], sent[agent.Name]; l[1] != 3 || l[0] < fl || sa[1] != 3 || sa[0] < l[0] || sa[0] > l[0]+64<<10 {
		t.Errorf("re-run to the agent: lacked %d bytes in %d blobs, sent %d bytes in %d blobs; want the 3 new blobs (>= %d bytes) plus framing", l[0], l[1], sa[0], sa[1], fl)
	}
	if r := revs(); len(r) != 2 || r[1].Status != "deployed" {
		t.Errorf("releases after the finished upgrade: %+v, want exactly one more (2), deployed", r)
	}
	h := history("history after kill 1")
	if n := countRows(h, "upgrade", "2.0.0", ""); n != 1 || countRows(h, "upgrade", "2.0.0", "succeeded") != 1 {
		t.Errorf("history has %d upgrade records for 2.0.0, want one, succeeded: %v", n, h)
	}

	// 2. Killed after the HelmChart was applied, while health is awaited.
	atWait := regexp.MustCompile(`^\[wait\] waiting for `)
	kill("upgrade v3, killed while waiting for health", atWait, upgrade(b3)...)
	st = run("status after kill 2", "status")
	for _, want := range []string{"version: 3.0.0", "(upgrade ", "note:    this change was interrupted"} {
		if !strings.Contains(st, want) {
			t.Errorf("status after a kill while waiting lacks %q:\n%s", want, st)
		}
	}
	out = run("upgrade v3 again", upgrade(b3)...)
	if !strings.Contains(out, "shop is at 3.0.0") {
		t.Fatalf("re-run after kill 2:\n%s", out)
	}
	// Resumed (the HelmChart already carries v3: not updated again) or, if status found it healthy and
	// closed it, a no-op.
	if !strings.Contains(out, "spec already applied; not applying it again") && !strings.Contains(out, "3.0.0 is already applied with these values") {
		t.Errorf("re-run after a kill past the apply applied v3 again:\n%s", out)
	}
	if r := revs(); len(r) != 3 || r[2].Status != "deployed" {
		t.Errorf("releases after upgrade v3: %+v, want exactly one more (3), deployed", r)
	}
	h = history("history after kill 2")
	if n := countRows(h, "upgrade", "3.0.0", ""); n != 1 || countRows(h, "upgrade", "3.0.0", "succeeded") != 1 {
		t.Errorf("history has %d upgrade records for 3.0.0, want one, succeeded: %v", n, h)
	}
	if st := run("status after v3", "status"); !strings.Contains(st, "version: 3.0.0") || !strings.Contains(st, "health:  Healthy") {
		t.Errorf("status after v3:\n%s", st)
	}

	// 3. Killed while sending v4's images, then rolled back: the upgrade never reached the cluster, so
	// the rollback closes it and re-applies nothing.
	kill("upgrade v4, killed while sending images", atAgentUpload, upgrade(b4)...)
	out = run("rollback after kill 3", "rollback")
	if !strings.Contains(out, "interrupted before it was applied; 3.0.0 is still live") || !strings.Contains(out, "shop is at 3.0.0") {
		t.Errorf("rollback of an upgrade killed before its apply:\n%s", out)
	}
	if r := revs(); len(r) != 3 {
		t.Errorf("rolling back an upgrade that never applied reached helm: releases %+v", r)
	}

	// 4. Killed after v4 was applied, then rolled back to 3.0.0.
	kill("upgrade v4, killed while waiting for health", atWait, upgrade(b4)...)
	out = run("rollback after kill 4", "rollback")
	if !strings.Contains(out, "shop is at 3.0.0") {
		t.Fatalf("rollback after kill 4:\n%s", out)
	}
	r := revs()
	if len(r) < 4 || len(r) > 5 || r[len(r)-1].Status != "deployed" {
		t.Errorf("releases after the rollback: %+v, want v4's revision (if helm got to it) and the rollback's, the newest deployed", r)
	}
	if st := run("status after rollback", "status"); !strings.Contains(st, "version: 3.0.0") || !strings.Contains(st, "(rollback succeeded)") || !strings.Contains(st, "health:  Healthy") {
		t.Errorf("status after the rollback:\n%s", st)
	}
	h = history("history at the end")
	got := map[[3]string]int{}
	for _, row := range h {
		got[row]++
	}
	for k, n := range map[[3]string]int{
		{"deploy", "1.0.0", "succeeded"}:    1,
		{"upgrade", "2.0.0", "succeeded"}:   1,
		{"upgrade", "3.0.0", "succeeded"}:   1,
		{"upgrade", "4.0.0", "failed"}:      1,
		{"upgrade", "4.0.0", "rolled-back"}: 1,
		{"rollback", "3.0.0", "succeeded"}:  1,
	} {
		if got[k] != n {
			t.Errorf("history: %d x %v, want %d\n%v", got[k], k, n, h)
		}
	}
	if len(h) != 6 {
		t.Errorf("history has %d records, want 6: %v", len(h), h)
	}
	t.Logf("MEASURE whole kill scenario: %s", time.Since(s.began).Round(time.Second))
}
