package packaging

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// emitEvery throttles byte-count events: transfers read in 32 KiB chunks, far more often than anyone can
// watch.
const emitEvery = 100 * time.Millisecond

// progressReader counts bytes through r, reports them to sink (throttled) and stops at cancellation.
type progressReader struct {
	ctx         context.Context
	r           io.Reader
	sink        progress.Sink
	phase, msg  string
	done, total int64
	last        time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.done += int64(n)
	if now := time.Now(); err != nil || now.Sub(p.last) >= emitEvery {
		p.last = now
		total := p.total
		if total < 0 {
			total = 0
		}
		p.sink.Emit(progress.Event{Phase: p.phase, Msg: p.msg, Done: p.done, Total: total})
	}
	return n, err
}

// byteMeter aggregates bytes copied by concurrent transfers into one throttled event stream, so the
// listener sees one total for the whole phase.
type byteMeter struct {
	sink  progress.Sink
	phase string
	total int64
	done  atomic.Int64

	mu   sync.Mutex
	last time.Time
	msg  string
}

func (m *byteMeter) add(n int64, msg string) {
	done := m.done.Add(n)
	m.mu.Lock()
	if msg != "" {
		m.msg = msg
	}
	now := time.Now()
	if now.Sub(m.last) < emitEvery {
		m.mu.Unlock()
		return
	}
	m.last = now
	msg = m.msg
	m.mu.Unlock()
	m.sink.Emit(progress.Event{Phase: m.phase, Msg: msg, Done: done, Total: m.total})
}

// flush reports the final count regardless of the throttle.
func (m *byteMeter) flush(msg string) {
	m.sink.Emit(progress.Event{Phase: m.phase, Msg: msg, Done: m.done.Load(), Total: m.total})
}

// meterWriter feeds a byteMeter and stops writing once ctx is cancelled.
type meterWriter struct {
	ctx context.Context
	w   io.Writer
	m   *byteMeter
	msg string
}

func (w *meterWriter) Write(b []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(b)
	w.m.add(int64(n), w.msg)
	return n, err
}
