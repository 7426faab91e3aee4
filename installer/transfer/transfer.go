package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// ErrChecksumMismatch means the bytes on the host are not the bytes that were sent (or the local file
// does not match the hash the bundle promised).
var ErrChecksumMismatch = errors.New("checksum mismatch")

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
	// Run runs a command (used for sudo moves).
	Run(ctx context.Context, c host.Cmd) (host.Result, error)
	// RemoteSha256 hashes a remote file on the host; sudo selects root privileges (for root-owned targets).
	RemoteSha256(ctx context.Context, p string, sudo bool) (string, error)
	// RemoteSha256Range hashes n bytes at off (both multiples of 1 MiB, except a short last range) of a
	// file the login user can read.
	RemoteSha256Range(ctx context.Context, p string, off, n int64) (string, error)
	// IsRoot reports whether the login user is root (no staging, no sudo needed).
	IsRoot() bool
}

// VerifyChunk is the unit of sending, of the in-order host-side hash and of resumption; a multiple of
// 1 MiB, as the host reads it with dd. A variable only so tests can use small files.
var VerifyChunk int64 = 64 << 20

// Streams is how many SFTP sessions send chunks of one file at once: each has its own sftp-server
// process on the host, so two keep a link busy while one waits on the disk or the CPU.
var Streams = 2

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

	// Chunks the host already holds (a cut upload's partial file) are verified there and kept; every
	// other chunk is sent. Trust nothing: a kept chunk is one whose host-side hash matches the local one.
	var have int64
	if allowResume {
		if fi, err := rfs.Stat(tmp); err == nil && fi.Mode().IsRegular() && fi.Size() <= size {
			have = fi.Size()
		}
	}
	first, err := rfs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE)
	if err != nil {
		return res, fmt.Errorf("opening %s: %w", tmp, err)
	}
	if err := first.Truncate(have); err != nil {
		first.Close()
		return res, fmt.Errorf("truncating %s: %w", tmp, err)
	}

	// The hash the host's bytes must have: the caller's (a bundle member's, already verified against
	// the signed manifest) or, without one, the local file's, taken beside the transfer. Either way the
	// local side reads each byte at most once more than sending it.
	wantc := make(chan string, 1)
	wantErr := make(chan error, 1)
	if opts.Sha256 != "" {
		wantc <- opts.Sha256
		wantErr <- nil
	} else {
		go func() {
			s, err := hashFile(ctx, lf, size)
			wantc <- s
			wantErr <- err
		}()
	}

	var chunks, toSend []int
	var all []Range
	for pos := int64(0); pos < size || (size == 0 && pos == 0); pos += VerifyChunk {
		all = append(all, Range{Off: pos, N: min(VerifyChunk, size-pos)})
		if size == 0 {
			break
		}
	}
	for i, c := range all {
		if c.N > 0 && c.Off+c.N <= have {
			ok, err := verifyChunk(ctx, t, lf, tmp, c, size)
			if err != nil && !errors.Is(err, ErrChecksumMismatch) {
				first.Close()
				return res, err
			}
			if ok {
				res.Resumed = true
				chunks = append(chunks, i)
				continue
			}
		}
		toSend = append(toSend, i)
	}

	// The host hashes the whole temporary file in order, each chunk as soon as every write to it is
	// acknowledged, so its read and hash of each byte (from the page cache) overlap the transfer.
	hctx, stopHash := context.WithCancel(ctx)
	defer stopHash()
	ord := newOrderer(hctx, t, tmp, all)
	defer ord.close()
	for _, i := range chunks {
		ord.done(i)
	}
	pr := &progressCounter{sink: opts.Progress, phase: opts.Phase, host: t.Name(), name: path.Base(dst), total: size, start: time.Now()}
	pr.base = size
	for _, i := range toSend {
		pr.base -= all[i].N // what is already on the host counts as done
	}

	// Several SFTP streams (each its own sftp-server on the host) send different chunks at once.
	work := make(chan int)
	go func() {
		defer close(work)
		for _, i := range toSend {
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		mu   sync.Mutex
		werr error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if werr == nil {
			werr = err
		}
		mu.Unlock()
	}
	for i := range Streams {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			f, fsys := first, FS(nil)
			if i > 0 {
				var err error
				if fsys, err = t.OpenFS(ctx); err != nil {
					fail(err)
					return
				}
				defer fsys.Close()
				if f, err = fsys.OpenFile(tmp, os.O_WRONLY); err != nil {
					fail(fmt.Errorf("opening %s: %w", tmp, err))
					return
				}
			}
			defer func() {
				if err := f.Close(); err != nil {
					fail(err)
				}
			}()
			for ci := range work {
				c := all[ci]
				if _, err := f.Seek(c.Off, io.SeekStart); err != nil {
					fail(err)
					return
				}
				r := &sendReader{ctx: ctx, r: io.NewSectionReader(lf, c.Off, c.N), remain: c.N, pr: pr}
				got, err := f.ReadFrom(r)
				pr.sent.Add(got)
				if err == nil && got != c.N {
					err = fmt.Errorf("sent %d of %d bytes at offset %d: local file changed during upload?", got, c.N, c.Off)
				}
				if err != nil {
					fail(err)
					// Drain so the feeder ends; the other streams stop at their next chunk.
					for range work {
					}
					return
				}
				// pkg/sftp's ReadFrom returns once every write is acknowledged: the bytes are in the
				// host's file.
				ord.done(ci)
			}
		}(i)
	}
	wg.Wait()
	res.Sent = pr.sent.Load()
	if werr != nil || ctx.Err() != nil {
		stopHash()
		ord.close()
		<-ord.result
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, werr
	}
	ord.close()
	hr := <-ord.result
	want, lerr := <-wantc, <-wantErr
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if lerr != nil {
		return res, lerr
	}
	if hr.err != nil {
		return res, fmt.Errorf("hashing %s on host: %w", tmp, hr.err)
	}
	if fi, err := rfs.Stat(tmp); err != nil || fi.Size() != size {
		return res, fmt.Errorf("%s on host is not %d bytes long: %w", tmp, size, ErrChecksumMismatch)
	}
	if hr.sum != want {
		if opts.Sha256 != "" {
			// Tell a bad local copy from bytes damaged on the way: only now is the local file hashed.
			if local, err := hashFile(ctx, lf, size); err == nil && local != opts.Sha256 {
				return res, fmt.Errorf("local file %s has sha256 %s, bundle says %s: %w", src, local, opts.Sha256, ErrChecksumMismatch)
			}
		}
		// Bytes on the host do not match: a broken disk or link, or a tampering host. Do not place the
		// file; a re-run verifies the partial file chunk by chunk and sends only the chunks that differ.
		return res, fmt.Errorf("%s on host has sha256 %s, want %s: %w", tmp, hr.sum, want, ErrChecksumMismatch)
	}
	sum := want
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
	return hashRange(ctx, f, 0, size)
}

