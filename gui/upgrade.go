package gui

import (
	"context"
	"sort"

	"github.com/Masterminds/semver/v3"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// UpgradeVM is the Upgrade screen: pick and verify a bundle, see the plan, confirm, watch, read the result.
type UpgradeVM struct {
	Bundle  *BundleVM
	Plan    binding.Untyped // engine.UpgradePlan
	State   binding.String
	Result  binding.Untyped // engine.UpgradeResult
	Problem ProblemBinding
	// Progress is set when the upgrade starts (its phases come from the plan).
	Progress *RunProgress
}

// NewUpgradeVM returns an empty upgrade model.
func NewUpgradeVM() *UpgradeVM {
	vm := &UpgradeVM{Bundle: NewBundleVM(), Plan: binding.NewUntyped(), State: binding.NewString(),
		Result: binding.NewUntyped(), Problem: newProblemBinding()}
	_ = vm.State.Set(RunIdle)
	return vm
}

func (vm *UpgradeVM) plan() (engine.UpgradePlan, bool) {
	return held[engine.UpgradePlan](vm.Plan)
}

// UpgradeResultOf returns the finished upgrade's result.
func (vm *UpgradeVM) UpgradeResultOf() (engine.UpgradeResult, bool) {
	return held[engine.UpgradeResult](vm.Result)
}

// PlanWarning says why a plan deserves a second look: the target is not newer than what runs.
func PlanWarning(p engine.UpgradePlan) string {
	from, err1 := semver.NewVersion(p.From)
	to, err2 := semver.NewVersion(p.To)
	switch {
	case err1 != nil || err2 != nil:
		return ""
	case to.Equal(from):
		return lang.X("upgrade.same", "This bundle has the version that already runs; upgrading re-applies it.")
	case to.LessThan(from):
		return lang.X("upgrade.older", "This bundle is older than what runs. To go back, prefer Roll back on the site screen.")
	}
	return ""
}

// CanStart: a verified, acknowledged bundle and a plan, and nothing running.
func (vm *UpgradeVM) CanStart() bool {
	_, planned := vm.plan()
	ok, _ := vm.Bundle.CanContinue()
	s, _ := vm.State.Get()
	return ok && planned && s != RunRunning && s != RunSucceeded
}

// MakePlan asks the engine for the plan of upgrading to the verified bundle.
func (vm *UpgradeVM) MakePlan(w *Wizard) {
	b, ok := vm.Bundle.Bundle()
	if !ok {
		_ = vm.Plan.Set(nil)
		return
	}
	site := w.engineSite()
	setProblem(vm.Problem, nil)
	w.Run(func() func() {
		p, err := w.Eng.PlanUpgrade(w.ctx(), site, b)
		return func() {
			if err != nil {
				setProblem(vm.Problem, err)
				return
			}
			_ = vm.Plan.Set(&p)
		}
	})
}

// Start runs the upgrade on a goroutine; onProgress is called (on the UI goroutine) once the run view
// can be shown.
func (vm *UpgradeVM) Start(w *Wizard, values []byte, onProgress func()) {
	p, ok := vm.plan()
	b, _ := vm.Bundle.Bundle()
	if !ok || !vm.CanStart() {
		return
	}
	site := w.engineSite()
	rec := w.Site.Record()
	var hosts []string
	for _, h := range site.Hosts {
		hosts = append(hosts, h.Name)
	}
	vm.Progress = NewRunProgress(p.Phases, hosts)
	_ = vm.State.Set(RunRunning)
	setProblem(vm.Problem, nil)
	onProgress()
	var res engine.UpgradeResult
	var saveErr error
	w.runWithFlush(vm.Progress, func() error {
		_ = w.Store.Audit(rec.Name, w.Now(), "upgrade "+p.From+" -> "+p.To+" started")
		var err error
		res, err = w.Eng.Upgrade(context.Background(), site, b, values, vm.Progress.Apply)
		if err != nil {
			_ = w.Store.Audit(rec.Name, w.Now(), "upgrade "+p.From+" -> "+p.To+" failed: "+err.Error())
			return err
		}
		line := "upgrade " + p.From + " -> " + p.To + " succeeded"
		if res.RolledBack {
			line = "upgrade " + p.From + " -> " + p.To + " failed and rolled back automatically: " + res.Reason
		}
		_ = w.Store.Audit(rec.Name, w.Now(), line)
		rec.Version, rec.Updated = res.Version, w.Now()
		if !res.RolledBack {
			rec.BundlePath, rec.App = b.Path, b.App
		}
		if h, herr := w.Eng.History(w.ctx(), site); herr == nil {
			rec.History = h
		}
		saveErr = w.Store.Save(rec)
		return nil
	}, func(err error) {
		if err != nil {
			setRunProblem(vm.Problem, err, vm.Progress)
			_ = vm.State.Set(RunFailed)
			return
		}
		if saveErr != nil {
			setProblem(vm.Problem, saveErr)
		}
		w.Site.Version, w.Site.History = rec.Version, rec.History
		if !res.RolledBack {
			w.Site.Bundle = b
		}
		_ = vm.Result.Set(&res)
		_ = vm.State.Set(RunSucceeded)
	})
}

// ShowUpgrade shows the Upgrade screen for w.Site.
func (w *Wizard) ShowUpgrade() {
	vm := NewUpgradeVM()
	vm.Bundle.Verified.AddListener(binding.NewDataListener(func() { vm.MakePlan(w) }))
	w.show(func() fyne.CanvasObject { return w.upgradeStep(vm) })
}

func (w *Wizard) upgradeStep(vm *UpgradeVM) fyne.CanvasObject {
	content := container.NewStack()
	back := widget.NewButtonWithIcon(lang.X("upgrade.back", "Back to the site"), theme.NavigateBackIcon(), w.ShowManage)
	// The bundle step's own Next button is not shown here; a hidden one satisfies its signature.
	hiddenNext := widget.NewButton("", nil)
	start := widget.NewButtonWithIcon(lang.X("upgrade.start", "Upgrade"), theme.UploadIcon(), nil)
	start.Importance = widget.HighImportance
	planBox := container.NewVBox()
	choose := container.NewVBox(w.bundleStep(vm.Bundle, hiddenNext), planBox)
	showRun := func() {
		content.Objects = []fyne.CanvasObject{container.NewBorder(w.upgradeResultView(vm), nil, nil, nil, runView(vm.Progress))}
		content.Refresh()
	}
	start.OnTapped = func() {
		p, ok := vm.plan()
		if !ok || !vm.CanStart() {
			return
		}
		dialog.ShowConfirm(lang.X("upgrade.confirm.title", "Upgrade now?"),
			lang.X("upgrade.confirm", "Upgrade {{.Site}} from {{.From}} to {{.To}}? If the new version does not become healthy, Ferry rolls back to {{.From}} by itself.", map[string]any{"Site": w.Site.Name, "From": p.From, "To": p.To}),
			func(ok bool) {
				if ok {
					vm.Start(w, w.Site.Values, showRun)
				}
			}, w.Win)
	}
	update := func() {
		enable(start, vm.CanStart())
		s, _ := vm.State.Get()
		enable(back, s != RunRunning)
	}
	vm.Plan.AddListener(binding.NewDataListener(func() {
		planBox.RemoveAll()
		if p, ok := vm.plan(); ok {
			planBox.Add(planView(p))
		}
		update()
	}))
	vm.Bundle.TrustAck.AddListener(binding.NewDataListener(update))
	vm.State.AddListener(binding.NewDataListener(update))
	content.Objects = []fyne.CanvasObject{container.NewVScroll(container.NewVBox(choose, w.problemView(vm.Problem)))}
	if vm.Progress != nil {
		showRun()
	}
	return w.page(lang.X("upgrade.title", "Upgrade {{.Site}}", map[string]any{"Site": w.Site.Name}), -1, content, back, start)
}

// planView shows the plan: versions, the images that change, and the bytes each machine receives.
func planView(p engine.UpgradePlan) fyne.CanvasObject {
	form := widget.NewForm(
		widget.NewFormItem(lang.X("upgrade.versions", "Application"), widget.NewLabel(p.From+" → "+p.To)),
		widget.NewFormItem(lang.X("bundle.k3s", "k3s version"), widget.NewLabel(p.K3sFrom+" → "+p.K3sTo)),
	)
	imgs := container.NewVBox()
	for _, i := range p.ChangedImages {
		l := widget.NewLabel(i)
		l.TextStyle.Monospace = true
		imgs.Add(l)
	}
	if len(p.ChangedImages) == 0 {
		imgs.Add(widget.NewLabel(lang.X("upgrade.noimages", "No image changes.")))
	}
	form.Append(lang.X("upgrade.images", "Changed images"), imgs)
	nodes := make([]string, 0, len(p.BytesPerNode))
	for n := range p.BytesPerNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	bytes := container.NewVBox()
	for _, n := range nodes {
		bytes.Add(widget.NewLabel(n + ": " + progress.Bytes(p.BytesPerNode[n])))
	}
	form.Append(lang.X("upgrade.bytes", "To send per machine"), bytes)
	out := container.NewVBox(widget.NewSeparator(), bold(lang.X("upgrade.plan", "Plan")), form)
	if warn := PlanWarning(p); warn != "" {
		l := widget.NewLabel(warn)
		l.Importance = widget.WarningImportance
		l.Wrapping = fyne.TextWrapWord
		out.Add(l)
	}
	return out
}

// upgradeResultView follows the upgrade's result: success, or the automatic rollback stated plainly.
func (w *Wizard) upgradeResultView(vm *UpgradeVM) fyne.CanvasObject {
	box := container.NewVBox()
	redraw := func() {
		box.RemoveAll()
		res, ok := vm.UpgradeResultOf()
		if !ok {
			s, _ := vm.State.Get()
			if s == RunRunning {
				box.Add(widget.NewLabel(lang.X("upgrade.running", "Upgrading… the application keeps running until the new version is ready.")))
			}
			box.Add(w.problemView(vm.Problem))
			return
		}
		if res.RolledBack {
			p, _ := vm.plan()
			head := widget.NewLabelWithStyle(lang.X("upgrade.rolledback", "The upgrade to {{.To}} failed, so Ferry rolled back. The site runs {{.Version}}, as before.", map[string]any{"To": p.To, "Version": res.Version}), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			head.Importance = widget.WarningImportance
			head.Wrapping = fyne.TextWrapWord
			why := widget.NewLabel(lang.X("upgrade.reason", "Why: {{.Reason}}", map[string]any{"Reason": res.Reason}))
			why.Wrapping = fyne.TextWrapWord
			next := widget.NewLabel(lang.X("upgrade.rolledback.next", "Nothing was lost. Send the log below to your vendor before trying again."))
			next.Wrapping = fyne.TextWrapWord
			box.Add(container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), nil, container.NewVBox(head, why, next)))
			return
		}
		ok2 := widget.NewLabelWithStyle(lang.X("upgrade.ok", "Upgraded: the site runs {{.Version}}.", map[string]any{"Version": res.Version}), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		ok2.Importance = widget.SuccessImportance
		box.Add(container.NewBorder(nil, nil, widget.NewIcon(theme.ConfirmIcon()), nil, ok2))
	}
	vm.Result.AddListener(binding.NewDataListener(redraw))
	vm.State.AddListener(binding.NewDataListener(redraw))
	return box
}
