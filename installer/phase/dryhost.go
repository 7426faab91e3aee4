package phase

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/ferry-delivery/ferry/installer/host"
)

// DryHost wraps a Host for a dry run: read-only commands run (facts must be real for the plan to be
// real), every other command and every upload is recorded in the Manager instead. A site's reviewer gets
// the exact list of commands Ferry would run on each host.
type DryHost struct {
	host.Host
	M *Manager
}

var _ host.Host = DryHost{}

// Run runs c if it is read-only, and otherwise records it.
func (d DryHost) Run(ctx context.Context, c host.Cmd) (host.Result, error) {
	if c.ReadOnly {
		return d.Host.Run(ctx, c)
	}
	line := host.Redact(c.Line, c.Redact)
	if c.Sudo {
		line = "sudo " + line
	}
	d.M.Record(d.Name(), "run: "+line)
	return host.Result{}, nil
}

// Upload records the upload.
func (d DryHost) Upload(ctx context.Context, src, dst string, o host.UploadOptions) (host.UploadResult, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return host.UploadResult{}, err
	}
	mode := o.Mode
	if mode == 0 {
		mode = 0o644
	}
	d.M.Record(d.Name(), fmt.Sprintf("upload: %s (%d bytes) -> %s mode %04o, verified by sha256", src, fi.Size(), dst, mode.Perm()))
	return host.UploadResult{Size: fi.Size()}, nil
}

// Stat, Sha256 and ReadFile only read, so they pass through.
func (d DryHost) Stat(ctx context.Context, p string) (fs.FileInfo, error) { return d.Host.Stat(ctx, p) }
