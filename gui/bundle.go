package gui

import (
	"context"
	"strings"
	"sync"
	"time"

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

// BundleVM is the Open bundle step: a path, verification progress and the verified bundle.
type BundleVM struct {
	Path     binding.String
	Progress binding.Float
	Busy     binding.Bool
	// TrustAck is the explicit "I accept the risk" for an unsigned or untrusted bundle.
	TrustAck binding.Bool
	Problem  ProblemBinding
	// Verified holds the engine.Bundle once verification succeeded (nil before).
	Verified binding.Untyped

	mu     sync.Mutex
	cancel context.CancelFunc
}

// NewBundleVM returns an empty bundle step model.
func NewBundleVM() *BundleVM {
	return &BundleVM{Path: binding.NewString(), Progress: binding.NewFloat(), Busy: binding.NewBool(),
		TrustAck: binding.NewBool(), Problem: newProblemBinding(), Verified: binding.NewUntyped()}
}

// Bundle returns the verified bundle, if any.
func (vm *BundleVM) Bundle() (engine.Bundle, bool) {
	return held[engine.Bundle](vm.Verified)
}

// held reads an Untyped binding that holds a *T, as the view-models store their results (pointers:
// bindings compare the values they hold, and these hold slices): the value, and whether one is set.
func held[T any](b binding.Untyped) (T, bool) {
	v, _ := b.Get()
	p, ok := v.(*T)
	if !ok || p == nil {
		var zero T
		return zero, false
	}
	return *p, true
}

// NeedsTrustAck reports whether the bundle may only be used after an explicit confirmation.
func NeedsTrustAck(b engine.Bundle) bool { return b.Trust != engine.TrustSigned }

// CanContinue says whether the user may go on, and if not, why.
func (vm *BundleVM) CanContinue() (bool, string) {
	b, ok := vm.Bundle()
	if !ok {
		return false, lang.X("bundle.need", "Open and verify a bundle first.")
	}
	if ack, _ := vm.TrustAck.Get(); NeedsTrustAck(b) && !ack {
		return false, lang.X("bundle.needack", "Confirm that you accept an unverified bundle, or open a signed one.")
	}
	return true, ""
}

// Verify opens and verifies the bundle at Path on a goroutine.
func (vm *BundleVM) Verify(w *Wizard) {
	path, _ := vm.Path.Get()
	path = strings.TrimSpace(path)
	if path == "" {
		return
	}
	ctx, cancel := context.WithCancel(w.ctx())
	vm.mu.Lock()
	if vm.cancel != nil {
		vm.cancel()
	}
	vm.cancel = cancel
	vm.mu.Unlock()
	_ = vm.Busy.Set(true)
	_ = vm.Verified.Set(nil)
	_ = vm.TrustAck.Set(false)
	_ = vm.Progress.Set(0)
	setProblem(vm.Problem, nil)
	w.Run(func() func() {
		defer cancel()
		last := -1.0
		start := time.Now()
		b, err := w.Eng.OpenBundle(ctx, path, func(e progress.Event) {
			if e.Total <= 0 {
				return
			}
			// Only whole-percent steps reach the screen: verification of a big bundle emits many events.
			f := float64(int(100*float64(e.Done)/float64(e.Total))) / 100
			if f != last {
				last = f
				w.ui(func() { _ = vm.Progress.Set(f) })
			}
		})
		if w.onVerified != nil {
			w.onVerified(path, b, err, time.Since(start))
		}
		return func() {
			_ = vm.Busy.Set(false)
			if err != nil {
				setProblem(vm.Problem, err)
				return
			}
			_ = vm.Progress.Set(1)
			_ = vm.Verified.Set(&b)
		}
	})
}

// ShowBundle shows the Open bundle step of the install flow.
func (w *Wizard) ShowBundle() {
	vm := NewBundleVM()
	if w.Site.Bundle.Path != "" && w.Site.Bundle.App != "" {
		_ = vm.Path.Set(w.Site.Bundle.Path)
		b := w.Site.Bundle
		_ = vm.Verified.Set(&b)
		_ = vm.Progress.Set(1)
	} else if w.Site.Bundle.Path != "" {
		// A preset path (ferry --bundle) not verified yet: verify it now, as if the user pressed Verify.
		_ = vm.Path.Set(w.Site.Bundle.Path)
		vm.Verify(w)
	}
	w.showBundle(vm)
}

func (w *Wizard) showBundle(vm *BundleVM) {
	w.show(func() fyne.CanvasObject {
		next := widget.NewButtonWithIcon(lang.X("common.next", "Next"), theme.NavigateNextIcon(), func() {
			if ok, _ := vm.CanContinue(); ok {
				w.Site.Bundle, _ = vm.Bundle()
				w.ShowHosts()
			}
		})
		next.Importance = widget.HighImportance
		back := widget.NewButtonWithIcon(lang.X("common.back", "Back"), theme.NavigateBackIcon(), w.ShowStart)
		return w.page(lang.X("bundle.title", "Open the bundle"), 0, w.bundleStep(vm, next), back, next)
	})
}

// bundleStep is the bundle picker and its verified summary; next is enabled only when CanContinue.
func (w *Wizard) bundleStep(vm *BundleVM, next *widget.Button) fyne.CanvasObject {
	path := widget.NewEntryWithData(vm.Path)
	path.SetPlaceHolder(lang.X("bundle.path", "Path to the .ferry bundle file"))
	verify := widget.NewButtonWithIcon(lang.X("bundle.verify", "Verify"), theme.ConfirmIcon(), func() { vm.Verify(w) })
	browse := widget.NewButtonWithIcon(lang.X("bundle.browse", "Browse…"), theme.FolderOpenIcon(), func() {
		dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
			if err != nil || r == nil {
				return
			}
			_ = r.Close()
			_ = vm.Path.Set(r.URI().Path())
			vm.Verify(w)
		}, w.Win).Show()
	})
	bar := widget.NewProgressBarWithData(vm.Progress)
	summary := container.NewVBox()
	update := func() {
		ok, why := vm.CanContinue()
		if ok {
			next.Enable()
		} else {
			next.Disable()
		}
		_ = why
		if busy, _ := vm.Busy.Get(); busy {
			verify.Disable()
		} else {
			verify.Enable()
		}
	}
	vm.Verified.AddListener(binding.NewDataListener(func() {
		summary.RemoveAll()
		if b, ok := vm.Bundle(); ok {
			summary.Add(w.bundleSummary(b, vm))
		}
		update()
	}))
	vm.TrustAck.AddListener(binding.NewDataListener(update))
	vm.Busy.AddListener(binding.NewDataListener(update))
	return container.NewVBox(
		container.NewBorder(nil, nil, nil, container.NewHBox(browse, verify), path),
		bar,
		w.problemView(vm.Problem),
		summary,
	)
}

