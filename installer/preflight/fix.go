package preflight

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
)

// FixKind names a fix Ferry can apply.
type FixKind string

const (
	FixClock    FixKind = "clock"
	FixHostname FixKind = "hostname"
	FixRoute    FixKind = "route"
)

// DummyLink is the interface the route fix creates.
const DummyLink = "ferry-dummy0"

// Fix is a consented change to one host.
type Fix struct {
	Kind  FixKind
	Host  string
	Desc  string
	Value string // the hostname for FixHostname
}

// Commands returns the commands the fix runs (all under sudo), for dry runs and the consent prompt.
// now is read at apply time so the clock is set to the laptop's current time.
func (f Fix) Commands(now time.Time) []host.Cmd {
	switch f.Kind {
	case FixClock:
		// An NTP client could move it again, but an air-gapped site whose clock is off has none that works.
		return []host.Cmd{{Line: fmt.Sprintf("date -u -s @%d", now.Unix()), Sudo: true}}
	case FixHostname:
		n := host.Quote(f.Value)
		return []host.Cmd{{Line: fmt.Sprintf("if command -v hostnamectl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then hostnamectl set-hostname %s; else echo %s > /etc/hostname && hostname %s; fi", n, n, n), Sudo: true}}
	case FixRoute:
		// A dummy interface keeps the route off the real network. Kernels built without the dummy driver
		// (minimal and some virtualised ones) get a link-scope default route on the interface holding the
		// host's address instead: no gateway, so packets to unknown destinations are only ARPed for on
		// the local segment, which an air-gapped network never answers.
		return []host.Cmd{{Line: fmt.Sprintf("if ip link show %[1]s >/dev/null 2>&1 || ip link add %[1]s type dummy 2>/dev/null; then "+
			"ip link set %[1]s up && ip route replace default dev %[1]s metric 10000; "+
			"else dev=$(ip -o -4 addr show scope global | awk 'NR==1 {print $2}'); [ -n \"$dev\" ] && ip route replace default dev \"$dev\" metric 10000; fi", DummyLink), Sudo: true}}
	}
	return nil
}

// ApplyFix runs the fix on h. Callers must have the user's consent.
func ApplyFix(ctx context.Context, h host.Host, f Fix, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	for _, c := range f.Commands(now()) {
		if _, err := h.Run(ctx, c); err != nil {
			return fmt.Errorf("applying fix %q on %s: %w", f.Kind, h.Name(), err)
		}
	}
	return nil
}
