package gui

import (
	"context"
	"errors"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
)

// Problem is an error as the user sees it: what happened, what to do next, and the technical details
// behind a "copy details" button for whoever they ask for help.
type Problem struct {
	What string
	Next string
	// Cause is the engine's own words (English) for an error no sentinel explains, shown under What: the
	// heading is in the user's language, the exact cause stays readable below it.
	Cause   string
	Details string

	// err and step are what the texts were made from: a redraw after a language change words them
	// again (problemView).
	err  error
	step *engine.Phase
}

// explain turns an engine error into a Problem, choosing the advice by sentinel error (the first that
// matches). The texts are looked up on every call, so the current language applies.
func explain(err error) Problem { return explainStep(err, nil) }

// explainStep is explain for a run whose step failed (nil if none did): an error no sentinel explains is
// headed by that step's title in the user's language.
func explainStep(err error, step *engine.Phase) Problem {
	for _, a := range []struct {
		sentinel   error
		what, next string
		at         error // also needed, if set: where it failed (the jump host)
	}{
		{context.Canceled, lang.X("err.cancelled", "The operation was cancelled."),
			lang.X("err.cancelled.next", "Press Retry to continue where it stopped."), nil},
		{engine.ErrAuth, lang.X("err.jump.auth", "The jump host refused the user name, key or password it was given."),
			lang.X("err.jump.auth.next", "Check the jump host's own login (its user and key file or password; unticked, this machine's are used), then test the connection again."), engine.ErrJumpHost},
		{engine.ErrUnreachable, lang.X("err.jump.unreachable", "Ferry could not reach the jump host."),
			lang.X("err.jump.unreachable.next", "Check the jump host's address and port, and that this laptop can reach it."), engine.ErrJumpHost},
		{engine.ErrHostKeyMismatch, lang.X("err.hostkey", "The host's identity key has changed since Ferry last connected."),
			lang.X("err.hostkey.next", "Stop. Ask the site's administrator whether the machine was reinstalled; if not, someone may be intercepting the connection."), nil},
		{engine.ErrAuth, lang.X("err.auth", "The host refused the user name, key or password."),
			lang.X("err.auth.next", "Check the user name and the key file or password, then test the connection again."), nil},
		{engine.ErrUnreachable, lang.X("err.unreachable", "Ferry could not reach the host."),
			lang.X("err.unreachable.next", "Check the address, the cable or Wi-Fi, and that SSH (port 22) is open on the host."), nil},
		{engine.ErrBundleCorrupt, lang.X("err.bundle", "The bundle file is damaged or incomplete."),
			lang.X("err.bundle.next", "Copy the bundle again from its original medium and open the new copy."), nil},
		{engine.ErrNoKeptVersion, lang.X("err.notkept", "That version is no longer kept on the site."),
			lang.X("err.notkept.next", "Open the bundle of that version and upgrade to it instead."), nil},
	} {
		if errors.Is(err, a.sentinel) && (a.at == nil || errors.Is(err, a.at)) {
			return Problem{What: a.what, Next: a.next, Details: err.Error(), err: err, step: step}
		}
	}
	what := lang.X("err.generic", "Ferry could not finish.")
	if step != nil {
		what = lang.X("err.step", "The step “{{.Step}}” failed.", map[string]any{"Step": phaseTitle(*step)})
	}
	return Problem{
		What:    what,
		Cause:   lang.X("err.cause", "The engine reported: {{.Err}}", map[string]any{"Err": err.Error()}),
		Next:    lang.X("err.generic.next", "Read the details below; if they do not help, copy them and send them to your vendor's support."),
		Details: err.Error(),
		err:     err,
		step:    step,
	}
}

// ProblemBinding holds the step's current problem (nil when there is none).
type ProblemBinding = binding.Untyped

func newProblemBinding() ProblemBinding { return binding.NewUntyped() }

func setProblem(b ProblemBinding, err error) {
	if err == nil {
		_ = b.Set(nil)
		return
	}
	p := explain(err)
	_ = b.Set(&p)
}

// setRunProblem is setProblem for a run: the step that failed (if the run got that far) heads it.
func setRunProblem(b ProblemBinding, err error, run *RunProgress) {
	p := explainStep(err, run.FailedPhase())
	_ = b.Set(&p)
}

func getProblem(b ProblemBinding) *Problem {
	v, _ := b.Get()
	p, _ := v.(*Problem)
	return p
}

// problemView shows b's problem, or nothing, and follows its changes.
func (w *Wizard) problemView(b ProblemBinding) fyne.CanvasObject {
	box := container.NewVBox()
	b.AddListener(binding.NewDataListener(func() {
		box.RemoveAll()
		if p := getProblem(b); p != nil {
			q := *p
			if q.err != nil {
				q = explainStep(q.err, q.step) // in the language of this drawing
			}
			box.Add(w.problemCard(q))
		}
	}))
	return box
}

func (w *Wizard) problemCard(p Problem) fyne.CanvasObject {
	what := widget.NewLabelWithStyle(p.What, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	what.Importance = widget.DangerImportance
	what.Wrapping = fyne.TextWrapWord
	next := widget.NewLabel(p.Next)
	next.Wrapping = fyne.TextWrapWord

	details := widget.NewLabel(p.Details)
	details.Wrapping = fyne.TextWrapWord
	details.TextStyle.Monospace = true
	copyBtn := widget.NewButtonWithIcon(lang.X("err.copy", "Copy details"), theme.ContentCopyIcon(), func() {
		w.App.Clipboard().SetContent(p.What + "\n" + p.Next + "\n\n" + p.Details)
	})
	box := container.NewVBox(container.NewBorder(nil, nil, widget.NewIcon(theme.ErrorIcon()), nil, what))
	if p.Cause != "" {
		cause := widget.NewLabel(p.Cause)
		cause.Wrapping = fyne.TextWrapWord
		box.Add(cause)
	}
	box.Add(next)
	box.Add(widget.NewAccordion(widget.NewAccordionItem(lang.X("err.details", "Details"), details)))
	box.Add(container.NewHBox(copyBtn))
	return box
}
