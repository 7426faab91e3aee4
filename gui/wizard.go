package gui

import (
	"context"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

// Options configure a Wizard.
type Options struct {
	Engine engine.Engine
	Store  siterecord.Store
	// Demo marks an engine that changes nothing real; the header says so.
	Demo bool
	// Now stamps records and the audit log; tests fix it.
	Now func() time.Time
	// Flush is how often batched progress reaches the screen.
	Flush time.Duration
	// QueueUI is for headless tests. A real driver runs UI updates (fyne.Do) on its main goroutine; the
	// test driver runs them inline on whatever goroutine calls, racing the test's own widget access. With
	// QueueUI, updates from engine goroutines are queued and run by Wait on the test's goroutine instead.
	QueueUI bool
	// OnBundleVerified, if set, is called (off the UI goroutine) each time a bundle verification ends,
	// with how long it took; cmd/ferry logs it for the benchmark.
	OnBundleVerified func(path string, b engine.Bundle, err error, took time.Duration)
	// Preset, when set, opens the install flow pre-filled instead of the start screen.
	Preset *Preset
}

// Wizard holds the app's state across steps and swaps the window's content as the user moves on. Steps are
// rebuilt from their view-models on a language change, so a step holds no state of its own.
type Wizard struct {
	App   fyne.App
	Win   fyne.Window
	Eng   engine.Engine
	Store siterecord.Store
	Now   func() time.Time
	Demo  bool
	flush time.Duration

	jobs    sync.WaitGroup
	current func() fyne.CanvasObject
	queueUI bool
	// onVerified: Options.OnBundleVerified.
	onVerified func(path string, b engine.Bundle, err error, took time.Duration)
	qmu        sync.Mutex
	queue      []func()

	// Site under work (install) or being managed.
	Site *SiteModel

	// installVM is the running install, kept for tests and for Retry after a language switch.
	installVM *InstallVM
}

// New builds the wizard's main window showing the start screen.
func New(a fyne.App, o Options) *Wizard {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Flush <= 0 {
		o.Flush = 150 * time.Millisecond
	}
	if err := SetLanguage(a.Preferences().StringWithFallback(prefLang, LangSystem)); err != nil {
		fyne.LogError("setting language", err)
	}
	w := &Wizard{App: a, Eng: o.Engine, Store: o.Store, Now: o.Now, Demo: o.Demo, flush: o.Flush, queueUI: o.QueueUI, onVerified: o.OnBundleVerified}
	a.SetIcon(Icon)
	w.Win = a.NewWindow("Ferry")
	w.Win.SetIcon(Icon)
	w.Win.Resize(fyne.NewSize(1000, 700))
	w.Site = NewSiteModel()
	w.ShowStart()
	if o.Preset != nil {
		w.startPreset(*o.Preset)
	}
	return w
}

// Go runs engine work off the UI goroutine; tests wait for it with Wait.
func (w *Wizard) Go(fn func()) {
	w.jobs.Add(1)
	go func() {
		defer w.jobs.Done()
		fn()
	}()
}

// Run runs work off the UI goroutine and then applies the UI update it returns (which may be nil) on the
// UI goroutine. Work must not touch widgets or bindings; its result does.
func (w *Wizard) Run(work func() func()) {
	w.Go(func() {
		if apply := work(); apply != nil {
			w.ui(apply)
		}
	})
}

// ui runs fn on the UI goroutine (see Options.QueueUI for tests).
func (w *Wizard) ui(fn func()) {
	if !w.queueUI {
		fyne.Do(fn)
		return
	}
	w.qmu.Lock()
	w.queue = append(w.queue, fn)
	w.qmu.Unlock()
}

// Wait blocks until every job started with Go has finished and, with QueueUI, runs the queued UI updates
// (which may start more jobs) until nothing is left.
func (w *Wizard) Wait() {
	for {
		w.jobs.Wait()
		w.qmu.Lock()
		q := w.queue
		w.queue = nil
		w.qmu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, fn := range q {
			fn()
		}
	}
}

// DrainUI runs the UI updates queued so far without waiting for running jobs (QueueUI only).
func (w *Wizard) DrainUI() {
	w.qmu.Lock()
	q := w.queue
	w.queue = nil
	w.qmu.Unlock()
	for _, fn := range q {
		fn()
	}
}

// show replaces the window's content with the step build makes, remembering it for a language change.
func (w *Wizard) show(build func() fyne.CanvasObject) {
	w.current = build
	w.Win.SetContent(build())
}

// Rebuild redraws the current step, e.g. after the language changed.
func (w *Wizard) Rebuild() {
	if w.current != nil {
		w.Win.SetContent(w.current())
	}
}

// ctx is the parent of all engine work; the window closing does not cancel it (an install must be
// cancelled explicitly, never by accident).
func (w *Wizard) ctx() context.Context { return context.Background() }

// stepNames are the install flow's steps, shown as a breadcrumb.
func stepNames() []string {
	return []string{
		lang.X("step.bundle", "Bundle"),
		lang.X("step.hosts", "Hosts"),
		lang.X("step.preflight", "Checks"),
		lang.X("step.configure", "Settings"),
		lang.X("step.install", "Install"),
		lang.X("step.done", "Done"),
	}
}

// page frames a step: a header with the title, the step breadcrumb (when step >= 0) and the settings
// button; the body; and a row of buttons at the bottom right.
func (w *Wizard) page(title string, step int, body fyne.CanvasObject, buttons ...fyne.CanvasObject) fyne.CanvasObject {
	heading := widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	heading.SizeName = theme.SizeNameSubHeadingText
	settings := widget.NewButtonWithIcon(lang.X("settings.button", "Language"), theme.SettingsIcon(), w.showSettings)
	top := []fyne.CanvasObject{container.NewBorder(nil, nil, nil, settings, heading)}
	if step >= 0 {
		crumbs := container.NewHBox()
		for i, n := range stepNames() {
			l := widget.NewLabel(n)
			switch {
			case i == step:
				l.TextStyle.Bold = true
				l.Importance = widget.HighImportance
			case i > step:
				l.Importance = widget.LowImportance
			}
			if i > 0 {
				crumbs.Add(widget.NewLabel("›"))
			}
			crumbs.Add(l)
		}
		top = append(top, crumbs)
	}
	if w.Demo {
		demo := widget.NewLabel(lang.X("demo.banner", "Demo engine: nothing is changed on any host."))
		demo.Importance = widget.WarningImportance
		top = append(top, demo)
	}
	top = append(top, widget.NewSeparator())
	bar := container.NewHBox(layout.NewSpacer())
	for _, b := range buttons {
		bar.Add(b)
	}
	return container.NewBorder(container.NewVBox(top...), container.NewVBox(widget.NewSeparator(), bar), nil, nil,
		container.NewPadded(body))
}
