package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Each host boots in a cgroup of its own, <hierarchy>/ferry-lab/<host>.
//
// This machine's PID 1 is not systemd, so nothing gives an nspawn a scope of its own (--keep-unit,
// --register=no): every nspawn started from the same shell lands in the same cgroup, nspawn puts each
// machine's systemd in "<that cgroup>/payload", and all the hosts' systemd instances share one
// init.scope and one system.slice. Two hosts starting the same short oneshot unit at once (seen:
// systemd-user-sessions, systemd-network-generator, systemd-sysusers, systemd-tmpfiles-setup-dev) then
// race on one cgroup directory: one host removes it as its unit ends while the other moves its process
// in, and the unit fails with status=219/CGROUP, leaving that host "degraded" now and then. Worse,
// stopping a unit on one host could signal the same unit's processes on another.
//
// The hierarchies that matter are the ones systemd tracks units in: the cgroup2 one (unified, or the
// only one) and, on a hybrid machine, the v1 name=systemd one. The other v1 controllers are shared as
// before (nspawn mounts them read-only in the machine unless HostSpec.Containers remounts them).

const cgroupDir = "ferry-lab"

// cgroupRoots returns the mount points of the hierarchies systemd tracks units in.
func cgroupRoots() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var roots []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		mnt := fields[4]
		switch {
		case tail[0] == "cgroup2":
		case tail[0] == "cgroup" && hasOpt(tail[2], "name=systemd"):
		default:
			continue
		}
		if !seen[mnt] {
			seen[mnt] = true
			roots = append(roots, mnt)
		}
	}
	return roots
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// hostCgroups creates host name's cgroups and returns their directories. Where a hierarchy refuses
// (read-only, not delegated) the host shares the caller's cgroup there, as it did before.
func hostCgroups(name string) []string {
	var dirs []string
	for _, root := range cgroupRoots() {
		d := filepath.Join(root, cgroupDir, name)
		if err := os.MkdirAll(d, 0o755); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// inCgroupsScript moves the shell into the directories listed in $FERRYLAB_CGROUPS, then becomes
// systemd-nspawn with the remaining arguments: the move happens before nspawn exists, so nothing of
// the machine ever runs in the shared cgroup.
const inCgroupsScript = `for d in $FERRYLAB_CGROUPS; do echo $$ > "$d/cgroup.procs" || exit 97; done; exec systemd-nspawn "$@"`

// removeHostCgroups removes the cgroups of the hosts whose name matches the glob pattern (deepest
// first: cgroup directories go with rmdir, once the processes in them are gone). It returns what is left.
func removeHostCgroups(pattern string) []string {
	var left []string
	for _, root := range cgroupRoots() {
		matches, _ := filepath.Glob(filepath.Join(root, cgroupDir, pattern))
		for _, d := range matches {
			if err := removeCgroupTree(d); err != nil {
				left = append(left, fmt.Sprintf("cgroup %s: %v", d, err))
			}
		}
	}
	return left
}

func removeCgroupTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	// A cgroup whose last process just exited can stay busy for a moment.
	for i := 0; ; i++ {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || i == 50 {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cgroupLeaks lists the cgroups of the hosts whose name matches the glob pattern.
func cgroupLeaks(pattern string) []string {
	var out []string
	for _, root := range cgroupRoots() {
		matches, _ := filepath.Glob(filepath.Join(root, cgroupDir, pattern))
		for _, d := range matches {
			out = append(out, "cgroup "+d)
		}
	}
	return out
}
