package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// ErrChecksumMismatch means the bytes on the host are not the bytes that were sent (or the local file
// does not match the hash the bundle promised).
var ErrChecksumMismatch = errors.New("checksum mismatch")

// ResumeMargin is how far before the end of a partial temporary file a resumed upload starts again.
// Concurrent SFTP writes complete out of order, so the last bytes of a file cut mid-transfer may hide holes;
// pkg/sftp keeps at most 64 x 32 KiB in flight, so 8 MiB is well past any hole. The final hash still decides.
const ResumeMargin = 8 << 20

// File is a remote file open for writing.
type File interface {
	io.Writer
	io.Seeker
	io.Closer
	io.ReaderFrom
	Truncate(size int64) error
}

// FS is the remote filesystem as the login user sees it. Relative paths are relative to the login
// user's home directory.
type FS interface {
	Stat(p string) (fs.FileInfo, error)
	OpenFile(p string, flag int) (File, error)
	// Rename atomically replaces newpath (POSIX rename semantics).
	Rename(oldpath, newpath string) error
	Remove(p string) error
	MkdirAll(p string) error
	Chmod(p string, mode fs.FileMode) error
	Close() error
}

// Target is a host that can receive files.
type Target interface {
	Name() string
	// OpenFS opens the remote filesystem for one upload. It should unblock pending I/O when ctx ends.
	OpenFS(ctx context.Context) (FS, error)
	// Run runs a command (used for sudo moves and root-side hashes).
	Run(ctx context.Context, c host.Cmd) (host.Result, error)
	// Sha256 hashes a remote file on the host; sudo selects root privileges (for root-owned targets).
	RemoteSha256(ctx context.Context, p string, sudo bool) (string, error)
	// IsRoot reports whether the login user is root (no staging, no sudo needed).
	IsRoot() bool
}

// StagingDir is where non-root uploads land before `sudo mv` places them; relative to the login user's
// home so the user can always write there.
const StagingDir = ".ferry/staging"

// Upload copies local file src to dst on t. See the package doc for the protocol.
func Upload(ctx context.Context, t Target, src, dst string, opts host.UploadOptions) (host.UploadResult, error) {
	res, err := upload(ctx, t, src, dst, opts, true)
	if err != nil {
		return res, fmt.Errorf("uploading %s to %s:%s: %w", path.Base(src), t.Name(), dst, err)
	}
	return res, nil
}

func upload(ctx context.Context, t Target, src, dst string, opts host.UploadOptions, allowResume bool) (host.UploadResult, error) {
	var res host.UploadResult
	if opts.Mode == 0 {
		opts.Mode = 0o644
	}
	lf, err := os.Open(src)
	if err != nil {
		return res, err
	}
	defer lf.Close()
	st, err := lf.Stat()
	if err != nil {
		return res, err
	}
	size := st.Size()
	res.Size = size
	if !path.IsAbs(dst) {
		return res, fmt.Errorf("target path %q must be absolute", dst)
	}

	rfs, err := t.OpenFS(ctx)
	if err != nil {
		return res, err
	}
	defer rfs.Close()

	root := t.IsRoot()
	// Skip when the target already holds the right bytes. Size first: hashing is the expensive part.
	if remoteSize(ctx, t, rfs, dst, root) == size {
		want := opts.Sha256
		if want == "" {
			if want, err = hashFile(ctx, lf, size); err != nil {
				return res, err
			}
		}
		got, err := t.RemoteSha256(ctx, dst, !root)
		if err == nil && got == want {
			res.Skipped, res.Sha256 = true, got
			opts.Progress.Emit(progress.Event{Phase: opts.Phase, Host: t.Name(), Msg: "already present: " + path.Base(dst), Done: size, Total: size})
			return res, nil
		}
	}

	tmp := path.Join(path.Dir(dst), "."+path.Base(dst)+".ferry-part")
	if !root {
		tmp = path.Join(StagingDir, stagingName(dst))
	}
	if err := rfs.MkdirAll(path.Dir(tmp)); err != nil {
		return res, fmt.Errorf("creating %s: %w", path.Dir(tmp), err)
	}

	var offset int64
	if allowResume {
		if fi, err := rfs.Stat(tmp); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && fi.Size() <= size {
			offset = max(0, fi.Size()-ResumeMargin)
		}
	}
	h := sha256.New()
	if offset > 0 {
		// Trust nothing on the host: the local prefix is hashed here and the final host-side hash decides.
		if _, err := io.Copy(h, io.NewSectionReader(lf, 0, offset)); err != nil {
			return res, err
		}
		res.Resumed = true
	}
	rf, err := rfs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE)
	if err != nil {
		return res, fmt.Errorf("opening %s: %w", tmp, err)
	}
	if err := rf.Truncate(offset); err != nil {
		rf.Close()
		return res, fmt.Errorf("truncating %s: %w", tmp, err)
	}
	if _, err := rf.Seek(offset, io.SeekStart); err != nil {
		rf.Close()
		return res, err
	}
	r := &sendReader{ctx: ctx, r: io.NewSectionReader(lf, offset, size-offset), h: h, remain: size - offset,
		sink: opts.Progress, phase: opts.Phase, host: t.Name(), name: path.Base(dst), base: offset, total: size, start: time.Now()}
	n, werr := rf.ReadFrom(r)
	cerr := rf.Close()
	res.Sent = n
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if werr != nil {
		return res, werr
	}
	if cerr != nil {
		return res, cerr
	}
	if offset+n != size {
		return res, fmt.Errorf("sent %d of %d bytes: local file changed during upload?", offset+n, size)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if opts.Sha256 != "" && sum != opts.Sha256 {
		return res, fmt.Errorf("local file %s has sha256 %s, bundle says %s: %w", src, sum, opts.Sha256, ErrChecksumMismatch)
	}
	got, err := t.RemoteSha256(ctx, tmp, false)
	if err != nil {
		return res, fmt.Errorf("hashing %s on host: %w", tmp, err)
	}
	if got != sum {
		_ = rfs.Remove(tmp)
		if res.Resumed {
			// The partial file had a hole or was altered: start over once, from zero.
			again, err := upload(ctx, t, src, dst, opts, false)
			again.Sent += res.Sent
			return again, err
		}
		return res, fmt.Errorf("host has sha256 %s, sent %s: %w", got, sum, ErrChecksumMismatch)
	}
	res.Sha256 = sum
	if root {
		if err := rfs.Chmod(tmp, opts.Mode); err != nil {
			return res, fmt.Errorf("setting mode of %s: %w", tmp, err)
		}
		if err := rfs.Rename(tmp, dst); err != nil {
			return res, fmt.Errorf("renaming %s into place: %w", tmp, err)
		}
	} else if err := sudoPlace(ctx, t, tmp, dst, opts.Mode); err != nil {
		return res, err
	}
	opts.Progress.Emit(progress.Event{Phase: opts.Phase, Host: t.Name(), Msg: "uploaded " + path.Base(dst), Done: size, Total: size})
	return res, nil
}

