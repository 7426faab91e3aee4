package gui

import (
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// PhaseState is a phase's place in a run.
type PhaseState int

const (
	PhasePending PhaseState = iota
	PhaseRunning
	PhaseDone
	PhaseSkipped // done in an earlier run, so the engine skipped it
	PhaseFailed
	PhaseNotNeeded // nothing to do on this site (e.g. no other server to join)
)

// failedWithCause keys RunProgress.said's line for a failure with its error, worded around causeMark,
// which Apply replaces with the engine's error text.
const (
	failedWithCause = "\x00failed-with-cause"
	causeMark       = "\x00cause\x00"
)

// maxLogLines bounds the live log pane; the full log is the engine's audit log.
const maxLogLines = 1000

type hostTransfer struct {
	done, total int64
	first       time.Time // when this unit of work started
	firstDone   int64
	last        time.Time
}

// RunProgress turns a stream of progress events into what a run's screen shows: phase states, per-host
// transfer bars and a log. Events are applied under a mutex (cheap, never touching widgets) and Flush copies
// the state into bindings, so a chatty engine costs one screen update per flush interval, not per event.
type RunProgress struct {
	Phases      []engine.Phase
	Hosts       []string
	PhaseStates []binding.Int
	HostBars    []binding.Float
	HostTexts   []binding.String
	Log         binding.StringList

	mu      sync.Mutex
	states  []PhaseState
	xfer    []hostTransfer
	lines   []string
	phaseIx map[string]int
	hostIx  map[string]int
	// said holds, per phase, the log lines for the engine's own start/done/failed events, worded in the
	// language chosen when the run began (Apply runs on the engine's goroutine, away from lang).
	said []map[string]string
}

// NewRunProgress prepares the model for phases on hosts.
func NewRunProgress(phases []engine.Phase, hosts []string) *RunProgress {
	p := &RunProgress{Phases: phases, Hosts: hosts, Log: binding.NewStringList(),
		states: make([]PhaseState, len(phases)), xfer: make([]hostTransfer, len(hosts)),
		phaseIx: map[string]int{}, hostIx: map[string]int{}}
	for i, ph := range phases {
		p.phaseIx[ph.ID] = i
		p.PhaseStates = append(p.PhaseStates, binding.NewInt())
		step := map[string]any{"Step": phaseTitle(ph)}
		p.said = append(p.said, map[string]string{
			progress.MsgStarted: lang.X("log.started", "{{.Step}}: started", step),
			progress.MsgDone:    lang.X("log.done", "{{.Step}}: done", step),
			progress.MsgFailed:  lang.X("log.failed", "{{.Step}}: failed", step),
			failedWithCause: lang.X("log.failedcause", "{{.Step}}: failed: {{.Err}}",
				map[string]any{"Step": phaseTitle(ph), "Err": causeMark}),
		})
	}
	for i, h := range hosts {
		p.hostIx[h] = i
		p.HostBars = append(p.HostBars, binding.NewFloat())
		p.HostTexts = append(p.HostTexts, binding.NewString())
	}
	return p
}

// Apply records one event. It is the engine's Sink: it only takes a mutex, so it never stalls the engine.
func (p *RunProgress) Apply(e progress.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.phaseIx[e.Phase]; ok {
		switch {
		case e.Msg == engine.MsgSkipped:
			if p.states[i] != PhaseDone {
				p.states[i] = PhaseSkipped
			}
		case e.Msg == engine.MsgNotNeeded:
			// Said before the phase's turn: the phases running now keep running.
			if p.states[i] != PhaseDone {
				p.states[i] = PhaseNotNeeded
			}
		case e.Err != nil:
			p.states[i] = PhaseFailed
		case p.states[i] == PhasePending || p.states[i] == PhaseFailed:
			// A phase starting means every earlier running phase finished.
			for j := range p.states {
				if p.states[j] == PhaseRunning && j != i {
					p.states[j] = PhaseDone
				}
			}
			p.states[i] = PhaseRunning
		}
	}
	if j, ok := p.hostIx[e.Host]; ok && e.Total > 0 {
		x := &p.xfer[j]
		if e.Total != x.total || e.Done < x.done {
			*x = hostTransfer{total: e.Total, first: e.Time, firstDone: e.Done}
		}
		x.done, x.last = e.Done, e.Time
	}
	if e.Msg != "" && e.Msg != engine.MsgSkipped && e.Msg != engine.MsgNotNeeded {
		line := e.Msg
		if i, ok := p.phaseIx[e.Phase]; ok && p.said[i][e.Msg] != "" {
			line = p.said[i][e.Msg] // the engine's start/done/failed, in the user's language
			if e.Err != nil {
				line = strings.Replace(p.said[i][failedWithCause], causeMark, e.Err.Error(), 1) // the cause in the engine's words
			}
		}
		if e.Host != "" {
			line = e.Host + ": " + line
		}
		p.lines = append(p.lines, line)
		if over := len(p.lines) - maxLogLines; over > 0 {
			p.lines = p.lines[over:]
		}
	}
}

// Begin resets phases for a new attempt; phases already done stay done (a retry resumes), and so do
// phases with nothing to do.
func (p *RunProgress) Begin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.states {
		if s != PhaseDone && s != PhaseSkipped && s != PhaseNotNeeded {
			p.states[i] = PhasePending
		}
	}
}

