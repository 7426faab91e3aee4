package gui

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
)

const bundlePath = "/media/usb/shop-1.0.0.ferry"

// fillHost fills the host form and tests the connection.
func fillHost(t *testing.T, w *Wizard, name, addr string) {
	t.Helper()
	setText(formEntry(t, w, "Name"), name)
	setText(formEntry(t, w, "Address"), addr)
	setText(entry(t, w, "~/.ssh/id_ed25519"), "/home/eng/.ssh/id_ed25519")
	tap(t, w, "Test connection")
}

// TestInstallFlow walks the whole install: bundle, hosts with first-contact keys, preflight with a fix,
// settings with a validation error, an install whose k3s phase fails once and is retried, and Done.
func TestInstallFlow(t *testing.T) {
	w, f := newTestWizard(t)
	f.AddBundle(fakeengine.DemoBundle(bundlePath, "1.0.0"))
	f.SetChecks([]engine.Check{
		{Host: "node1", ID: "disk", Title: "Free disk", Severity: engine.Pass, Detail: "48 GB free"},
		{Host: "node2", ID: "disk", Title: "Free disk", Severity: engine.Warn, Detail: "9 GB free", Fix: "free space on /var/lib/rancher"},
		{Host: "node2", ID: "swap", Title: "Swap", Severity: engine.Fail, Detail: "swap is on", Fix: "turn swap off", Fixable: true},
	})
	f.FailPhaseOnce("server", errors.New("k3s did not start: port 6443 is in use"))

	golden(t, w, "install/01-start.xml")
	tap(t, w, "Install a new site")

	// Bundle.
	if !button(t, w, "Next").Disabled() {
		t.Fatal("Next is enabled before a bundle is verified")
	}
	setText(entry(t, w, "Path to the .ferry bundle file"), bundlePath)
	tap(t, w, "Verify")
	mustContain(t, w, "shop", "1.0.0", "v1.33.4+k3s1", "linux/amd64, linux/arm64", "Acme Software", "The signature is valid")
	golden(t, w, "install/02-bundle.xml")
	tap(t, w, "Next")

	// Hosts: first contact shows the fingerprint; Next waits for every key to be accepted.
	setText(entry(t, w, "e.g. plant-7"), "plant-7")
	fillHost(t, w, "node1", "node1.plant7.example")
	_, fp := fakeengine.FakeKey("node1.plant7.example", "1")
	mustContain(t, w, fp, "First connection to node1", "node1 (node1.plant7.example) server (control plane)", "accept key?")
	golden(t, w, "install/03-hosts-newkey.xml")
	if !button(t, w, "Next").Disabled() {
		t.Fatal("Next is enabled before the host key is accepted")
	}
	tap(t, w, "The fingerprints match: trust this host")
	tap(t, w, "Add host")
	fillHost(t, w, "node2", "node2.plant7.example")
	tap(t, w, "The fingerprints match: trust this host")
	mustContain(t, w, "node2 (node2.plant7.example) agent (runs workloads)", "connected", "Connected: Debian GNU/Linux 12 (amd64)")
	golden(t, w, "install/04-hosts.xml")
	tap(t, w, "Next")

	// Preflight: a failure blocks; Ferry's fix clears it; the warning does not block.
	mustContain(t, w, "swap is on — turn swap off (Ferry can fix this)", "warning", "failed")
	if !button(t, w, "Next").Disabled() {
		t.Fatal("Next is enabled with a failed check")
	}
	golden(t, w, "install/05-preflight.xml")
	tap(t, w, "Apply the fixes Ferry can make")
	mustContain(t, w, "fixed by Ferry")
	tap(t, w, "Next")

	// Settings: the form comes from the schema; a bad value blocks with a message under the field.
	mustContain(t, w, "Public host name *", "Web replicas", "Database")
	golden(t, w, "install/06-configure.xml")
	setText(formEntry(t, w, "Web replicas"), "many")
	tap(t, w, "Install")
	mustContain(t, w, "Web replicas must be a whole number.", "Correct the settings marked in red.")
	if f.InstallRuns() != 0 {
		t.Fatal("install started with invalid settings")
	}
	setText(formEntry(t, w, "Web replicas"), "3")
	tap(t, w, "Install")

	// Install: the k3s server phase fails once; Retry resumes without redoing the finished phases.
	if f.InstallRuns() != 1 {
		t.Fatalf("install ran %d times, want 1", f.InstallRuns())
	}
	// A heading in the user's language naming the step, the engine's own words below it.
	mustContain(t, w, "The step “Start k3s servers” failed.", "The engine reported: installing: start k3s servers: k3s did not start: port 6443 is in use")
	if button(t, w, "Retry").Disabled() || !button(t, w, "Next").Disabled() || !button(t, w, "Cancel").Disabled() {
		t.Fatal("after a failure, only Retry should be enabled")
	}
	if got := w.installVM.Progress.State(2); got != PhaseFailed {
		t.Fatalf("k3s server phase state %v, want failed", got)
	}
	golden(t, w, "install/07-install-failed.xml")
	tap(t, w, "Retry")
	if f.InstallRuns() != 2 {
		t.Fatalf("install ran %d times, want 2", f.InstallRuns())
	}
	log := strings.Join(mustLog(t, w), "\n")
	if n := strings.Count(log, "Send k3s and images: started"); n != 1 {
		t.Fatalf("upload ran %d times across the retry, want once:\n%s", n, log)
	}
	if !strings.Contains(log, "Start k3s servers: started") {
		t.Fatalf("the retry did not rerun the failed phase:\n%s", log)
	}
	for i := range w.installVM.Progress.Phases {
		if s := w.installVM.Progress.State(i); s != PhaseDone {
			t.Errorf("phase %d state %v after success, want done", i, s)
		}
	}
	mustContain(t, w, "96.0 MiB / 96.0 MiB")
	tap(t, w, "Next")

	// Done: address, kubeconfig, record saved without secrets.
	mustContain(t, w, "https://node1.plant7.example/", "is installed and healthy")
	golden(t, w, "install/08-done.xml")
	// The golden draws the site folder as $SITES; the screen itself names the real one.
	mustContain(t, w, "The site record is saved in "+w.Store.Dir("plant-7")+".")
	rec, err := w.Store.Load("plant-7")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Version != "1.0.0" || len(rec.Hosts) != 2 || rec.Hosts[0].HostKey == "" || rec.Hosts[1].Role != engine.RoleAgent {
		t.Fatalf("saved record %+v", rec)
	}
	st, err := os.Stat(filepath.Join(w.Store.Dir("plant-7"), "kubeconfig"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig: %v %v", st, err)
	}
	audit, _ := os.ReadFile(filepath.Join(w.Store.Dir("plant-7"), "audit.log"))
	if strings.Count(string(audit), "started") != 2 || !strings.Contains(string(audit), "install shop 1.0.0 succeeded") {
		t.Fatalf("audit log:\n%s", audit)
	}
	tap(t, w, "Manage this site")
	mustContain(t, w, "Site plant-7", "healthy", "web", "StatefulSet", "installed — succeeded")
}

func mustLog(t *testing.T, w *Wizard) []string {
	t.Helper()
	l, err := w.installVM.Progress.Log.Get()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// installReady puts the wizard at the point of installing a two-host site with accepted keys.
func installReady(w *Wizard) {
	w.Site = NewSiteModel()
	w.Site.Name = "plant-9"
	w.Site.Bundle = fakeengine.DemoBundle(bundlePath, "1.0.0")
	for _, n := range []string{"node1", "node2"} {
		line, _ := fakeengine.FakeKey(n, "1")
		role := engine.RoleServer
		if n == "node2" {
			role = engine.RoleAgent
		}
		w.Site.Hosts = append(w.Site.Hosts, engine.Host{Name: n, Address: n, User: "root", KeyPath: "/k", Role: role, HostKey: line})
	}
}

// TestCancelledInstallResumes cancels during a held phase; nothing later runs, and Retry resumes.
func TestCancelledInstallResumes(t *testing.T) {
	w, f := newTestWizard(t)
	hold := f.HoldPhase("upload", 30e9)
	installReady(w)
	w.StartInstall()
	<-hold.Entered()
	test.Tap(button(t, w, "Cancel"))
	w.Wait()
	mustContain(t, w, "The operation was cancelled.", "Press Retry to continue where it stopped.")
	if got := w.installVM.State; got == nil {
		t.Fatal("no state")
	}
	if s, _ := w.installVM.State.Get(); s != RunCancelled {
		t.Fatalf("state %q, want cancelled", s)
	}
	if s := w.installVM.Progress.State(1); s != PhaseFailed {
		t.Fatalf("held phase state %v, want failed (stopped)", s)
	}
	if s := w.installVM.Progress.State(2); s != PhasePending {
		t.Fatalf("the phase after the cancel ran: %v", s)
	}
	golden(t, w, "install/09-cancelled.xml")
	tap(t, w, "Retry")
	if s, _ := w.installVM.State.Get(); s != RunSucceeded {
		t.Fatalf("state after retry %q", s)
	}
	if s := w.installVM.Progress.State(0); s != PhaseDone {
		t.Fatalf("connect phase %v after resume", s)
	}
	log := strings.Join(mustLog(t, w), "\n")
	if strings.Count(log, "Connect to hosts: started") != 1 {
		t.Fatalf("connect ran twice:\n%s", log)
	}
}

// TestUIStaysResponsiveWhileAPhaseHolds: while a phase holds for seconds, taps return at once, the
// language can be switched and the screen redrawn, and Cancel still works. If engine work ran on the UI
// goroutine, the first tap would only return after the hold, and the hold would be over by the checks.
func TestUIStaysResponsiveWhileAPhaseHolds(t *testing.T) {
	w, f := newTestWizard(t)
	hold := f.HoldPhase("deploy", 5e9)
	installReady(w)
	w.ShowConfigure()
	test.Tap(button(t, w, "Install")) // not tap(): it would wait for the install
	<-hold.Entered()
	test.Tap(button(t, w, "Language"))
	var radio *widget.RadioGroup
	for _, o := range objects(w) {
		if r, ok := o.(*widget.RadioGroup); ok {
			radio = r
		}
	}
	if radio == nil {
		t.Fatal("the language dialog did not open")
	}
	radio.SetSelected("简体中文")
	if len(w.Win.Canvas().Overlays().List()) != 0 {
		t.Fatal("the language dialog stayed open")
	}
	if s := w.installVM.Progress.State(4); s != PhaseRunning {
		t.Fatalf("held phase state %v, want running", s)
	}
	w.installVM.Progress.Flush() // what the flush ticker does
	mustContain(t, w, "正在安装 shop 1.0.0", "运行中…")
	select {
	case <-hold.Ended():
		t.Fatal("the held phase ended before the UI had answered: the UI was blocked by engine work")
	default:
	}
	test.Tap(button(t, w, "取消"))
	w.Wait()
	if s, _ := w.installVM.State.Get(); s != RunCancelled {
		t.Fatalf("state %q, want cancelled", s)
	}
}

// TestInstallShowsPhasesNotNeeded: on a one-server site the engine says at once that no agent joins; the
// step list shows it as not needed while an earlier phase still runs, and it stays so after success.
func TestInstallShowsPhasesNotNeeded(t *testing.T) {
	w, f := newTestWizard(t)
	hold := f.HoldPhase("upload", 30e9)
	installReady(w)
	w.Site.Hosts = w.Site.Hosts[:1] // node1, the server
	w.StartInstall()
	<-hold.Entered()
	w.installVM.Progress.Flush() // what the flush ticker does
	if s := w.installVM.Progress.State(3); s != PhaseNotNeeded {
		t.Fatalf("agents phase %v while uploading, want not needed", s)
	}
	mustContain(t, w, "Join agents", "not needed", "running…")
	hold.Release()
	golden(t, w, "install/10-not-needed.xml") // waits for the install to end
	if s, _ := w.installVM.State.Get(); s != RunSucceeded {
		t.Fatalf("state %q", s)
	}
	if s := w.installVM.Progress.State(3); s != PhaseNotNeeded {
		t.Fatalf("agents phase %v after success, want not needed", s)
	}
}

// TestChecksTableRowsFitTheirText: with the real installer's checks and advice (the demo engine's default
// checks), every row is as tall as its own text at the golden window size: one line for a short result,
// at most two for the longest advice. (An equal-cell grid made every row as tall as the longest advice
// wrapped into a quarter of the window.)
func TestChecksTableRowsFitTheirText(t *testing.T) {
	w, _ := newTestWizard(t)
	installReady(w)
	w.ShowPreflight()
	golden(t, w, "install/05b-preflight-demo.xml")
	mustContain(t, w, "no IPv4 default route — k3s needs a default route, even a dummy one on an air-gapped network (Ferry can add one) (Ferry can fix this)",
		"2.0 GiB of swap on — kubelet performs best")
	line := widget.NewLabel("x").MinSize().Height
	rows := 0
	for _, o := range objects(w) {
		c, ok := o.(*fyne.Container)
		if !ok {
			continue
		}
		if _, ok := c.Layout.(*columns); !ok {
			continue
		}
		rows++
		if h := c.Size().Height; h < line || h > 2*line {
			t.Errorf("a checks row is %.0f px tall (one line is %.0f): %v", h, line, c.Objects)
		}
	}
	if want := 1 + len(fakeengine.DemoChecks(w.engineSite())); rows != want {
		t.Fatalf("%d table rows, want %d (header + one per check)", rows, want)
	}
}
