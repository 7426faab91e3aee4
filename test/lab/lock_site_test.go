package lab_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/test/lab"
)

// envOtherRun makes the re-executed test binary play a second run of the same scenario ("down:ID" or
// "up:ID"): what `make test-lab` started while this one runs would do first.
const envOtherRun = "FERRY_LAB_LOCK_OTHER_RUN"

// TestLockOtherRunProcess is not a test: re-executed by TestLockKeepsAnotherRunOff, it calls lab.Down or
// lab.Up on a lab ID and prints the error.
func TestLockOtherRunProcess(t *testing.T) {
	v := os.Getenv(envOtherRun)
	if v == "" {
		return
	}
	verb, idText, _ := strings.Cut(v, ":")
	id, _ := strconv.Atoi(idText)
	ctx := context.Background()
	var err error
	switch verb {
	case "down":
		err = lab.Down(ctx, "", id)
	case "up":
		_, err = lab.Up(ctx, lab.Options{ID: id, Hosts: lab.Spec(1, 0)})
	}
	fmt.Printf("%s: %v\n", verb, err)
	os.Exit(0) // before TestMain's teardown, which is this process's to skip
}

// A second run of the same lab ID, in another process, is refused naming this process and leaves the
// running site alone: no host stopped, SSH still answered, state still there.
func TestLockKeepsAnotherRunOff(t *testing.T) {
	l, inv := requireLab(t)
	for _, verb := range []string{"down", "up"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockOtherRunProcess$")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "FERRY_LAB") { // no FERRY_LAB_LOCK_WAIT: refuse at once
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%s:%d", envOtherRun, verb, l.ID))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("other run (%s): %v: %s", verb, err, out)
		}
		want := fmt.Sprintf("lab %d is in use by PID %d (", l.ID, os.Getpid())
		if !strings.Contains(string(out), "site lab busy") || !strings.Contains(string(out), want) {
			t.Fatalf("other run's %s said %q, want ErrLabBusy with %q", verb, out, want)
		}
		t.Logf("other run: %s", strings.TrimSpace(string(out)))
	}
	for name, up := range l.Status() {
		if !up {
			t.Errorf("%s stopped by the refused run", name)
		}
	}
	for _, h := range inv.Hosts {
		if err := canDial(h, 10*time.Second); err != nil {
			t.Errorf("%s after the refused run: %v", h.Name, err)
		}
	}
	if _, err := os.Stat(l.InventoryPath()); err != nil {
		t.Errorf("lab state after the refused run: %v", err)
	}
}
