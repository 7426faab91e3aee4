package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Byte progress reaches the terminal (scripts and the kill scenario read it), at most once a second per
// node and file between its first and last line; plain messages always; a step with nothing to do says
// so in words, under its [phase] prefix like every other line.
func TestPhaseSinkPrintsByteProgress(t *testing.T) {
	var b bytes.Buffer
	sink := phaseSink(&b)
	sink(progress.Event{Phase: "images", Host: "n1", Msg: "landing 3 blob(s)", Total: 300})
	sink(progress.Event{Phase: "images", Host: "n1", Msg: "abc.tar: 10.0 MiB/s, ETA 0s", Done: 10, Total: 310})
	sink(progress.Event{Phase: "images", Host: "n1", Msg: "abc.tar: 10.0 MiB/s, ETA 0s", Done: 20, Total: 310}) // within the second: dropped
	sink(progress.Event{Phase: "images", Host: "n2", Msg: "abc.tar: 10.0 MiB/s, ETA 0s", Done: 20, Total: 310}) // other node: printed
	sink(progress.Event{Phase: "images", Host: "n1", Msg: "uploaded abc.tar", Done: 310, Total: 310})
	sink(progress.Event{Phase: "chart", Msg: progress.MsgNotNeeded})
	sink(progress.Event{Phase: "apply", Msg: "applying shop 2.0.0"})
	want := strings.Join([]string{
		"[images] n1: landing 3 blob(s) (300 bytes)",
		"[images] n1: abc.tar: 10.0 MiB/s, ETA 0s (10/310 bytes)",
		"[images] n2: abc.tar: 10.0 MiB/s, ETA 0s (20/310 bytes)",
		"[images] n1: uploaded abc.tar (310/310 bytes)",
		"[chart] not needed",
		"[apply] applying shop 2.0.0",
	}, "\n") + "\n"
	if b.String() != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", b.String(), want)
	}
}

// The installer's lines: a phase's start, and a phase with nothing to do on this site said in words.
func TestPrintEventsSaysNotNeeded(t *testing.T) {
	var b bytes.Buffer
	sink := printEvents(&b, false)
	sink(progress.Event{Phase: "Join the other servers", Msg: progress.MsgNotNeeded})
	sink(progress.Event{Phase: "Connect to hosts", Msg: progress.MsgStarted})
	sink(progress.Event{Phase: "Connect to hosts", Host: "cp1", Msg: "connected"}) // not verbose: not printed
	sink(progress.Event{Phase: "Connect to hosts", Msg: progress.MsgDone})
	want := "==> Join the other servers: not needed\n==> Connect to hosts\n"
	if b.String() != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", b.String(), want)
	}
}
