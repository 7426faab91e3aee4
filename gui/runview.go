package gui

import (
	"context"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// runView shows a run's phase list, per-host transfer bars and live log, all fed by p's bindings.
func runView(p *RunProgress) fyne.CanvasObject {
	phases := container.NewVBox(bold(lang.X("run.phases", "Steps")))
	for i, ph := range p.Phases {
		icon := widget.NewIcon(theme.RadioButtonIcon())
		state := widget.NewLabel("")
		title := widget.NewLabel(phaseTitle(ph))
		b := p.PhaseStates[i]
		b.AddListener(binding.NewDataListener(func() {
			v, _ := b.Get()
			s := PhaseState(v)
			state.SetText(phaseStateText(s))
			switch s {
			case PhaseRunning:
				icon.SetResource(theme.MediaPlayIcon())
				state.Importance = widget.HighImportance
			case PhaseDone, PhaseSkipped:
				icon.SetResource(theme.ConfirmIcon())
				state.Importance = widget.SuccessImportance
			case PhaseFailed:
				icon.SetResource(theme.ErrorIcon())
				state.Importance = widget.DangerImportance
			case PhaseNotNeeded:
				icon.SetResource(theme.MediaSkipNextIcon())
				state.Importance = widget.LowImportance
			default:
				icon.SetResource(theme.RadioButtonIcon())
				state.Importance = widget.LowImportance
			}
			state.Refresh()
		}))
		phases.Add(container.NewBorder(nil, nil, icon, state, title))
	}
	hosts := container.NewVBox(bold(lang.X("run.hosts", "Machines")))
	for i, h := range p.Hosts {
		text := widget.NewLabelWithData(p.HostTexts[i])
		text.TextStyle.Monospace = true
		hosts.Add(container.NewBorder(nil, nil, widget.NewLabel(h), nil, widget.NewProgressBarWithData(p.HostBars[i])))
		hosts.Add(text)
	}
	log := widget.NewListWithData(p.Log, func() fyne.CanvasObject {
		l := widget.NewLabel("")
		l.TextStyle.Monospace = true
		l.Truncation = fyne.TextTruncateEllipsis
		return l
	}, func(i binding.DataItem, o fyne.CanvasObject) {
		s, _ := i.(binding.String).Get()
		o.(*widget.Label).SetText(s)
	})
	p.Log.AddListener(binding.NewDataListener(log.ScrollToBottom))
	// Scrolled, so a long phase list (an install has 15) or many hosts never grow the window past a laptop
	// screen, which would push the Next/Cancel buttons out of reach.
	top := container.NewVScroll(container.NewGridWithColumns(2, phases, hosts))
	split := container.NewVSplit(top, container.NewBorder(bold(lang.X("run.log", "Log")), nil, nil, nil, log))
	split.Offset = 0.75 // most of the room to the steps; the log keeps a few lines
	return split
}

// runWithFlush runs fn on a goroutine, flushing p to the screen every interval while it runs and once at
// the end, then calls done with fn's error on the UI goroutine. At most one flush waits on the UI goroutine
// at a time, so a busy UI sees fewer, not queued-up, updates.
func (w *Wizard) runWithFlush(p *RunProgress, fn func() error, done func(error)) {
	w.Go(func() {
		ctx, stop := context.WithCancel(context.Background())
		ticked := make(chan struct{})
		var pending atomic.Bool
		go func() {
			defer close(ticked)
			t := time.NewTicker(w.flush)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if pending.CompareAndSwap(false, true) {
						w.ui(func() { pending.Store(false); p.Flush() })
					}
				}
			}
		}()
		err := fn()
		stop()
		<-ticked
		p.Finish(err)
		w.ui(func() {
			p.Flush()
			done(err)
		})
	})
}
