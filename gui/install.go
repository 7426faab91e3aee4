package gui

import (
	"context"
	"errors"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
)

// Run states of an install or upgrade.
const (
	RunIdle      = "idle"
	RunRunning   = "running"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
	RunSucceeded = "succeeded"
)

// InstallVM is the Install step.
type InstallVM struct {
	Progress *RunProgress
	State    binding.String
	Problem  ProblemBinding
	Result   engine.InstallResult
	Attempts int

	mu     sync.Mutex
	cancel context.CancelFunc
	req    engine.InstallRequest
}

// NewInstallVM prepares an install of req with the engine's phase list.
func NewInstallVM(eng engine.Engine, req engine.InstallRequest) *InstallVM {
	var hosts []string
	for _, h := range req.Site.Hosts {
		hosts = append(hosts, h.Name)
	}
	vm := &InstallVM{Progress: NewRunProgress(eng.InstallPhases(req.Site, req.Bundle), hosts),
		State: binding.NewString(), Problem: newProblemBinding(), req: req}
	_ = vm.State.Set(RunIdle)
	return vm
}

func (vm *InstallVM) state() string { s, _ := vm.State.Get(); return s }

// CanCancel, CanRetry and CanFinish drive the buttons.
func (vm *InstallVM) CanCancel() bool { return vm.state() == RunRunning }
func (vm *InstallVM) CanRetry() bool  { s := vm.state(); return s == RunFailed || s == RunCancelled }
func (vm *InstallVM) CanFinish() bool { return vm.state() == RunSucceeded }

// Start runs (or, after a failure or cancel, resumes) the install on a goroutine. The site record is saved
// first, so the engine finds its known_hosts and an interrupted install can be resumed from the start screen.
func (vm *InstallVM) Start(w *Wizard, rec func() error, saved func(engine.InstallResult) error) {
	if vm.state() == RunRunning {
		return
	}
	ctx, cancel := context.WithCancel(w.ctx())
	vm.mu.Lock()
	vm.cancel = cancel
	vm.Attempts++
	vm.mu.Unlock()
	_ = vm.State.Set(RunRunning)
	setProblem(vm.Problem, nil)
	vm.Progress.Begin()
	vm.Progress.Flush()
	var res engine.InstallResult
	w.runWithFlush(vm.Progress, func() error {
		if err := rec(); err != nil {
			return err
		}
		var err error
		res, err = w.Eng.Install(ctx, vm.req, vm.Progress.Apply)
		if err == nil {
			err = saved(res)
		}
		return err
	}, func(err error) {
		cancel()
		switch {
		case err == nil:
			vm.Result = res
			_ = vm.State.Set(RunSucceeded)
		case errors.Is(err, context.Canceled):
			setProblem(vm.Problem, err)
			_ = vm.State.Set(RunCancelled)
		default:
			setRunProblem(vm.Problem, err, vm.Progress)
			_ = vm.State.Set(RunFailed)
		}
	})
}

// Cancel asks the running install to stop; the engine stops before its next step.
func (vm *InstallVM) Cancel() {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.cancel != nil {
		vm.cancel()
	}
}

// StartInstall shows the Install step and starts installing.
func (w *Wizard) StartInstall() {
	req := engine.InstallRequest{Site: w.engineSite(), Bundle: w.Site.Bundle, Values: w.Site.Values}
	vm := NewInstallVM(w.Eng, req)
	site := w.Site
	rec := site.Record()
	rec.Updated = w.Now()
	store := w.Store
	now := w.Now
	save := func() error {
		if err := store.Save(rec); err != nil {
			return err
		}
		return store.Audit(rec.Name, now(), "install "+req.Bundle.App+" "+req.Bundle.Version+" started")
	}
	saved := func(res engine.InstallResult) error {
		rec.Version, rec.AppURL, rec.Updated = req.Bundle.Version, res.AppURL, now()
		rec.History = append([]engine.Release{res.Release}, rec.History...)
		if err := store.Save(rec); err != nil {
			return err
		}
		if err := store.SaveKubeconfig(rec.Name, res.Kubeconfig); err != nil {
			return err
		}
		return store.Audit(rec.Name, now(), "install "+req.Bundle.App+" "+req.Bundle.Version+" succeeded")
	}
	w.show(func() fyne.CanvasObject {
		cancel := widget.NewButtonWithIcon(lang.X("install.cancel", "Cancel"), theme.CancelIcon(), vm.Cancel)
		retry := widget.NewButtonWithIcon(lang.X("install.retry", "Retry"), theme.ViewRefreshIcon(), func() { vm.Start(w, save, saved) })
		next := widget.NewButtonWithIcon(lang.X("common.next", "Next"), theme.NavigateNextIcon(), func() {
			if vm.CanFinish() {
				site.Version, site.AppURL = req.Bundle.Version, vm.Result.AppURL
				site.History = append([]engine.Release{vm.Result.Release}, site.History...)
				w.ShowDone(vm.Result)
			}
		})
		next.Importance = widget.HighImportance
		status := widget.NewLabel("")
		update := func() {
			enable(cancel, vm.CanCancel())
			enable(retry, vm.CanRetry())
			enable(next, vm.CanFinish())
			switch vm.state() {
			case RunRunning:
				status.SetText(lang.X("install.running", "Installing… you can cancel at any time; Retry continues where it stopped."))
			case RunSucceeded:
				status.SetText(lang.X("install.ok", "Installed."))
			default:
				status.SetText("")
			}
		}
		vm.State.AddListener(binding.NewDataListener(update))
		body := container.NewBorder(container.NewVBox(status, w.problemView(vm.Problem)), nil, nil, nil, runView(vm.Progress))
		return w.page(lang.X("install.title", "Installing {{.App}} {{.Version}}", map[string]any{"App": req.Bundle.App, "Version": req.Bundle.Version}), 4, body, cancel, retry, next)
	})
	vm.Start(w, save, saved)
	w.installVM = vm
}

func enable(b *widget.Button, on bool) {
	if on {
		b.Enable()
	} else {
		b.Disable()
	}
}
