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

// EnsureBinfmt makes the kernel run arch's binaries through qemu-user-static, inside chroots and nspawn
// machines too. Debian registers qemu-aarch64 with flags PF: F (the interpreter is opened at registration,
// so it need not exist inside the machine) but not C, without which setuid binaries such as sudo run
// without privileges ("effective uid is not 0"). So the lab mounts binfmt_misc if needed, enables Debian's
// handler, and registers its own handler "ferrylab-aarch64" with flags FPC and the same interpreter; the
// newest matching registration wins. These are machine-wide settings other users of qemu may rely on, so
// Down never undoes them.
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
	if h, _ := readBinfmt(name); !h.enabled {
		if out, err := run(ctx, "update-binfmts", "--enable", name); err != nil {
			return fmt.Errorf("enabling %s binfmt (is qemu-user-static installed? run scripts/install-deps.sh lab): %w: %s", name, err, out)
		}
	}
	h, err := readBinfmt(name)
	if err != nil || !h.enabled {
		return fmt.Errorf("binfmt handler %s is not enabled: %v", name, err)
	}
	if strings.Contains(h.flags, "F") && strings.Contains(h.flags, "C") {
		return nil
	}
	own := Prefix + "-" + strings.TrimPrefix(name, "qemu-")
	if o, err := readBinfmt(own); err == nil && o.enabled && strings.Contains(o.flags, "F") && strings.Contains(o.flags, "C") {
		return nil
	}
	reg := fmt.Sprintf(":%s:M:%s:%s:%s:%s:FPC", own, h.offset, hexEscape(h.magic), hexEscape(h.mask), h.interpreter)
	if err := os.WriteFile(filepath.Join(binfmtDir, "register"), []byte(reg), 0o200); err != nil {
		return fmt.Errorf("registering binfmt handler %s: %w", own, err)
	}
	return nil
}

type binfmt struct {
	enabled                           bool
	interpreter, flags, offset, magic string
	mask                              string
}

func readBinfmt(name string) (binfmt, error) {
	b, err := os.ReadFile(filepath.Join(binfmtDir, name))
	if err != nil {
		return binfmt{}, err
	}
	var h binfmt
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, " ")
		switch k {
		case "enabled":
			h.enabled = true
		case "interpreter":
			h.interpreter = v
		case "flags:":
			h.flags = v
		case "offset":
			h.offset = v
		case "magic":
			h.magic = v
		case "mask":
			h.mask = v
		}
	}
	return h, nil
}

// hexEscape turns "7f45" into `\x7f\x45`, the form binfmt_misc's register file takes.
func hexEscape(hex string) string {
	var b strings.Builder
	for i := 0; i+1 < len(hex); i += 2 {
		b.WriteString(`\x` + hex[i:i+2])
	}
	return b.String()
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
