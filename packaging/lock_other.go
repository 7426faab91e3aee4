//go:build !unix

package packaging

import "errors"

// ErrBuildRunning is returned when another build holds the work directory.
var ErrBuildRunning = errors.New("another build of this app is running")

// lockDir does nothing where flock is unavailable: concurrent builds of one app must be avoided by hand.
func lockDir(string) (func(), error) { return func() {}, nil }
