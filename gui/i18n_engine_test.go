package gui

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
	"github.com/ferry-delivery/ferry/gui/realengine"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// latin3 spots English left in a Chinese text (three Latin letters in a row, template variables aside).
var latin3 = regexp.MustCompile(`[A-Za-z]{3}`)

// fakeSteps are the fake engine's step lists (the demo's), read from the fake itself.
func fakeSteps(t *testing.T) []engine.Phase {
	t.Helper()
	f := fakeengine.New()
	plan, err := f.PlanUpgrade(context.Background(), engine.Site{}, engine.Bundle{})
	if err != nil {
		t.Fatal(err)
	}
	return append(f.InstallPhases(engine.Site{}, engine.Bundle{}), plan.Phases...)
}

// Every step the real engine can report (its own lists, realengine.PhaseLists, built from the installer's
// and the appliance's) has a title in both files: English as the engine words it (so a reworded engine
// title fails here, and its Chinese gets looked at too), Chinese that is a translation. So does every
// step of the fake engine, which the demo shows.
func TestEveryEngineStepIsTranslated(t *testing.T) {
	en, zh := bothTranslations(t)
	lists := realengine.PhaseLists()
	if len(lists) < 3 {
		t.Fatalf("the real engine lists %d operations", len(lists))
	}
	lists["demo"] = fakeSteps(t)
	n := 0
	for op, steps := range lists {
		for _, p := range steps {
			n++
			key := "phase." + p.ID
			if en[key] != p.Title {
				t.Errorf("%s step %q: en.json[%q] = %q, want the engine's title %q", op, p.ID, key, en[key], p.Title)
			}
			switch z := zh[key]; {
			case strings.TrimSpace(z) == "":
				t.Errorf("%s step %q (%q): zh-Hans.json lacks %q", op, p.ID, p.Title, key)
			case z == p.Title || latin3.MatchString(strings.NewReplacer("HelmChart", "", "kubeconfig", "", "chart", "").Replace(z)):
				t.Errorf("%s step %q: zh-Hans.json[%q] = %q is not Chinese", op, p.ID, key, z)
			}
		}
	}
	if n < 25 {
		t.Fatalf("only %d steps found: the engine lists are not being read", n)
	}
	// The real engine's preflight checks too (their titles are engine text on the Checks screen).
	for id, title := range realengine.CheckTitles() {
		if en["check."+id] == "" || zh["check."+id] == "" {
			t.Errorf("check %q (%q) lacks a title in en.json or zh-Hans.json", id, title)
		}
	}
}

// The two files carry the same keys: a key only in one shows English (or nothing) in the other.
func TestTranslationFilesHaveTheSameKeys(t *testing.T) {
	en, zh := bothTranslations(t)
	var onlyEN, onlyZH []string
	for k := range en {
		if _, ok := zh[k]; !ok {
			onlyEN = append(onlyEN, k)
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			onlyZH = append(onlyZH, k)
		}
	}
	sort.Strings(onlyEN)
	sort.Strings(onlyZH)
	if len(onlyEN)+len(onlyZH) > 0 || len(en) < 50 {
		t.Errorf("%d keys; only in en.json: %q; only in zh-Hans.json: %q", len(en), onlyEN, onlyZH)
	}
}

