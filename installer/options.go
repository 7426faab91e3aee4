package installer

import (
	"context"
	"io/fs"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// Options are common to every operation on a site.
type Options struct {
	// AcceptHostKeys lists SHA256 fingerprints the user accepted for hosts seen for the first time.
	AcceptHostKeys []string
	// Prompt asks the user for a secret (passwordPrompt hosts, encrypted keys without passphraseEnv).
	// nil means prompting is impossible: such hosts fail with a clear error.
	Prompt func(label string) ([]byte, error)
	// Progress receives phase and host events.
	Progress progress.Sink
	// DryRun records what would be done on each host instead of doing it.
	DryRun bool
	// Parallel bounds how many hosts are worked on at once (5 if zero).
	Parallel int
	// Getenv reads environment variables named in the site file (os.Getenv if nil).
	Getenv func(string) string
	// Dial connects to one host; nil means SSH. Tests inject fake hosts here.
	Dial func(ctx context.Context, h site.Host, cfg ssh.Config) (host.Host, error)
	// Now is the laptop clock (time.Now if nil).
	Now func() time.Time
}

func (o *Options) parallel() int {
	if o.Parallel <= 0 {
		return 5
	}
	return o.Parallel
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func modeOf(m uint32) fs.FileMode { return fs.FileMode(m) }