// bundleSummary shows what the bundle holds and who signed it; an unverified one gets a red warning and a
// confirmation box.
func (w *Wizard) bundleSummary(b engine.Bundle, vm *BundleVM) fyne.CanvasObject {
	signer := b.Signer
	if b.Trust == engine.TrustUnsigned {
		signer = lang.X("bundle.nosigner", "none (not signed)")
	}
	form := widget.NewForm(
		widget.NewFormItem(lang.X("bundle.app", "Application"), widget.NewLabel(b.App)),
		widget.NewFormItem(lang.X("bundle.version", "Version"), widget.NewLabel(b.Version)),
		widget.NewFormItem(lang.X("bundle.k3s", "k3s version"), widget.NewLabel(b.K3sVersion)),
		widget.NewFormItem(lang.X("bundle.platforms", "Platforms"), widget.NewLabel(strings.Join(b.Platforms, ", "))),
		widget.NewFormItem(lang.X("bundle.signer", "Signed by"), widget.NewLabel(signer)),
	)
	if !NeedsTrustAck(b) {
		ok := widget.NewLabel(lang.X("bundle.trusted", "The signature is valid and the signer is trusted."))
		ok.Importance = widget.SuccessImportance
		return container.NewVBox(form, container.NewHBox(widget.NewIcon(theme.ConfirmIcon()), ok))
	}
	msg := lang.X("bundle.unsigned", "DANGER: this bundle is not signed. Anyone could have built or changed it. Installing it can give a stranger control of these machines.")
	if b.Trust == engine.TrustUntrusted {
		msg = lang.X("bundle.untrusted", "DANGER: this bundle is signed by a key this laptop does not trust. It may not come from your vendor. Installing it can give a stranger control of these machines.")
	}
	warn := widget.NewLabel(msg)
	warn.Importance = widget.DangerImportance
	warn.TextStyle.Bold = true
	warn.Wrapping = fyne.TextWrapWord
	ack := widget.NewCheckWithData(lang.X("bundle.ack", "I have checked with the vendor and accept the risk of installing an unverified bundle"), vm.TrustAck)
	return container.NewVBox(form, container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), nil, warn), ack)
}
