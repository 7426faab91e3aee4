package gui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
)

// PreflightVM is the Checks step: the host x check results and the fixes Ferry can apply.
type PreflightVM struct {
	Busy    binding.Bool
	Problem ProblemBinding
	// Results holds the []engine.Check of the last run (nil before the first).
	Results binding.Untyped
}

// NewPreflightVM returns an empty checks model.
func NewPreflightVM() *PreflightVM {
	return &PreflightVM{Busy: binding.NewBool(), Problem: newProblemBinding(), Results: binding.NewUntyped()}
}

// Checks returns the last results.
func (vm *PreflightVM) Checks() []engine.Check {
	c, _ := held[[]engine.Check](vm.Results)
	return c
}

// Fixable returns the failed or warned checks Ferry can fix itself.
func Fixable(checks []engine.Check) []engine.Check {
	var out []engine.Check
	for _, c := range checks {
		if c.Severity != engine.Pass && c.Fixable {
			out = append(out, c)
		}
	}
	return out
}

// CanContinue: the checks ran and none failed (warnings are the user's call).
func (vm *PreflightVM) CanContinue() (bool, string) {
	cs := vm.Checks()
	if cs == nil {
		return false, lang.X("preflight.need.run", "Wait for the checks to finish.")
	}
	for _, c := range cs {
		if c.Severity == engine.Fail {
			return false, lang.X("preflight.need.pass", "Fix the failed checks, then run the checks again.")
		}
	}
	return true, ""
}

// Run runs the checks on a goroutine.
func (vm *PreflightVM) Run(w *Wizard, site engine.Site, b engine.Bundle) {
	_ = vm.Busy.Set(true)
	setProblem(vm.Problem, nil)
	w.Run(func() func() {
		cs, err := w.Eng.Preflight(w.ctx(), site, b)
		return func() { vm.done(cs, err) }
	})
}

// Fix applies the fixable checks' fixes, then runs the checks again.
func (vm *PreflightVM) Fix(w *Wizard, site engine.Site, b engine.Bundle) {
	fix := Fixable(vm.Checks())
	if len(fix) == 0 {
		return
	}
	_ = vm.Busy.Set(true)
	setProblem(vm.Problem, nil)
	w.Run(func() func() {
		if err := w.Eng.ApplyFixes(w.ctx(), site, fix, nil); err != nil {
			return func() { vm.done(nil, err) }
		}
		cs, err := w.Eng.Preflight(w.ctx(), site, b)
		return func() { vm.done(cs, err) }
	})
}

// done shows a run's results (UI goroutine).
func (vm *PreflightVM) done(cs []engine.Check, err error) {
	_ = vm.Busy.Set(false)
	if err != nil {
		setProblem(vm.Problem, err)
		return
	}
	if cs == nil {
		cs = []engine.Check{}
	}
	_ = vm.Results.Set(&cs)
}

func severityText(s engine.Severity) (string, widget.Importance, fyne.Resource) {
	switch s {
	case engine.Warn:
		return lang.X("preflight.warn", "warning"), widget.WarningImportance, theme.WarningIcon()
	case engine.Fail:
		return lang.X("preflight.fail", "failed"), widget.DangerImportance, theme.ErrorIcon()
	}
	return lang.X("preflight.pass", "passed"), widget.SuccessImportance, theme.ConfirmIcon()
}

// ShowPreflight shows the Checks step and starts the checks.
func (w *Wizard) ShowPreflight() {
	vm := NewPreflightVM()
	site, b := w.engineSite(), w.Site.Bundle
	vm.Run(w, site, b)
	w.show(func() fyne.CanvasObject {
		next := widget.NewButtonWithIcon(lang.X("common.next", "Next"), theme.NavigateNextIcon(), func() {
			if ok, _ := vm.CanContinue(); ok {
				w.ShowConfigure()
			}
		})
		next.Importance = widget.HighImportance
		back := widget.NewButtonWithIcon(lang.X("common.back", "Back"), theme.NavigateBackIcon(), w.ShowHosts)
		return w.page(lang.X("preflight.title", "Check the machines"), 2, w.preflightStep(vm, site, b, next), back, next)
	})
}

