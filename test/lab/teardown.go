package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Down tears lab id down completely and idempotently, from what it finds on the machine rather than
// from what a run remembered, so it also cleans up after a run that crashed half-way: nspawn machines
// named ferrylab<id>-*, processes rooted in the lab's state directory, mounts and loop devices under it,
// the lab's veths, bridge and forward guard, nspawn's /run entries for its machines, and the state
// directory itself. It returns an error naming anything that is still left.
//
// Down first claims the lab's ID for this process, as Up does (see LockPath), and keeps it: while another
// running process holds the ID it touches nothing and fails with ErrLabBusy naming that process (after
// waiting up to $FERRY_LAB_LOCK_WAIT, if set). The holder's own Down always proceeds.
func Down(ctx context.Context, stateRoot string, id int) error {
	return DownWith(ctx, stateRoot, id, DownOptions{})
}

// DownOptions changes how Down treats a lab another process holds.
type DownOptions struct {
	// Wait is how long to wait for the holder to end; 0 means $FERRY_LAB_LOCK_WAIT, else not at all.
	Wait time.Duration
	// Force tears the lab down even while another process holds it (that run then fails): for a holder
	// that hangs, when stopping it is not an option.
	Force bool
}

// DownWith is Down with options (the CLI's `lab down --force / --wait`).
func DownWith(ctx context.Context, stateRoot string, id int, o DownOptions) error {
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	wait, err := lockWait(o.Wait)
	if err != nil {
		return err
	}
	if o.Force {
		wait = 0
	}
	if err := claim(ctx, stateRoot, id, wait); err != nil && !(o.Force && errors.Is(err, ErrLabBusy)) {
		return fmt.Errorf("tearing down lab %d: %w", id, err)
	}
	return teardownFn(ctx, stateRoot, id)
}

// teardownFn lets the lock's unit tests see whether Down went on to tear down, without touching the
// machine's kernel objects, which are named by ID alone and so shared by every state root.
var teardownFn = teardown

func teardown(ctx context.Context, stateRoot string, id int) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	dir := StateDir(stateRoot, id)
	prefix := LabName(id) + "-"
	var pids []int
	for pid := range nspawnPIDs(prefix) {
		pids = append(pids, pid)
	}
	// Teardown needs no clean shutdown: a short grace, then nspawn kills its machine itself.
	stopNspawn(pids, 3*time.Second)
	if left := rootedUnder(dir); len(left) > 0 {
		terminate(left, 2*time.Second)
	}
	var errs []error
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	// A loop device mounted with autoclear goes away once its last mount does, which can lag the unmount.
	for i := 0; i < 50 && len(loopsUnder(dir)) > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	for _, dev := range loopsUnder(dir) {
		if out, err := run(ctx, "losetup", "-d", dev); err != nil {
			errs = append(errs, fmt.Errorf("detaching %s: %w: %s", dev, err, out))
		}
	}
	if err := deleteNetwork(ctx, id); err != nil {
		errs = append(errs, err)
	}
	removeNspawnRun(prefix)
	if left := removeHostCgroups(prefix + "*"); len(left) > 0 {
		errs = append(errs, fmt.Errorf("removing cgroups: %s", strings.Join(left, "; ")))
	}
	locks, _ := filepath.Glob(filepath.Join(dir, "hosts", "*", "nspawn.lock"))
	for _, f := range locks {
		if b, err := os.ReadFile(f); err == nil && strings.HasPrefix(string(b), "inode-") {
			_ = os.Remove(filepath.Join("/run/systemd/nspawn/locks", strings.TrimSpace(string(b))))
		}
	}
	if len(errs) == 0 {
		if err := removeTree(dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", dir, err))
		}
	}
	if leaks := Leaks(stateRoot, id); len(leaks) > 0 {
		errs = append(errs, fmt.Errorf("tearing down lab %d left: %s", id, strings.Join(leaks, "; ")))
	}
	return errors.Join(errs...)
}

// Leaks lists everything of lab id that exists on the machine: empty after a clean Down.
func Leaks(stateRoot string, id int) []string {
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	dir := StateDir(stateRoot, id)
	prefix := LabName(id) + "-"
	var out []string
	var pids []string
	for pid, m := range nspawnPIDs(prefix) {
		pids = append(pids, fmt.Sprintf("%d(%s)", pid, m))
	}
	for _, pid := range rootedUnder(dir) {
		pids = append(pids, fmt.Sprint(pid))
	}
	if len(pids) > 0 {
		sort.Strings(pids)
		out = append(out, "processes "+strings.Join(pids, ","))
	}
	if pts, _ := mountsUnder(dir); len(pts) > 0 {
		out = append(out, "mounts "+strings.Join(pts, ","))
	}
	if ms, _ := mounts(); len(ms) > 0 {
		for _, m := range ms {
			if m.FSType == "overlay" && strings.Contains(m.SuperOpts, "upperdir="+dir+"/") && !under(m.Point, dir) {
				out = append(out, "overlay mounted elsewhere at "+m.Point)
			}
		}
	}
	if l := loopsUnder(dir); len(l) > 0 {
		out = append(out, "loop devices "+strings.Join(l, ","))
	}
	if l := labLinks(id); len(l) > 0 {
		out = append(out, "links "+strings.Join(l, ","))
	}
	if forwardRulesPresent(context.Background(), id) {
		out = append(out, "iptables FORWARD rules commented "+LabName(id))
	}
	if r := nspawnRunEntries(prefix); len(r) > 0 {
		out = append(out, "nspawn run entries "+strings.Join(r, ","))
	}
	out = append(out, cgroupLeaks(prefix+"*")...)
	if _, err := os.Lstat(dir); err == nil {
		out = append(out, "state directory "+dir)
	}
	return out
}

// loopsUnder lists loop devices whose backing file lies under dir.
func loopsUnder(dir string) []string {
	var devs []string
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		backing := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		if under(backing, dir) {
			devs = append(devs, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(f))))
		}
	}
	sort.Strings(devs)
	return devs
}

func nspawnRunEntries(prefix string) []string {
	var found []string
	_ = filepath.WalkDir("/run/systemd/nspawn", func(p string, d os.DirEntry, err error) error {
		if err == nil && p != "/run/systemd/nspawn" && strings.HasPrefix(d.Name(), prefix) {
			found = append(found, p)
		}
		return nil
	})
	return found
}
