package lab

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Environment variables the site scenarios of every area read.
const (
	// EnvEnable must be "1" for scenarios to boot a lab (make test-<area> sets it); otherwise they skip.
	EnvEnable = "FERRY_LAB"
	// EnvInventory names an inventory file of real hosts to use instead of a lab.
	EnvInventory = "FERRY_LAB_INVENTORY"
)

// NeedEnv returns $name, which the make target of a site scenario sets (the stand-in binary, a built
// ferryctl): a lab run (FERRY_LAB=1) without it fails, naming target; otherwise it may be empty, as the
// scenario then skips in TestSite.
func NeedEnv(tb testing.TB, name, target string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" && os.Getenv(EnvEnable) == "1" {
		tb.Fatal(name + " not set: run make " + target)
	}
	return v
}

// WaitFor calls ok every interval until it returns nil, failing the test with ok's last error once within
// has passed: for a site to settle (a unit up, a node Ready, a link back).
func WaitFor(tb testing.TB, what string, within, every time.Duration, ok func() error) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(every)
	}
}

// TestSite gives a test a site: the hosts of the inventory in $FERRY_LAB_INVENTORY (lab is then nil:
// no fault knobs), or a fresh lab with ID id booted from hosts and torn down when the test ends. It
// skips the test unless FERRY_LAB=1 and running as root, so plain `go test ./...` stays fast. Each
// area's scenarios use their own IDs (see docs/testing.md) so they can run side by side. The test
// process holds the ID from here on (see LockPath): if another running process holds it, the test
// fails at once with ErrLabBusy naming that process, and its lab is left alone.
func TestSite(tb testing.TB, id int, hosts []HostSpec) (*Lab, *Inventory) {
	tb.Helper()
	if f := os.Getenv(EnvInventory); f != "" {
		inv, err := LoadInventory(f)
		if err != nil {
			tb.Fatal(err)
		}
		return nil, inv
	}
	if os.Getenv(EnvEnable) != "1" {
		tb.Skip("site scenario: boots nspawn machines as root; run it through its make test-<area> target (sets " + EnvEnable + "=1)")
	}
	if os.Geteuid() != 0 {
		tb.Skip("site scenario needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := Down(ctx, "", id); err != nil { // left over from a crashed run
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := Down(context.Background(), "", id); err != nil {
			tb.Errorf("tearing down lab %d: %v", id, err)
		}
	})
	l, err := Up(ctx, Options{ID: id, Hosts: hosts, Progress: func(e progress.Event) {
		tb.Log(fmt.Sprintf("lab %s %s %s", e.Phase, e.Host, e.Msg))
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return l, l.Inventory()
}