func (w *Wizard) preflightStep(vm *PreflightVM, site engine.Site, b engine.Bundle, next *widget.Button) fyne.CanvasObject {
	rerun := widget.NewButtonWithIcon(lang.X("preflight.rerun", "Run checks again"), theme.ViewRefreshIcon(), func() { vm.Run(w, site, b) })
	fix := widget.NewButtonWithIcon(lang.X("preflight.fix", "Apply the fixes Ferry can make"), theme.MediaFastForwardIcon(), func() { vm.Fix(w, site, b) })
	fix.Importance = widget.HighImportance
	busy := widget.NewProgressBarInfinite()
	busy.Hide()
	table := container.NewVBox()
	why := widget.NewLabel("")
	why.Importance = widget.LowImportance
	update := func() {
		if v, _ := vm.Busy.Get(); v {
			busy.Show()
			busy.Start()
			rerun.Disable()
			fix.Disable()
		} else {
			busy.Stop()
			busy.Hide()
			rerun.Enable()
			if len(Fixable(vm.Checks())) > 0 {
				fix.Enable()
			} else {
				fix.Disable()
			}
		}
		ok, reason := vm.CanContinue()
		if ok && !func() bool { v, _ := vm.Busy.Get(); return v }() {
			next.Enable()
		} else {
			next.Disable()
		}
		why.SetText(reason)
	}
	vm.Results.AddListener(binding.NewDataListener(func() {
		table.RemoveAll()
		cs := vm.Checks()
		if len(cs) == 0 {
			update()
			return
		}
		table.Add(checksTable(cs))
		update()
	}))
	vm.Busy.AddListener(binding.NewDataListener(update))
	return container.NewBorder(container.NewVBox(container.NewHBox(rerun, fix), busy, w.problemView(vm.Problem)), why, nil, nil,
		container.NewVScroll(table))
}

// CheckDetail is the last column of a check's row: what was found and, for a warning or a failure, what
// to do about it, and whether Ferry can do it.
func CheckDetail(c engine.Check) string {
	if c.Severity == engine.Pass || c.Fix == "" {
		return c.Detail
	}
	// The finding and the advice are the engine's English (they name sizes, paths, versions); the column
	// heading and "(Ferry can fix this)" are in the user's language. A per-id translation would lose
	// those specifics, so there is none.
	d := c.Detail + " — " + c.Fix
	if c.Fixable {
		d += " " + lang.X("preflight.canfix", "(Ferry can fix this)")
	}
	return d
}

// checksTable draws one row per check. The host, check and result columns are as wide as their widest
// cell; the last column (what was found, what to do) takes the rest of the width and wraps there, so a
// row is only as tall as its own text (an equal-cell grid made every row as tall as the longest advice
// wrapped into a quarter of the window). A host's name is shown on its first row, with a line between
// hosts.
func checksTable(cs []engine.Check) fyne.CanvasObject {
	cols := &columns{}
	head := []fyne.CanvasObject{bold(lang.X("preflight.col.host", "Host")), bold(lang.X("preflight.col.check", "Check")),
		bold(lang.X("preflight.col.result", "Result")), bold(lang.X("preflight.col.fix", "What to do"))}
	rows := []fyne.CanvasObject{container.New(cols, head...)}
	cells := [][]fyne.CanvasObject{head}
	for i, c := range cs {
		txt, imp, icon := severityText(c.Severity)
		res := widget.NewLabel(txt)
		res.Importance = imp
		host := widget.NewLabel(c.Host)
		if i > 0 && cs[i-1].Host == c.Host {
			host.SetText("")
		} else {
			rows = append(rows, widget.NewSeparator())
		}
		d := widget.NewLabel(CheckDetail(c))
		d.Wrapping = fyne.TextWrapWord
		row := []fyne.CanvasObject{host, widget.NewLabel(engineText("check.", c.ID, c.Title)), container.NewHBox(widget.NewIcon(icon), res), d}
		cells = append(cells, row)
		rows = append(rows, container.New(cols, row...))
	}
	cols.fit(cells)
	return container.NewVBox(rows...)
}

func bold(s string) *widget.Label {
	return widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}