// Finish marks the run's end: on success every phase that ran is done; on failure the running one failed.
func (p *RunProgress) Finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.states {
		switch {
		case err == nil && (s == PhaseRunning || s == PhasePending):
			p.states[i] = PhaseDone
		case err != nil && s == PhaseRunning:
			p.states[i] = PhaseFailed
		}
	}
}

// State returns phase i's state.
func (p *RunProgress) State(i int) PhaseState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.states[i]
}

// FailedPhase is the step the run failed in, nil if none did.
func (p *RunProgress) FailedPhase() *engine.Phase {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.states {
		if s == PhaseFailed {
			ph := p.Phases[i]
			return &ph
		}
	}
	return nil
}

// Flush copies the state into the bindings.
func (p *RunProgress) Flush() {
	p.mu.Lock()
	states := append([]PhaseState(nil), p.states...)
	xfer := append([]hostTransfer(nil), p.xfer...)
	lines := append([]string(nil), p.lines...)
	p.mu.Unlock()
	for i, s := range states {
		_ = p.PhaseStates[i].Set(int(s))
	}
	for i, x := range xfer {
		if x.total <= 0 {
			continue
		}
		_ = p.HostBars[i].Set(float64(x.done) / float64(x.total))
		rate := 0.0
		if el := x.last.Sub(x.first).Seconds(); el > 0 {
			rate = float64(x.done-x.firstDone) / el
		}
		_ = p.HostTexts[i].Set(transferText(x.done, x.total, rate))
	}
	if cur, _ := p.Log.Get(); len(cur) != len(lines) || len(lines) > 0 && cur[len(cur)-1] != lines[len(lines)-1] {
		_ = p.Log.Set(lines)
	}
}

// transferText is "done / total · rate · ETA"; rate and ETA only once a rate is known.
func transferText(done, total int64, rate float64) string {
	s := progress.Bytes(done) + " / " + progress.Bytes(total)
	if done >= total {
		return s
	}
	if rate <= 0 {
		return s
	}
	eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
	return lang.X("progress.rate", "{{.Bytes}} · {{.Rate}}/s · about {{.ETA}} left",
		map[string]any{"Bytes": s, "Rate": progress.Bytes(int64(rate)), "ETA": eta.String()})
}

func phaseStateText(s PhaseState) string {
	switch s {
	case PhaseRunning:
		return lang.X("phasestate.running", "running…")
	case PhaseDone:
		return lang.X("phasestate.done", "done")
	case PhaseSkipped:
		return lang.X("phasestate.skipped", "already done")
	case PhaseFailed:
		return lang.X("phasestate.failed", "failed")
	case PhaseNotNeeded:
		return lang.X("phasestate.notneeded", "not needed")
	}
	return lang.X("phasestate.pending", "waiting")
}
