package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nspawnPIDs finds systemd-nspawn processes running a machine whose name starts with prefix, by their
// command line, so Down finds them even when the lab's pid files are gone.
func nspawnPIDs(prefix string) map[int]string {
	found := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if filepath.Base(args[0]) != "systemd-nspawn" {
			continue
		}
		for i, a := range args {
			m := ""
			switch {
			case (a == "-M" || a == "--machine") && i+1 < len(args):
				m = args[i+1]
			case strings.HasPrefix(a, "--machine="):
				m = strings.TrimPrefix(a, "--machine=")
			}
			if m != "" && strings.HasPrefix(m, prefix) {
				found[pid] = m
			}
		}
	}
	return found
}

// rootedUnder finds processes living on a filesystem of dir: the processes inside the lab's machines.
// nspawn pivots into the host's overlay, so /proc/PID/root reads "/" from outside; what gives them away
// is their root mount, an overlay whose upper layer lies in dir. Down kills these if they outlive their
// nspawn (e.g. after it was killed -9).
func rootedUnder(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if root, err := os.Readlink(filepath.Join("/proc", e.Name(), "root")); err == nil && root != "/" && under(root, dir) {
			pids = append(pids, pid)
			continue
		}
		if rootMountIn(filepath.Join("/proc", e.Name(), "mountinfo"), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// rootMountIn reports whether the mount at "/" in a mountinfo file is an overlay with its upper layer in dir.
func rootMountIn(path, dir string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		if len(f) < 5 || f[4] != "/" {
			continue
		}
		return strings.HasPrefix(post, "overlay ") && strings.Contains(post, "upperdir="+dir+"/")
	}
	return false
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil {
		return false
	}
	// A zombie is gone for our purposes.
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// terminate sends SIGTERM to pids, waits up to grace for them to exit, then SIGKILLs the rest.
func terminate(pids []int, grace time.Duration) {
	signal(pids, syscall.SIGTERM)
	if waitGone(pids, grace) {
		return
	}
	signal(pids, syscall.SIGKILL)
	waitGone(pids, 5*time.Second)
}

// stopNspawn stops nspawn processes: a first SIGTERM asks the machine to power off, a second one after
// grace makes nspawn kill the machine itself, and SIGKILL comes last (it would orphan the machine's
// processes, which Down then kills by their root mount). Under qemu the first SIGTERM does not power
// off: qemu-user shifts real-time signals, so systemd receives rescue instead of poweroff; callers that
// want a clean shutdown run systemctl poweroff first.
func stopNspawn(pids []int, grace time.Duration) {
	signal(pids, syscall.SIGTERM)
	if waitGone(pids, grace) {
		return
	}
	signal(pids, syscall.SIGTERM)
	if waitGone(pids, 5*time.Second) {
		return
	}
	signal(pids, syscall.SIGKILL)
	waitGone(pids, 5*time.Second)
}

func signal(pids []int, sig syscall.Signal) {
	for _, p := range pids {
		if alive(p) {
			_ = syscall.Kill(p, sig)
		}
	}
}

// waitGone waits up to d for every pid to exit and reports whether they did.
func waitGone(pids []int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		left := 0
		for _, p := range pids {
			if alive(p) {
				left++
			}
		}
		if left == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
