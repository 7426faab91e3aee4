package gui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

// installedSite saves a site record and tells the fake the app runs 1.0.0.
func installedSite(t *testing.T, w *Wizard, f *fakeengine.Fake) {
	t.Helper()
	line, _ := fakeengine.FakeKey("node1", "1")
	hist := []engine.Release{{Version: "1.0.0", Time: fixedNow.Add(-48 * time.Hour), Action: "install", Result: "succeeded", Kept: true}}
	f.Installed("1.0.0", "v1.33.4+k3s1", hist...)
	err := w.Store.Save(siterecord.Record{Name: "plant-7", App: "shop", Version: "1.0.0", BundlePath: bundlePath,
		Hosts:   []engine.Host{{Name: "node1", Address: "node1", User: "root", Role: engine.RoleServer, KeyPath: "/k", HostKey: line}},
		History: hist, Updated: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	w.ShowStart() // re-read recent sites
}

// confirm taps the confirmation dialog's affirmative button.
func confirm(t *testing.T, w *Wizard) {
	t.Helper()
	tap(t, w, "Yes")
}

// TestUpgradeAndRollbackFlow: open a recent site, upgrade it (plan, confirm, success), upgrade again into a
// failing version that rolls itself back (shown plainly), then roll back to 1.0.0 from the history.
func TestUpgradeAndRollbackFlow(t *testing.T) {
	w, f := newTestWizard(t)
	installedSite(t, w, f)
	for _, v := range []string{"1.1.0", "1.2.0"} {
		f.AddBundle(fakeengine.DemoBundle("/media/usb/shop-"+v+".ferry", v))
	}
	golden(t, w, "manage/01-start-recent.xml")
	tap(t, w, "plant-7 — shop 1.0.0")
	mustContain(t, w, "Site plant-7", "healthy", "web", "db", "Service", "2/2", "installed — succeeded")
	golden(t, w, "manage/02-manage.xml")

	// Upgrade to 1.1.0: plan, confirm, success.
	tap(t, w, "Upgrade…")
	if !button(t, w, "Upgrade").Disabled() {
		t.Fatal("Upgrade is enabled before a bundle is verified")
	}
	setText(entry(t, w, "Path to the .ferry bundle file"), "/media/usb/shop-1.1.0.ferry")
	tap(t, w, "Verify")
	mustContain(t, w, "1.0.0 → 1.1.0", "registry.local/shop/web:1.1.0", "node1: 42.0 MiB")
	golden(t, w, "manage/03-upgrade-plan.xml")
	tap(t, w, "Upgrade")
	mustContain(t, w, "Upgrade plant-7 from 1.0.0 to 1.1.0?")
	confirm(t, w)
	mustContain(t, w, "Upgraded: the site runs 1.1.0.")
	golden(t, w, "manage/04-upgrade-ok.xml")
	tap(t, w, "Back to the site")
	mustContain(t, w, "1.1.0  upgraded — succeeded")

	// Upgrade to 1.2.0 fails its health check: Ferry rolls back by itself and says so.
	f.FailNextUpgrade("web did not become ready within 5m: CrashLoopBackOff")
	tap(t, w, "Upgrade…")
	setText(entry(t, w, "Path to the .ferry bundle file"), "/media/usb/shop-1.2.0.ferry")
	tap(t, w, "Verify")
	tap(t, w, "Upgrade")
	confirm(t, w)
	mustContain(t, w, "The upgrade to 1.2.0 failed, so Ferry rolled back. The site runs 1.1.0, as before.", "Why: web did not become ready within 5m: CrashLoopBackOff")
	golden(t, w, "manage/05-upgrade-rolledback.xml")
	tap(t, w, "Back to the site")
	mustContain(t, w, "1.1.0  rolled back automatically — succeeded", "1.2.0  upgraded — failed, rolled back")

	// Roll back to 1.0.0 from the history, with confirmation. 1.2.0 and 1.0.0 are kept; 1.1.0 runs.
	rb := buttons(w, "Roll back to this version")
	if len(rb) != 2 {
		t.Fatalf("%d rollback buttons, want 2 (1.2.0 and 1.0.0)", len(rb))
	}
	test.Tap(rb[len(rb)-1]) // the oldest release is listed last
	w.Wait()
	mustContain(t, w, "Roll the site back from 1.1.0 to 1.0.0?")
	confirm(t, w)
	mustContain(t, w, "The site now runs 1.0.0.")
	if st, _ := f.Status(t.Context(), engine.Site{}); st.Version != "1.0.0" {
		t.Fatalf("engine runs %s after rollback", st.Version)
	}
	golden(t, w, "manage/06-rolledback.xml")
	rec, err := w.Store.Load("plant-7")
	if err != nil || rec.Version != "1.0.0" || rec.History[0].Action != "rollback" {
		t.Fatalf("record after rollback: %+v %v", rec, err)
	}
	audit, _ := os.ReadFile(filepath.Join(w.Store.Dir("plant-7"), "audit.log"))
	for _, want := range []string{"upgrade 1.0.0 -> 1.1.0 succeeded", "upgrade 1.1.0 -> 1.2.0 failed and rolled back automatically", "rollback to 1.0.0 succeeded"} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit log lacks %q:\n%s", want, audit)
		}
	}
	if calls := strings.Join(f.Calls(), ","); !strings.Contains(calls, "Rollback 1.0.0") {
		t.Fatalf("engine calls %s", calls)
	}
}