// hashRange hashes n bytes of f at off in 1 MiB reads (io.Copy would use 8 or 32 KiB: many more
// syscalls for the same bytes), stopping when ctx ends.
func hashRange(ctx context.Context, f *os.File, off, n int64) (string, error) {
	h := sha256.New()
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		m, err := f.ReadAt(buf[:min(n, int64(len(buf)))], off)
		h.Write(buf[:m])
		off, n = off+int64(m), n-int64(m)
		if err != nil && n > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sendReader stops promptly when ctx ends and reports progress; Size lets pkg/sftp choose concurrent
// writes.
type sendReader struct {
	ctx    context.Context
	r      io.Reader
	remain int64
	pr     *progressCounter
}

func (s *sendReader) Size() int64 { return s.remain }

func (s *sendReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	if n > 0 {
		s.remain -= int64(n)
		s.pr.read(int64(n))
	}
	return n, err
}

// progressCounter throttles progress events shared by the streams of one upload.
type progressCounter struct {
	sink              progress.Sink
	phase, host, name string
	base, total       int64
	start             time.Time
	sent              atomic.Int64 // bytes acknowledged as sent (for the result)

	mu             sync.Mutex
	read_, lastRep int64
	last           time.Time
}

func (c *progressCounter) read(n int64) {
	if c == nil || c.sink == nil {
		return
	}
	c.mu.Lock()
	c.read_ += n
	now := time.Now()
	// Report every 250 ms or every 1% of the file, whichever comes first.
	if now.Sub(c.last) < 250*time.Millisecond && c.read_-c.lastRep < max(c.total/100, 1<<20) {
		c.mu.Unlock()
		return
	}
	c.last, c.lastRep = now, c.read_
	done := c.read_
	c.mu.Unlock()
	c.sink.Emit(progress.Event{Phase: c.phase, Host: c.host, Msg: rateMsg(c.name, done, c.total-c.base-done, now.Sub(c.start)),
		Done: c.base + done, Total: c.total})
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

// Range is a byte range of a file.
type Range struct{ Off, N int64 }

// StreamHasher is an optional Target extension: one host process hashes a file that is still being
// written, reading the ranges sent on the channel in order (each a multiple of 1 MiB at a 1 MiB-aligned
// offset, except a short last one) until the channel closes, then returns the hex sha256 of all of them.
// Targets without it get one whole-file RemoteSha256 after the transfer instead (not overlapped).
type StreamHasher interface {
	RemoteSha256Stream(ctx context.Context, p string, ranges <-chan Range) (string, error)
}

// Sha256StreamLine is the POSIX sh command a StreamHasher runs on the host for path p: it reads "skip
// count" lines (in MiB) on stdin and feeds those ranges of p, in order, to one hash process. The file
// is read from the page cache it was just written to; the host reads each byte once.
func Sha256StreamLine(p string) string {
	return "while read -r s c; do dd if=" + host.Quote(p) + " bs=1048576 skip=$s count=$c 2>/dev/null || exit 1; done | " +
		"{ if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }"
}

// orderer hands chunks to the host-side hash in file order as they complete (out of order, from
// several streams).
type orderer struct {
	mu     sync.Mutex
	all    []Range
	done_  []bool
	next   int
	ch     chan Range
	closed bool
	result chan hashResult
}

type hashResult struct {
	sum string
	err error
}

func newOrderer(ctx context.Context, t Target, p string, all []Range) *orderer {
	o := &orderer{all: all, done_: make([]bool, len(all)), ch: make(chan Range, len(all)), result: make(chan hashResult, 1)}
	go func() {
		var r hashResult
		if sh, ok := t.(StreamHasher); ok {
			r.sum, r.err = sh.RemoteSha256Stream(ctx, p, o.ch)
		} else {
			for range o.ch { // wait until every chunk is on the host
			}
			if ctx.Err() == nil {
				r.sum, r.err = t.RemoteSha256(ctx, p, false)
			}
		}
		if r.err == nil && ctx.Err() != nil {
			r.err = ctx.Err()
		}
		r.sum = strings.ToLower(r.sum)
		o.result <- r
	}()
	return o
}

// done marks chunk i as wholly on the host. The channel holds every chunk, so this never blocks.
func (o *orderer) done(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done_[i] = true
	for !o.closed && o.next < len(o.all) && o.done_[o.next] {
		if o.all[o.next].N > 0 {
			o.ch <- o.all[o.next]
		}
		o.next++
	}
}

// close ends the host-side hash's input (idempotent).
func (o *orderer) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.ch)
	}
}

// verifyChunk compares one chunk of the local file with the host's bytes (resumption only).
func verifyChunk(ctx context.Context, t Target, lf *os.File, p string, c Range, size int64) (bool, error) {
	want, err := hashRange(ctx, lf, c.Off, c.N)
	if err != nil {
		return false, err
	}
	var got string
	if c.Off == 0 && c.N == size {
		got, err = t.RemoteSha256(ctx, p, false) // one chunk: no dd pipe needed
	} else {
		got, err = t.RemoteSha256Range(ctx, p, c.Off, c.N)
	}
	if err != nil {
		return false, fmt.Errorf("hashing %s on host: %w", p, err)
	}
	if got != want {
		return false, fmt.Errorf("bytes %d-%d of %s on host have sha256 %s, sent %s: %w", c.Off, c.Off+c.N, p, got, want, ErrChecksumMismatch)
	}
	return true, nil
}