// A step this build has no translation for (a newer engine) shows the engine's own title, in either
// language; a known one shows the chosen language's.
func TestStepTitleFallsBackToTheEngine(t *testing.T) {
	test.NewTempApp(t)
	t.Cleanup(func() { _ = SetLanguage(LangEN) })
	if err := SetLanguage(LangZH); err != nil {
		t.Fatal(err)
	}
	if got := phaseTitle(engine.Phase{ID: "k3s.some-new-step", Title: "Tune the kernel"}); got != "Tune the kernel" {
		t.Errorf("unknown step shows %q, want the engine's title", got)
	}
	if got := phaseTitle(engine.Phase{ID: "k3s.connect", Title: "Connect to hosts"}); got != "连接主机" {
		t.Errorf("k3s.connect in Chinese shows %q", got)
	}
	if got := phaseTitle(engine.Phase{Title: "No id"}); got != "No id" {
		t.Errorf("a step without id shows %q", got)
	}
	// Every engine step resolves to its own entry (ids nest: "phase.upgrade" beside "phase.upgrade.check").
	_, zh := bothTranslations(t)
	steps := fakeSteps(t)
	for _, l := range realengine.PhaseLists() {
		steps = append(steps, l...)
	}
	for _, p := range steps {
		if got := phaseTitle(p); got != zh["phase."+p.ID] {
			t.Errorf("step %q shows %q in Chinese, want %q", p.ID, got, zh["phase."+p.ID])
		}
	}
}

// Every history action and result an engine may report, and every health, is worded in Chinese, not
// passed through.
func TestReleaseWordsAreTranslated(t *testing.T) {
	test.NewTempApp(t)
	t.Cleanup(func() { _ = SetLanguage(LangEN) })
	if err := SetLanguage(LangZH); err != nil {
		t.Fatal(err)
	}
	for _, a := range engine.ReleaseActions {
		if got := actionText(a); got == a || latin3.MatchString(got) {
			t.Errorf("action %q shows %q in Chinese", a, got)
		}
	}
	for _, r := range engine.ReleaseResults {
		if got := resultText(r); got == r || latin3.MatchString(got) {
			t.Errorf("result %q shows %q in Chinese", r, got)
		}
	}
	seen := map[string]bool{}
	for _, h := range []engine.Health{engine.Healthy, engine.Degraded, engine.Progressing, engine.Down} {
		got, _ := healthText(h)
		if latin3.MatchString(got) || seen[got] {
			t.Errorf("health %q shows %q in Chinese", h, got)
		}
		seen[got] = true
	}
}

// realSteps is the fake engine drawing the real engine's install steps (realengine.Engine.InstallPhases)
// and reporting under their ids the way the real one does: the phases with nothing to do on a
// one-server site said first, each phase's start and end, free-form English news, then a failure in the
// first server's start with the engine's English error.
type realSteps struct {
	*fakeengine.Fake
	real *realengine.Engine
}

func (r realSteps) InstallPhases(s engine.Site, b engine.Bundle) []engine.Phase {
	return r.real.InstallPhases(s, b)
}

var errPortInUse = errors.New("starting k3s on node1: port 6443 is in use")

func (r realSteps) Install(ctx context.Context, req engine.InstallRequest, sink progress.Sink) (engine.InstallResult, error) {
	sink.Emit(progress.Event{Phase: "k3s.join-servers", Msg: progress.MsgNotNeeded})
	for _, p := range r.InstallPhases(req.Site, req.Bundle) {
		if p.ID == "k3s.join-servers" {
			continue
		}
		sink.Emit(progress.Event{Phase: p.ID, Msg: progress.MsgStarted})
		if p.ID == "k3s.first-server" {
			sink.Emit(progress.Event{Phase: p.ID, Msg: progress.MsgFailed, Err: errPortInUse})
			return engine.InstallResult{}, errors.New("installing plant-9: " + errPortInUse.Error())
		}
		sink.Emit(progress.Event{Phase: p.ID, Host: "node1", Msg: "uploaded k3s (already there)"})
		sink.Emit(progress.Event{Phase: p.ID, Msg: progress.MsgDone})
	}
	return engine.InstallResult{}, nil
}

