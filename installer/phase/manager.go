package phase

import (
	"context"
	"fmt"
	"sync"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Phase is one step of an operation. Its Title is what people read (the CLI's "==> Title" lines, the
// events' Phase field, error messages); its ID is a stable name for programs (the wizard translates step
// titles by it), unique within an operation, and kept when the Title is reworded.
type Phase interface {
	ID() string
	Title() string
	Run(ctx context.Context) error
}

// Preparer phases set themselves up before any phase runs (e.g. pick the hosts they act on); an error
// stops the operation before anything happened on a host.
type Preparer interface{ Prepare(m *Manager) error }

// Conditional phases may have nothing to do (e.g. no agents to join). ShouldRun is asked once, after every
// Prepare and before the first phase runs, so the answer must follow from the operation's input; a phase
// that needs its predecessors' results to decide does so in Run.
type Conditional interface{ ShouldRun() bool }

// DryRunner phases describe their effect (through Manager.Wet) instead of running.
type DryRunner interface {
	DryRun(ctx context.Context) error
}

// Cleaner phases undo or tidy their partial work when the operation fails or is cancelled.
type Cleaner interface{ CleanUp() }

// Manager runs phases in order.
type Manager struct {
	// Sink receives a start and an end event per phase; phases may emit per-host events through Emit.
	Sink progress.Sink
	// DryRun records what would happen instead of doing it.
	DryRun bool

	phases []Phase

	mu  sync.Mutex
	dry []DryStep
	cur string
	// emitMu serialises deliveries: phases report from one goroutine per host, and a sink (a CLI
	// printer, a test's slice) should not have to be safe for concurrent use.
	emitMu sync.Mutex
}

// DryStep is one thing a dry run would have done.
type DryStep struct {
	Phase string
	Host  string
	Msg   string
}

// Add appends phases.
func (m *Manager) Add(p ...Phase) { m.phases = append(m.phases, p...) }

// Step names one phase: its stable ID and its Title.
type Step struct {
	ID    string
	Title string
}

// Steps lists the phases, in order (the wizard's step list).
func (m *Manager) Steps() []Step {
	s := make([]Step, len(m.phases))
	for i, p := range m.phases {
		s[i] = Step{ID: p.ID(), Title: p.Title()}
	}
	return s
}

// Titles lists the phases' titles, in order.
func (m *Manager) Titles() []string {
	t := make([]string, len(m.phases))
	for i, p := range m.phases {
		t[i] = p.Title()
	}
	return t
}

// Run prepares every phase, then runs them in order. It stops at the first error or when ctx ends, and
// then cleans up every phase that started, newest first.
func (m *Manager) Run(ctx context.Context) (err error) {
	for _, p := range m.phases {
		if pp, ok := p.(Preparer); ok {
			if err := pp.Prepare(m); err != nil {
				return fmt.Errorf("preparing %q: %w", p.Title(), err)
			}
		}
	}
	// Phases with nothing to do are reported before anything runs (progress.MsgNotNeeded), so a step list
	// shows them as not needed from the start rather than waiting until the end.
	skip := map[int]bool{}
	for i, p := range m.phases {
		if c, ok := p.(Conditional); ok && !c.ShouldRun() {
			skip[i] = true
			m.Emit(progress.Event{Phase: p.Title(), Msg: progress.MsgNotNeeded})
		}
	}
	var started []Phase
	defer func() {
		if err == nil {
			return
		}
		for i := len(started) - 1; i >= 0; i-- {
			if c, ok := started[i].(Cleaner); ok {
				c.CleanUp()
			}
		}
	}()
	for i, p := range m.phases {
		if err := ctx.Err(); err != nil {
			return err
		}
		if skip[i] {
			continue
		}
		title := p.Title()
		m.mu.Lock()
		m.cur = title
		m.mu.Unlock()
		m.Emit(progress.Event{Phase: title, Msg: progress.MsgStarted})
		started = append(started, p)
		if m.DryRun {
			if d, ok := p.(DryRunner); ok {
				err = d.DryRun(ctx)
			} else {
				err = p.Run(ctx)
			}
		} else {
			err = p.Run(ctx)
		}
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err != nil {
			m.Emit(progress.Event{Phase: title, Msg: progress.MsgFailed, Err: err})
			return err
		}
		m.Emit(progress.Event{Phase: title, Msg: progress.MsgDone})
	}
	return nil
}

// Emit sends an event stamped with the current phase. Safe for concurrent use; deliveries are
// serialised.
func (m *Manager) Emit(e progress.Event) {
	if m.Sink == nil {
		return
	}
	if e.Phase == "" {
		m.mu.Lock()
		e.Phase = m.cur
		m.mu.Unlock()
	}
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	m.Sink.Emit(e)
}

// Wet runs fn, or in a dry run records msg for host instead (k0sctl's Wet).
func (m *Manager) Wet(host, msg string, fn func() error) error {
	if m.DryRun {
		m.Record(host, msg)
		return nil
	}
	return fn()
}

// Record adds a dry-run step for host in the current phase.
func (m *Manager) Record(host, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dry = append(m.dry, DryStep{Phase: m.cur, Host: host, Msg: msg})
}

// DrySteps returns what the dry run recorded, in order.
func (m *Manager) DrySteps() []DryStep {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]DryStep(nil), m.dry...)
}