// TestOpenSiteFolder opens a site folder from elsewhere on disk (a colleague's copy) and refuses a folder
// that is not a site, explaining why.
func TestOpenSiteFolder(t *testing.T) {
	w, f := newTestWizard(t)
	f.Installed("1.0.0", "v1.33.4+k3s1")
	other := siterecord.Store{Root: t.TempDir()}
	if err := other.Save(siterecord.Record{Name: "plant-3", App: "shop", Version: "1.0.0", Hosts: []engine.Host{{Name: "n", Address: "n", Role: engine.RoleServer}}}); err != nil {
		t.Fatal(err)
	}
	w.OpenSiteDir(t.TempDir())
	w.Wait()
	mustContain(t, w, "no such file or directory")
	if len(w.Win.Canvas().Overlays().List()) != 1 {
		t.Fatal("no error dialog for a folder that is not a site")
	}
	tap(t, w, "Close")
	w.OpenSiteDir(other.Dir("plant-3"))
	w.Wait()
	mustContain(t, w, "Site plant-3", "1.0.0", "healthy")
	if w.Store.Root != other.Root {
		t.Fatalf("store %s, want the opened folder's parent %s", w.Store.Root, other.Root)
	}
}

// TestChineseScreens shows the start and install screens in Simplified Chinese and switches back.
func TestChineseScreens(t *testing.T) {
	w, _ := newTestWizard(t)
	if err := w.ChangeLanguage(LangZH); err != nil {
		t.Fatal(err)
	}
	mustContain(t, w, "欢迎使用 Ferry", "最近的站点")
	button(t, w, "安装新站点")
	button(t, w, "语言")
	// No markup golden here: Chinese glyphs come from whatever CJK system font is installed (Fyne's font
	// fallback), so text sizes differ between machines; the assertions above are font-independent.
	installReady(w)
	w.StartInstall()
	w.Wait()
	mustContain(t, w, "正在安装 shop 1.0.0", "连接主机", "完成", "96.0 MiB / 96.0 MiB")
	if err := w.ChangeLanguage(LangEN); err != nil {
		t.Fatal(err)
	}
	mustContain(t, w, "Installing shop 1.0.0", "Installed.")
}

// TestManageShowsWhatHoldsTheAppUp: an unwell app lists each component with its state, its figures and
// the engine's reason on its own line (an image missing on a node, a service without ready endpoints).
func TestManageShowsWhatHoldsTheAppUp(t *testing.T) {
	w, f := newTestWizard(t)
	installedSite(t, w, f)
	f.SetHealth(engine.Down)
	f.SetK3sVersion("v1.34.1+k3s1 (node1) · v1.33.4+k3s1 (node2, node3)", true) // a k3s upgrade stopped halfway
	tap(t, w, "plant-7 — shop 1.0.0")
	mustContain(t, w, "v1.34.1+k3s1 (node1) · v1.33.4+k3s1 (node2, node3)",
		"The servers run different k3s versions: a k3s upgrade is under way or stopped halfway.", "0/2 ready, rolled out", "1/1 ready, rolled out", "ClusterIP 10.43.0.12 · 443→8443/TCP · 0/2 endpoints ready",
		"image registry.local/shop:1.0.0 missing on node node2 (pod web-7d9f-abcde: ImagePullBackOff)", "no ready endpoint: its pods are not ready")
	golden(t, w, "manage/07-unwell.xml")
}

func TestK3sNote(t *testing.T) {
	if n := K3sNote(engine.Status{K3sVersion: "v1.33.4+k3s1"}); n != "" {
		t.Errorf("servers that agree get a note: %q", n)
	}
	if n := K3sNote(engine.Status{K3sVersion: "v1.34.1+k3s1 (a) · v1.33.4+k3s1 (b)", K3sMixed: true}); !strings.Contains(n, "different k3s versions") {
		t.Errorf("mixed servers: note %q", n)
	}
}

func TestComponentFigures(t *testing.T) {
	for _, tc := range []struct {
		c    engine.Component
		want string
	}{
		{engine.Component{Kind: "Deployment", Ready: "1/3", RolledOut: true}, "1/3 ready, rolled out"},
		{engine.Component{Kind: "StatefulSet", Ready: "1/1"}, "1/1 ready, rolling out"},
		{engine.Component{Kind: "Job", Ready: "1/1", RolledOut: true}, "1/1 completed"},
		{engine.Component{Kind: "DaemonSet", Detail: "not created yet"}, "not in the cluster"},
		{engine.Component{Kind: "Service", Address: "NodePort 10.43.0.2", Ports: []string{"80/TCP node 30080", "443/TCP"}, Ready: "2/2"},
			"NodePort 10.43.0.2 · 80/TCP node 30080 443/TCP · 2/2 endpoints ready"},
		{engine.Component{Kind: "Service", Address: "ExternalName mail.example"}, "ExternalName mail.example"},
	} {
		if got := ComponentFigures(tc.c); got != tc.want {
			t.Errorf("ComponentFigures(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
	got := SortComponents([]engine.Component{{Kind: "Service", Name: "a"}, {Kind: "Deployment", Name: "b"}, {Kind: "Service", Name: "c"}, {Kind: "Job", Name: "d"}})
	var names string
	for _, c := range got {
		names += c.Name
	}
	if names != "bdac" {
		t.Errorf("SortComponents order %q, want workloads then services, stable: bdac", names)
	}
}