// TestChineseInstallShowsRealEngineSteps renders the install screen in Chinese with the real engine's
// step list: every step title is the Chinese one (none is the engine's English), the step not needed on
// this site says so, the log's start/done lines and the failure's heading are Chinese, and the engine's
// English cause stays readable under a Chinese heading.
func TestChineseInstallShowsRealEngineSteps(t *testing.T) {
	w, f := newTestWizard(t)
	w.Eng = realSteps{Fake: f, real: realengine.New(realengine.Options{})}
	if err := w.ChangeLanguage(LangZH); err != nil {
		t.Fatal(err)
	}
	_, zh := bothTranslations(t)
	installReady(w)
	w.StartInstall()
	w.Wait()
	w.Win.Resize(fyne.NewSize(1000, 700))

	steps := w.installVM.Progress.Phases
	if len(steps) != len(realengine.PhaseLists()[realengine.OpInstall]) {
		t.Fatalf("install screen lists %d steps, the real engine %d", len(steps), len(realengine.PhaseLists()[realengine.OpInstall]))
	}
	labels := map[string]bool{}
	for _, o := range objects(w) {
		if l, ok := o.(*widget.Label); ok {
			labels[l.Text] = true
		}
	}
	for _, p := range steps {
		if !labels[zh["phase."+p.ID]] {
			t.Errorf("step %q: its Chinese title %q is not on screen", p.ID, zh["phase."+p.ID])
		}
		if labels[p.Title] {
			t.Errorf("step %q shows the engine's English title %q", p.ID, p.Title)
		}
	}
	mustContain(t, w, "正在安装 shop 1.0.0", "无需执行", "失败",
		"步骤“启动第一台服务器”失败。",
		"引擎报告（英文）：installing plant-9: starting k3s on node1: port 6443 is in use")
	// The log (a list that draws only the rows in view): the engine's start/done/failed in Chinese, its
	// free-form news as it said it.
	log := strings.Join(mustLog(t, w), "\n")
	for _, want := range []string{"连接主机：开始", "连接主机：完成", "node1: uploaded k3s (already there)",
		"启动第一台服务器：失败：starting k3s on node1: port 6443 is in use"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, p := range steps {
		if strings.Contains(log, p.Title) {
			t.Errorf("log names step %q by its English title:\n%s", p.ID, log)
		}
	}
	for i, p := range steps {
		want := PhaseDone
		switch p.ID {
		case "k3s.join-servers":
			want = PhaseNotNeeded
		case "k3s.first-server":
			want = PhaseFailed
		}
		if i > 5 && p.ID != "k3s.join-servers" {
			want = PhasePending
		}
		if got := w.installVM.Progress.State(i); got != want {
			t.Errorf("step %q state %v, want %v", p.ID, got, want)
		}
	}
	// Back in English the same screen shows the engine's titles.
	if err := w.ChangeLanguage(LangEN); err != nil {
		t.Fatal(err)
	}
	mustContain(t, w, "Start the first server", "Join the other servers", "Apply the HelmChart", "The step “Start the first server” failed.")
}

// Every operation's step list of the real engine (install, upgrade, rollback) drawn as a run view in
// Chinese shows only Chinese titles.
func TestChineseRunViewOfEveryRealOperation(t *testing.T) {
	a := test.NewTempApp(t)
	t.Cleanup(func() { _ = SetLanguage(LangEN) })
	if err := SetLanguage(LangZH); err != nil {
		t.Fatal(err)
	}
	for op, steps := range realengine.PhaseLists() {
		t.Run(op, func(t *testing.T) {
			win := a.NewWindow(op)
			defer win.Close()
			win.SetContent(runView(NewRunProgress(steps, []string{"node1"})))
			win.Resize(fyne.NewSize(1000, 900))
			var shown []string
			for _, o := range test.LaidOutObjects(win.Content()) {
				if l, ok := o.(*widget.Label); ok && l.Text != "" {
					shown = append(shown, l.Text)
				}
			}
			text := strings.Join(shown, "\n")
			for _, p := range steps {
				if strings.Contains(text, p.Title) {
					t.Errorf("%s step %q shows its English title %q", op, p.ID, p.Title)
				}
				if !strings.Contains(text, phaseTitle(p)) || phaseTitle(p) == p.Title {
					t.Errorf("%s step %q: Chinese title %q not shown", op, p.ID, phaseTitle(p))
				}
			}
		})
	}
}
