package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Host is what a phase may do to one target machine. Implementations record every command in the site's
// audit log; callers never need to.
type Host interface {
	// Name is the host's name in the site file; it keys progress events and error messages.
	Name() string
	// Run runs one shell command line. A non-zero exit is returned as *ExitError (with the Result filled).
	Run(ctx context.Context, c Cmd) (Result, error)
	// Stat returns the remote file's info, or an error wrapping fs.ErrNotExist.
	Stat(ctx context.Context, path string) (fs.FileInfo, error)
	// Sha256 returns the lowercase hex SHA-256 of a remote file, computed on the host (sudo if needed).
	Sha256(ctx context.Context, path string) (string, error)
	// ReadFile returns a remote file's content (sudo if needed, for root-only files such as k3s.yaml), or
	// an error wrapping fs.ErrNotExist when there is no such file.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// Upload copies a local file to the host with verification, resume and skip-if-present.
	Upload(ctx context.Context, src, dst string, opts UploadOptions) (UploadResult, error)
}

// Cmd is one remote command line, interpreted by a POSIX shell on the host.
type Cmd struct {
	// Line is the shell command line. It must not contain secrets: pass them on Stdin.
	Line string
	// Sudo runs Line as root through sudo when the login user is not root (no-op for root).
	Sudo bool
	// Stdin, if set, is fed to the command.
	Stdin io.Reader
	// Redact lists substrings to hide in the audit log and in errors (tokens that had to appear in Line).
	Redact []string
	// ReadOnly marks a command that changes nothing on the host: a dry run still runs it (facts, checks).
	ReadOnly bool
}

// Result is what a command produced.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// ExitError reports a command that ran and exited non-zero.
type ExitError struct {
	Host     string
	Line     string // redacted
	ExitCode int
	Stderr   string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 400 {
		msg = "..." + msg[len(msg)-400:]
	}
	if msg == "" {
		return fmt.Sprintf("%s: command %q exited %d", e.Host, e.Line, e.ExitCode)
	}
	return fmt.Sprintf("%s: command %q exited %d: %s", e.Host, e.Line, e.ExitCode, msg)
}

// ErrSudoFailed is returned when sudo refused to run a command (wrong or missing password, not in
// sudoers).
var ErrSudoFailed = errors.New("sudo failed")

// UploadOptions tunes one upload.
type UploadOptions struct {
	// Mode is the final file mode (0644 if zero).
	Mode fs.FileMode
	// Phase names the phase in progress events.
	Phase string
	// Progress receives byte counts; nil discards.
	Progress progress.Sink
	// Sha256, if known (from the bundle's manifest), is the expected hash; otherwise it is computed while
	// sending. With it, a file already present is recognised without reading the local file.
	Sha256 string
}

// UploadResult says what an upload did.
type UploadResult struct {
	// Skipped is true when the target already had the right content.
	Skipped bool
	// Resumed is true when a partial temporary file was continued.
	Resumed bool
	// Sent is the number of payload bytes sent over the wire in this run.
	Sent int64
	// Size is the file size.
	Size int64
	// Sha256 is the verified hex digest.
	Sha256 string
}

// Quote returns s as a single POSIX shell word. It is safe in sh, dash and bash.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Redact replaces every secret in s with "***".
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

// Sha256Line is the shell command that hashes path p on a host. OpenSSL's digest uses the CPU's SHA
// instructions and is about four times faster than coreutils' sha256sum, which matters for the image
// archives; hosts without openssl fall back to sha256sum (or busybox's). Both print the digest first.
func Sha256Line(p string) string {
	q := Quote(p)
	if strings.HasPrefix(p, "-") {
		q = Quote("./" + p)
	}
	return "if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r " + q + "; else sha256sum " + q + "; fi"
}

// Sha256RangeLine hashes n bytes at offset off of path p; off and n must be multiples of 1 MiB, except
// that n may be short at the end of the file.
func Sha256RangeLine(p string, off, n int64) string {
	const mib = 1 << 20
	return fmt.Sprintf("dd if=%s bs=%d skip=%d count=%d 2>/dev/null | { if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }",
		Quote(p), mib, off/mib, (n+mib-1)/mib)
}

// ParseSha256sum extracts the digest from `sha256sum FILE` output.
func ParseSha256sum(out []byte) (string, error) {
	f := strings.Fields(string(out))
	if len(f) == 0 || len(f[0]) != 64 {
		return "", fmt.Errorf("parsing sha256sum output %q: not a digest", strings.TrimSpace(string(out)))
	}
	return strings.ToLower(f[0]), nil
}
