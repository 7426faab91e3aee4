package hosttest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/transfer"
)

// Fake is a scripted host. The zero value is not usable: call New.
type Fake struct {
	name string
	// Root is the local directory that stands for the host's "/".
	Root string
	// NotRoot makes the fake behave as a non-root login (uploads go through staging and sudo).
	NotRoot bool
	// Handler answers commands not found in Responses; nil means "exit 127".
	Handler func(c host.Cmd) (host.Result, error)
	// CutAfter, if > 0, makes writes fail once this many bytes were written in one upload (a cut link).
	CutAfter int64
	// FlipAt, if > 0, corrupts the byte written at this file offset (a bad disk or a tampering host).
	FlipAt int64

	written atomic.Int64 // bytes written by uploads, for CutAfter

	mu        sync.Mutex
	responses map[string]host.Result
	cmds      []host.Cmd
}

var _ host.Host = (*Fake)(nil)
var _ transfer.Target = (*Fake)(nil)

// New returns a fake host named name whose filesystem lives under a fresh directory root.
func New(name, root string) *Fake {
	return &Fake{name: name, Root: root, responses: map[string]host.Result{}}
}

// Respond scripts the result of an exact command line.
func (f *Fake) Respond(line, stdout string, exit int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.responses[line] = host.Result{Stdout: []byte(stdout), ExitCode: exit}
}

// Cmds returns the commands run so far.
func (f *Fake) Cmds() []host.Cmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]host.Cmd(nil), f.cmds...)
}

func (f *Fake) Name() string { return f.name }
func (f *Fake) IsRoot() bool { return !f.NotRoot }

func (f *Fake) Run(ctx context.Context, c host.Cmd) (host.Result, error) {
	if err := ctx.Err(); err != nil {
		return host.Result{}, err
	}
	f.mu.Lock()
	f.cmds = append(f.cmds, c)
	r, ok := f.responses[c.Line]
	h := f.Handler
	f.mu.Unlock()
	var err error
	switch {
	case ok:
	case h != nil:
		r, err = h(c)
		if err != nil {
			return r, err
		}
	default:
		r = host.Result{ExitCode: 127, Stderr: []byte("fake: no scripted response")}
	}
	if r.ExitCode != 0 {
		return r, &host.ExitError{Host: f.name, Line: host.Redact(c.Line, c.Redact), ExitCode: r.ExitCode, Stderr: string(r.Stderr)}
	}
	return r, nil
}

func (f *Fake) local(p string) string {
	if !filepath.IsAbs(p) {
		p = "/home/user/" + p
	}
	return filepath.Join(f.Root, filepath.FromSlash(p))
}

func (f *Fake) Stat(ctx context.Context, p string) (fs.FileInfo, error) { return os.Stat(f.local(p)) }

func (f *Fake) RemoteSha256(ctx context.Context, p string, _ bool) (string, error) {
	b, err := os.ReadFile(f.local(p))
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

func (f *Fake) ReadFile(ctx context.Context, p string) ([]byte, error) {
	return os.ReadFile(f.local(p))
}

func (f *Fake) Upload(ctx context.Context, src, dst string, o host.UploadOptions) (host.UploadResult, error) {
	return transfer.Upload(ctx, f, src, dst, o)
}

func (f *Fake) RemoteSha256Range(ctx context.Context, p string, off, n int64) (string, error) {
	fl, err := os.Open(f.local(p))
	if err != nil {
		return "", err
	}
	defer fl.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(fl, off, n)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var _ transfer.StreamHasher = (*Fake)(nil)

// RemoteSha256Stream hashes the ranges of p in the order they arrive, as the ssh host's shell does.
func (f *Fake) RemoteSha256Stream(ctx context.Context, p string, ranges <-chan transfer.Range) (string, error) {
	h := sha256.New()
	var err error
	for r := range ranges {
		if err != nil || ctx.Err() != nil {
			continue // drain, as the ssh host does
		}
		var fl *os.File
		if fl, err = os.Open(f.local(p)); err == nil {
			_, err = io.Copy(h, io.NewSectionReader(fl, r.Off, r.N))
			fl.Close()
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (f *Fake) Sha256(ctx context.Context, p string) (string, error) {
	return f.RemoteSha256(ctx, p, true)
}

func (f *Fake) OpenFS(ctx context.Context) (transfer.FS, error) {
	return &localFS{f: f, written: &f.written}, nil
}

// ErrCut is what writes return after CutAfter bytes.
var ErrCut = errors.New("fake: connection cut")

type localFS struct {
	f       *Fake
	written *atomic.Int64
}

func (l *localFS) Stat(p string) (fs.FileInfo, error) { return os.Stat(l.f.local(p)) }
func (l *localFS) OpenFile(p string, flag int) (transfer.File, error) {
	of, err := os.OpenFile(l.f.local(p), flag, 0o600)
	if err != nil {
		return nil, err
	}
	return &cutFile{File: of, fs: l}, nil
}
func (l *localFS) Rename(a, b string) error            { return os.Rename(l.f.local(a), l.f.local(b)) }
func (l *localFS) Remove(p string) error               { return os.Remove(l.f.local(p)) }
func (l *localFS) MkdirAll(p string) error             { return os.MkdirAll(l.f.local(p), 0o755) }
func (l *localFS) Chmod(p string, m fs.FileMode) error { return os.Chmod(l.f.local(p), m) }
func (l *localFS) Close() error                        { return nil }

type cutFile struct {
	*os.File
	fs *localFS
}

func (c *cutFile) Write(p []byte) (int, error) {
	if lim := c.fs.f.CutAfter; lim > 0 {
		if c.fs.written.Load()+int64(len(p)) > lim {
			n := lim - c.fs.written.Load()
			if n > 0 {
				m, _ := c.File.Write(p[:n])
				c.fs.written.Add(int64(m))
			}
			return int(max(n, 0)), ErrCut
		}
	}
	if at := c.fs.f.FlipAt; at > 0 {
		if pos, err := c.File.Seek(0, io.SeekCurrent); err == nil && at >= pos && at < pos+int64(len(p)) {
			p = append([]byte(nil), p...)
			p[at-pos] ^= 0xff
		}
	}
	n, err := c.File.Write(p)
	c.fs.written.Add(int64(n))
	return n, err
}

// ReadFrom goes through Write so CutAfter applies (os.File's own ReadFrom would bypass it).
func (c *cutFile) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{c}, r)
}

// Handlers builds a Handler from command-prefix rules, for scripts too varied for exact lines.
func Handlers(rules map[string]string) func(c host.Cmd) (host.Result, error) {
	return func(c host.Cmd) (host.Result, error) {
		for pre, out := range rules {
			if strings.HasPrefix(c.Line, pre) {
				return host.Result{Stdout: []byte(out)}, nil
			}
		}
		return host.Result{ExitCode: 127, Stderr: []byte(fmt.Sprintf("fake: no rule for %q", c.Line))}, nil
	}
}
