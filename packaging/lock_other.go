//go:build !unix

package packaging

import (
	"context"
	"errors"
)

// ErrBuildRunning is returned when another build holds the work directory.
var ErrBuildRunning = errors.New("another build of this app is running")

// lockDir does nothing where flock is unavailable: concurrent builds sharing a work directory must be
// avoided by hand there.
func lockDir(context.Context, string, bool) (func(), error) { return func() {}, nil }
