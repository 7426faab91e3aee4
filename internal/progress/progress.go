// Package progress carries the one event type every long engine operation reports through. Engines take a
// Sink; the CLI prints events, the wizard draws them. A Sink must be cheap: engines call it from transfer
// loops, so a slow listener should be wrapped with NonBlocking.
package progress

import (
	"fmt"
	"time"
)

// Event is one progress report. Done and Total count bytes (or items) of the current unit of work; Total
// is zero when unknown. Err is set on the final event of a unit that failed.
type Event struct {
	Phase string
	Host  string
	Msg   string
	Done  int64
	Total int64
	Err   error
	Time  time.Time
}

// MsgNotNeeded is the Msg of the one event an engine sends for a phase that has nothing to do on this
// run (no other server to join on a one-server site, a chart small enough to go inline), as soon as it
// knows, so a step list can say so instead of leaving the phase waiting.
const MsgNotNeeded = "skipped: nothing to do"

// The Msg of a phase's own start and end events (no Host): a phase runner sends MsgStarted when a phase
// begins and MsgDone or MsgFailed (with Err) when it ends, so a listener can tell them from the phase's
// free-form news and word them itself (the wizard shows them in the chosen language).
const (
	MsgStarted = "started"
	MsgDone    = "done"
	MsgFailed  = "failed"
)

// Sink receives events. A nil Sink is valid and discards everything.
type Sink func(Event)

// Emit delivers e to s, stamping the time; a nil sink drops it.
func (s Sink) Emit(e Event) {
	if s == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s(e)
}

// NonBlocking returns a Sink that hands events to fn on its own goroutine through a buffer of n events and
// drops events when the buffer is full, so a slow listener never stalls a transfer. Events with an Err are
// never dropped. The returned stop function drains the buffer and waits for fn to return.
func NonBlocking(fn Sink, n int) (Sink, func()) {
	ch := make(chan Event, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			fn(e)
		}
	}()
	sink := func(e Event) {
		if e.Err != nil {
			ch <- e
			return
		}
		select {
		case ch <- e:
		default:
		}
	}
	return sink, func() { close(ch); <-done }
}

// Bytes formats n in binary units ("1.5 GiB"), the one way progress lines and tables show sizes.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
