package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// bundleSubcommands lists constructors of `ferryctl bundle` subcommands (build, inspect, verify). Each
// verb's file registers itself with addBundleCommand in its init, so verbs never edit this file.
var bundleSubcommands []func() *cobra.Command

func addBundleCommand(c func() *cobra.Command) { bundleSubcommands = append(bundleSubcommands, c) }

func init() { addCommand(newBundleCmd) }

func newBundleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Build, inspect and verify Ferry bundles",
	}
	for _, c := range bundleSubcommands {
		cmd.AddCommand(c())
	}
	return cmd
}

// stderrProgress returns a progress sink that prints one line per phase update with bytes, rate and ETA,
// at most every interval (and always the final event of a phase). Call stop to flush the last line.
// Shared by the bundle verbs; it is safe for concurrent Emit calls.
func stderrProgress(w io.Writer, interval time.Duration) (sink progress.Sink, stop func()) {
	var mu sync.Mutex
	var last time.Time
	var start time.Time
	phase := ""
	var pending *progress.Event
	print := func(e progress.Event) {
		elapsed := e.Time.Sub(start).Seconds()
		line := fmt.Sprintf("%s: %s", e.Phase, progress.Bytes(e.Done))
		if e.Total > 0 {
			line += fmt.Sprintf(" / %s (%.0f%%)", progress.Bytes(e.Total), 100*float64(e.Done)/float64(e.Total))
		}
		if elapsed > 0.2 && e.Done > 0 {
			rate := float64(e.Done) / elapsed
			line += fmt.Sprintf(", %s/s", progress.Bytes(int64(rate)))
			if e.Total > e.Done {
				line += fmt.Sprintf(", ETA %s", (time.Duration(float64(e.Total-e.Done)/rate) * time.Second).Round(time.Second))
			}
		}
		if e.Err != nil {
			line += " - failed"
		}
		fmt.Fprintln(w, line)
	}
	sink = func(e progress.Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		if e.Phase != phase {
			phase, start, last = e.Phase, e.Time, time.Time{}
		}
		final := e.Total > 0 && e.Done >= e.Total || e.Err != nil
		if final || e.Time.Sub(last) >= interval {
			print(e)
			last, pending = e.Time, nil
			return
		}
		pending = &e
	}
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if pending != nil {
			print(*pending)
			pending = nil
		}
	}
	return sink, stop
}
