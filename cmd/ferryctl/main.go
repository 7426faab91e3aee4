// Command ferryctl drives Ferry's engine from a terminal: building and checking bundles on a build
// machine, and installing, upgrading and rolling back sites for automation. Each subcommand is a thin
// wrapper around one engine call.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "ferryctl: cancelled")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "ferryctl:", err)
		os.Exit(1)
	}
}