// sudoPlace moves a verified staging file into a root-owned place. The first mv may copy across
// filesystems, so it lands on a temporary name beside the target; the second is a same-directory
// rename, which is atomic.
func sudoPlace(ctx context.Context, t Target, staged, dst string, mode fs.FileMode) error {
	part := path.Join(path.Dir(dst), "."+path.Base(dst)+".ferry-part")
	// Relative staging paths are under the login user's home; sudo keeps the cwd of the login shell.
	line := fmt.Sprintf("mkdir -p %s && mv -f %s %s && chown 0:0 %s && chmod %o %s && mv -f %s %s",
		host.Quote(path.Dir(dst)), host.Quote(staged), host.Quote(part), host.Quote(part), mode.Perm(), host.Quote(part), host.Quote(part), host.Quote(dst))
	if _, err := t.Run(ctx, host.Cmd{Line: line, Sudo: true}); err != nil {
		return fmt.Errorf("placing %s with sudo: %w", dst, err)
	}
	return nil
}

func stagingName(dst string) string {
	s := sha256.Sum256([]byte(dst))
	return path.Base(dst) + "." + hex.EncodeToString(s[:4]) + ".ferry-part"
}

func hashFile(ctx context.Context, f *os.File, size int64) (string, error) {
	h := sha256.New()
	r := &sendReader{ctx: ctx, r: io.NewSectionReader(f, 0, size), h: h, remain: size}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sendReader hashes what it hands out, stops promptly when ctx ends, and throttles progress events.
// Size lets pkg/sftp choose concurrent writes.
type sendReader struct {
	ctx    context.Context
	r      io.Reader
	h      hash.Hash
	remain int64

	sink              progress.Sink
	phase, host, name string
	base, sent, total int64
	start, last       time.Time
	lastSent          int64
}

func (s *sendReader) Size() int64 { return s.remain }

func (s *sendReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	if n > 0 {
		s.h.Write(p[:n])
		s.sent += int64(n)
		s.remain -= int64(n)
		if s.sink != nil {
			// Report every 250 ms or every 1% of the file, whichever comes first.
			if now := time.Now(); now.Sub(s.last) >= 250*time.Millisecond || s.sent-s.lastSent >= max(s.total/100, 1<<20) {
				s.last, s.lastSent = now, s.sent
				s.sink.Emit(progress.Event{Phase: s.phase, Host: s.host, Msg: rateMsg(s.name, s.sent, s.total-s.base-s.sent, now.Sub(s.start)),
					Done: s.base + s.sent, Total: s.total})
			}
		}
	}
	return n, err
}

// rateMsg renders "k3s: 182.4 MiB/s, ETA 3s".
func rateMsg(name string, sent, left int64, el time.Duration) string {
	if el <= 0 || sent == 0 {
		return name
	}
	rate := float64(sent) / el.Seconds()
	eta := time.Duration(float64(left) / rate * float64(time.Second))
	return fmt.Sprintf("%s: %.1f MiB/s, ETA %s", name, rate/(1<<20), eta.Round(time.Second))
}

// remoteSize is the size of a regular file at p, or -1. A non-root login may not even be able to stat a
// root-owned path, so it asks through sudo.
func remoteSize(ctx context.Context, t Target, rfs FS, p string, root bool) int64 {
	if root {
		if fi, err := rfs.Stat(p); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
		return -1
	}
	res, err := t.Run(ctx, host.Cmd{Line: "if [ -f " + host.Quote(p) + " ]; then wc -c < " + host.Quote(p) + "; else echo -1; fi", Sudo: true, ReadOnly: true})
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(res.Stdout)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
