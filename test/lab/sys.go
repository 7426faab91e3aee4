package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
)

// hostArch is this machine's architecture in Debian's spelling (GOARCH agrees for amd64 and arm64).
func hostArch() string { return runtime.GOARCH }

var qemuBinfmt = map[string]string{ARM64: "qemu-aarch64"}

const binfmtDir = "/proc/sys/fs/binfmt_misc"

// EnsureBinfmt makes the kernel run arch's binaries through qemu-user-static. The handler must carry the
// F (fix binary) flag so the interpreter is found inside chroots and nspawn machines, which do not contain
// it. It mounts binfmt_misc and enables Debian's registration if needed; both are machine-wide settings
// that other users of qemu rely on, so Down never undoes them.
func EnsureBinfmt(ctx context.Context, arch string) error {
	name, ok := qemuBinfmt[arch]
	if !ok {
		return fmt.Errorf("no qemu binfmt handler known for arch %q", arch)
	}
	if !isFile(filepath.Join(binfmtDir, "status")) {
		if out, err := run(ctx, "mount", "-t", "binfmt_misc", "binfmt_misc", binfmtDir); err != nil {
			return fmt.Errorf("mounting binfmt_misc: %w: %s", err, out)
		}
	}
	if binfmtReady(name) {
		return nil
	}
	if out, err := run(ctx, "update-binfmts", "--enable", name); err != nil {
		return fmt.Errorf("enabling %s binfmt (is qemu-user-static installed? run scripts/install-deps.sh lab): %w: %s", name, err, out)
	}
	if !binfmtReady(name) {
		return fmt.Errorf("binfmt handler %s is enabled but lacks the F flag, so it cannot run inside a chroot", name)
	}
	return nil
}

func binfmtReady(name string) bool {
	b, err := os.ReadFile(filepath.Join(binfmtDir, name))
	if err != nil {
		return false
	}
	s := string(b)
	if !strings.HasPrefix(s, "enabled") {
		return false
	}
	for _, l := range strings.Split(s, "\n") {
		if f, ok := strings.CutPrefix(l, "flags: "); ok {
			return strings.Contains(f, "F")
		}
	}
	return false
}

// run runs a machine command and returns its combined output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func runLogged(ctx context.Context, w io.Writer, name string, args ...string) error {
	fmt.Fprintf(w, "+ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running %s: %w", name, err)
	}
	return nil
}

// withLogTail adds the last lines of a build log to err, as that is where the reason is.
func withLogTail(err error, path string) error {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return fmt.Errorf("%w\n%s", err, strings.Join(lines, "\n"))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	Point, FSType, Source, SuperOpts string
}

func mounts() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		ms = append(ms, mount{Point: unescapeMount(a[4]), FSType: b[0], Source: unescapeMount(b[1]), SuperOpts: b[2]})
	}
	return ms, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				out.WriteByte(c)
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	ms, err := mounts()
	if err != nil {
		return nil, err
	}
	var pts []string
	for _, m := range ms {
		if under(m.Point, dir) {
			pts = append(pts, m.Point)
		}
	}
	sort.Slice(pts, func(i, j int) bool { return len(pts[i]) > len(pts[j]) })
	return pts, nil
}

// unmountUnder unmounts everything mounted at or below dir (only ever a directory the lab owns).
func unmountUnder(dir string) error {
	for range 3 {
		pts, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(pts) == 0 {
			return nil
		}
		for _, p := range pts {
			if err := syscall.Unmount(p, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				_ = syscall.Unmount(p, syscall.MNT_DETACH)
			}
		}
	}
	pts, err := mountsUnder(dir)
	if err == nil && len(pts) > 0 {
		err = fmt.Errorf("unmounting under %s: still mounted: %s", dir, strings.Join(pts, ", "))
	}
	return err
}

// removeTree deletes dir after unmounting whatever is mounted below it, and refuses if anything stays
// mounted: removing through a bind mount would delete the mounted files.
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unmountUnder(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// inUseAsLower reports whether an overlay mount uses dir as a lower layer.
func inUseAsLower(dir string) bool {
	ms, _ := mounts()
	for _, m := range ms {
		if m.FSType == "overlay" && strings.Contains(m.SuperOpts, "lowerdir="+dir) {
			return true
		}
	}
	return false
}
