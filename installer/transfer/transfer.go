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
// installer/ssh keeps at most 64 x 252 KiB in flight, so 32 MiB is well past any hole. The host-side
// hashes of the kept chunks still decide. A variable only so tests can use small files.
var ResumeMargin int64 = 32 << 20

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
	// RemoteSha256 hashes a remote file on the host; sudo selects root privileges (for root-owned targets).
	RemoteSha256(ctx context.Context, p string, sudo bool) (string, error)
	// RemoteSha256Range hashes n bytes at off (both multiples of 1 MiB, except a short last range) of a
	// file the login user can read.
	RemoteSha256Range(ctx context.Context, p string, off, n int64) (string, error)
	// IsRoot reports whether the login user is root (no staging, no sudo needed).
	IsRoot() bool
}

// VerifyChunk is the unit of host-side verification and of resumption; a multiple of 1 MiB, as the host
// reads it with dd. A variable only so tests can use small files.
var VerifyChunk int64 = 256 << 20

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
			// Chunk-aligned, so every chunk is verified whole.
			// 1 MiB-aligned: the host reads verification ranges with dd in 1 MiB blocks.
			offset = max(0, fi.Size()-ResumeMargin) / (1 << 20) * (1 << 20)
		}
	}
	h := sha256.New()
	if offset > 0 {
		// Trust nothing on the host: the prefix is hashed here, and its chunks are verified on the host
		// like the ones sent now.
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

	// Host-side verification runs beside the transfer: each chunk, once every write to it is
	// acknowledged, is hashed on the host and compared with the same bytes hashed here. Verifying the
	// file after sending would add a full read and hash of it to every upload.
	vctx, stopVerify := context.WithCancel(ctx)
	defer stopVerify()
	v := newVerifier(vctx, t, lf, tmp, size)
	for pos := int64(0); pos < offset; pos += VerifyChunk {
		v.add(pos, min(VerifyChunk, offset-pos), "")
	}
	r := &sendReader{ctx: ctx, sink: opts.Progress, phase: opts.Phase, host: t.Name(), name: path.Base(dst), base: offset, total: size, start: time.Now()}
	var werr error
	for pos := offset; pos < size && werr == nil; pos += VerifyChunk {
		n := min(VerifyChunk, size-pos)
		pctx, stop := context.WithCancel(ctx)
		pf := startPrefetch(pctx, lf, pos, n, h)
		r.r, r.remain = pf, n
		var got int64
		got, werr = rf.ReadFrom(r)
		stop()
		perr := pf.wait()
		res.Sent += got
		if werr == nil {
			werr = perr
		}
		if werr == nil && got != n {
			werr = fmt.Errorf("sent %d of %d bytes at offset %d: local file changed during upload?", got, n, pos)
		}
		if werr == nil {
			// The verifier hashes its chunk from the page cache on its own goroutine: hashing twice in
			// the prefetcher would lengthen the sending pipeline.
			v.add(pos, n, "")
		}
	}
	cerr := rf.Close()
	verr := v.wait()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if werr != nil {
		return res, werr
	}
	if cerr != nil {
		return res, cerr
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if opts.Sha256 != "" && sum != opts.Sha256 {
		return res, fmt.Errorf("local file %s has sha256 %s, bundle says %s: %w", src, sum, opts.Sha256, ErrChecksumMismatch)
	}
	if verr == nil {
		if fi, err := rfs.Stat(tmp); err != nil || fi.Size() != size {
			verr = fmt.Errorf("%s on host is not %d bytes long: %w", tmp, size, ErrChecksumMismatch)
		}
	}
	if verr != nil {
		_ = rfs.Remove(tmp)
		if res.Resumed && errors.Is(verr, ErrChecksumMismatch) {
			// The partial file had a hole or was altered: start over once, from zero.
			again, err := upload(ctx, t, src, dst, opts, false)
			again.Sent += res.Sent
			return again, err
		}
		return res, verr
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
		if s.h != nil {
			s.h.Write(p[:n])
		}
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

// verifier checks chunks on the host, one at a time and in order, while the transfer goes on.
type verifier struct {
	ctx  context.Context
	t    Target
	lf   *os.File
	path string
	size int64
	ch   chan vchunk
	done chan error
}

type vchunk struct {
	off, n int64
	want   string // hex sha256 of the local bytes; "" to compute here
}

func newVerifier(ctx context.Context, t Target, lf *os.File, p string, size int64) *verifier {
	v := &verifier{ctx: ctx, t: t, lf: lf, path: p, size: size, ch: make(chan vchunk, 1<<10), done: make(chan error, 1)}
	go v.run()
	return v
}

func (v *verifier) add(off, n int64, want string) { v.ch <- vchunk{off, n, want} }

// wait returns the first mismatch or error once every added chunk is checked.
func (v *verifier) wait() error {
	close(v.ch)
	return <-v.done
}

func (v *verifier) run() {
	var first error
	for c := range v.ch {
		if first != nil {
			continue // drain
		}
		off, n, want := c.off, c.n, c.want
		if want == "" {
			h := sha256.New()
			if _, err := io.Copy(h, io.NewSectionReader(v.lf, off, n)); err != nil {
				first = err
				continue
			}
			want = hex.EncodeToString(h.Sum(nil))
		}
		var got string
		var err error
		if off == 0 && n == v.size {
			got, err = v.t.RemoteSha256(v.ctx, v.path, false) // one chunk: no dd pipe needed
		} else {
			got, err = v.t.RemoteSha256Range(v.ctx, v.path, off, n)
		}
		switch {
		case err != nil:
			first = fmt.Errorf("hashing %s on host: %w", v.path, err)
		case got != want:
			first = fmt.Errorf("bytes %d-%d of %s on host have sha256 %s, sent %s: %w", off, off+n, v.path, got, want, ErrChecksumMismatch)
		}
	}
	v.done <- first
}

// prefetch reads [off, off+n) of a local file in blocks on its own goroutine and hashes them into the
// whole-file hash, so reading and hashing run beside the encryption and sending of earlier blocks
// instead of in line with them.
type prefetch struct {
	ch   chan []byte
	free chan []byte // consumed blocks come back here, so a long transfer does not churn the GC
	cur  []byte
	blk  []byte
	done chan struct{}
	err  error
}

const prefetchBlock = 1 << 20

func startPrefetch(ctx context.Context, f *os.File, off, n int64, full hash.Hash) *prefetch {
	p := &prefetch{ch: make(chan []byte, 8), free: make(chan []byte, 10), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer close(p.ch)
		for pos := off; pos < off+n; {
			var b []byte
			select {
			case b = <-p.free:
			default:
				b = make([]byte, prefetchBlock)
			}
			b = b[:min(prefetchBlock, off+n-pos)]
			if _, err := f.ReadAt(b, pos); err != nil {
				p.err = err
				return
			}
			full.Write(b)
			select {
			case p.ch <- b:
			case <-ctx.Done():
				p.err = ctx.Err()
				return
			}
			pos += int64(len(b))
		}
	}()
	return p
}

func (p *prefetch) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.blk != nil {
			select {
			case p.free <- p.blk[:cap(p.blk)]:
			default:
			}
			p.blk = nil
		}
		blk, ok := <-p.ch
		if !ok {
			<-p.done
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.cur, p.blk = blk, blk
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// wait returns once the goroutine has ended (the caller cancels its context first).
func (p *prefetch) wait() error {
	for range p.ch { // unblock a sender that has not seen the cancellation yet
	}
	<-p.done
	return p.err
}
