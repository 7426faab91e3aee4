package progress

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestNilSinkDiscards(t *testing.T) {
	var s Sink
	s.Emit(Event{Msg: "ignored"}) // must not panic
}

func TestEmitStampsTime(t *testing.T) {
	var got Event
	Sink(func(e Event) { got = e }).Emit(Event{Msg: "x"})
	if got.Time.IsZero() {
		t.Fatal("Emit did not stamp the event time")
	}
}

func TestNonBlockingDropsWhenFullButKeepsErrors(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []Event
	slow := func(e Event) {
		<-release
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}
	sink, stop := NonBlocking(slow, 2)
	start := time.Now()
	for i := 0; i < 1000; i++ {
		sink(Event{Done: int64(i)})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a slow listener stalled the sender for %v", d)
	}
	failure := errors.New("boom")
	go func() { close(release) }()
	sink(Event{Err: failure})
	stop()
	if len(got) >= 1000 {
		t.Fatalf("expected drops with a full buffer, got all %d events", len(got))
	}
	if last := got[len(got)-1]; !errors.Is(last.Err, failure) {
		t.Fatalf("the error event was lost: last event %+v", last)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
