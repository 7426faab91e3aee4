package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/ferry-delivery/ferry/installer/audit"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/transfer"
	"github.com/pkg/sftp"
)

var _ transfer.Target = (*Host)(nil)

// SFTP tuning: OpenSSH's sftp-server accepts messages up to 256 KiB including headers and advertises a
// write length of 255 KiB (limits@openssh.com); 252 KiB keeps writes page-aligned. Large packets and many
// requests in flight keep a loopback or LAN link full.
const (
	sftpPacket     = 252 << 10
	sftpConcurrent = 64
)

// OpenFS opens an SFTP session for one transfer; ending ctx closes it, which unblocks pending writes
// so a cancel takes effect within a round trip.
func (h *Host) OpenFS(ctx context.Context) (transfer.FS, error) {
	for attempt := 0; ; attempt++ {
		c, err := h.getClient(ctx)
		if err != nil {
			return nil, err
		}
		sc, err := sftp.NewClient(c, sftp.UseConcurrentWrites(true), sftp.MaxPacketUnchecked(sftpPacket), sftp.MaxConcurrentRequestsPerFile(sftpConcurrent))
		if err == nil {
			// One round trip proves the connection is alive: a link cut a moment ago may not have been
			// noticed yet, and a transfer should start on a fresh one rather than fail on the first write.
			if _, err = sc.Getwd(); err != nil {
				sc.Close()
			}
		}
		if err != nil {
			if attempt == 0 && ctx.Err() == nil {
				h.discard(c)
				continue
			}
			return nil, fmt.Errorf("starting sftp on %s: %w", h.cfg.Name, err)
		}
		stop := context.AfterFunc(ctx, func() { sc.Close() })
		return &sftpFS{c: sc, stop: stop}, nil
	}
}

type sftpFS struct {
	c    *sftp.Client
	stop func() bool
}

func (s *sftpFS) Stat(p string) (fs.FileInfo, error) { return s.c.Stat(p) }
func (s *sftpFS) OpenFile(p string, flag int) (transfer.File, error) {
	f, err := s.c.OpenFile(p, flag)
	if err != nil {
		return nil, err
	}
	return f, nil
}
func (s *sftpFS) Rename(a, b string) error            { return s.c.PosixRename(a, b) }
func (s *sftpFS) Remove(p string) error               { return s.c.Remove(p) }
func (s *sftpFS) MkdirAll(p string) error             { return s.c.MkdirAll(p) }
func (s *sftpFS) Chmod(p string, m fs.FileMode) error { return s.c.Chmod(p, m) }
func (s *sftpFS) Close() error                        { s.stop(); return s.c.Close() }

// Stat stats a remote path over SFTP as the login user.
func (h *Host) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	f, err := h.OpenFS(ctx)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat(p)
	if err != nil && isNotExist(err) {
		return nil, fmt.Errorf("stat %s on %s: %w", p, h.cfg.Name, fs.ErrNotExist)
	}
	return fi, err
}

func isNotExist(err error) bool {
	if os.IsNotExist(err) {
		return true
	}
	se, ok := err.(*sftp.StatusError)
	return ok && se.FxCode() == sftp.ErrSSHFxNoSuchFile
}

// Sha256 hashes a remote file on the host, with root rights.
func (h *Host) Sha256(ctx context.Context, p string) (string, error) {
	return h.RemoteSha256(ctx, p, true)
}

// RemoteSha256 hashes a remote file on the host, as root if sudo.
func (h *Host) RemoteSha256(ctx context.Context, p string, sudo bool) (string, error) {
	res, err := h.Run(ctx, host.Cmd{Line: host.Sha256Line(p), Sudo: sudo, ReadOnly: true})
	if err != nil {
		return "", err
	}
	return host.ParseSha256sum(res.Stdout)
}

// RemoteSha256Range hashes part of a file the login user can read.
func (h *Host) RemoteSha256Range(ctx context.Context, p string, off, n int64) (string, error) {
	res, err := h.Run(ctx, host.Cmd{Line: host.Sha256RangeLine(p, off, n), ReadOnly: true})
	if err != nil {
		return "", err
	}
	return host.ParseSha256sum(res.Stdout)
}

var _ transfer.StreamHasher = (*Host)(nil)

// RemoteSha256Stream hashes file p on the host while it is still being written: one shell reads the
// ranges fed on its stdin, in order, into one openssl (see transfer.Sha256StreamLine).
func (h *Host) RemoteSha256Stream(ctx context.Context, p string, ranges <-chan transfer.Range) (string, error) {
	pr, pw := io.Pipe()
	go func() {
		// Drains ranges even after the command ended (writes then fail at once), so the sender never
		// blocks; closing ranges ends the command's input.
		const mib = 1 << 20
		for r := range ranges {
			fmt.Fprintf(pw, "%d %d\n", r.Off/mib, (r.N+mib-1)/mib)
		}
		pw.Close()
	}()
	// A command that ended early (or a cancel) must not leave the session's stdin copier waiting.
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	defer stop()
	res, err := h.Run(ctx, host.Cmd{Line: transfer.Sha256StreamLine(p), Stdin: pr, ReadOnly: true})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return "", err
	}
	return host.ParseSha256sum(res.Stdout)
}

// ReadFile reads a remote file with root rights (k3s.yaml and the token are root-only).
func (h *Host) ReadFile(ctx context.Context, p string) ([]byte, error) {
	// Exit 66 (sysexits' EX_NOINPUT) tells a missing file apart from a failed read, in any locale.
	q := host.Quote(p)
	res, err := h.Run(ctx, host.Cmd{Line: "[ -e " + q + " ] || exit 66; cat -- " + q, Sudo: true, ReadOnly: true})
	if xe := (*host.ExitError)(nil); errors.As(err, &xe) && xe.ExitCode == 66 {
		return nil, fmt.Errorf("reading %s on %s: %w", p, h.cfg.Name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	return res.Stdout, nil
}

// Upload sends src to dst with verification and resume (see package transfer) and audits it.
func (h *Host) Upload(ctx context.Context, src, dst string, opts host.UploadOptions) (host.UploadResult, error) {
	start := time.Now()
	res, err := transfer.Upload(ctx, h, src, dst, opts)
	e := audit.Entry{Host: h.cfg.Name, User: h.cfg.User, Kind: "upload", Cmd: src + " -> " + dst, Bytes: res.Sent, DurationMs: time.Since(start).Milliseconds()}
	if err != nil {
		e.ExitCode, e.Err = -1, err.Error()
	}
	if aerr := h.cfg.Audit.Record(e); aerr != nil && err == nil {
		err = aerr
	}
	return res, err
}
