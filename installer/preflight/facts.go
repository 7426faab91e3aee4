package preflight

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
)

// MarkerPath is the file Ferry writes on every host it installs, holding the site's name, so a later run
// can tell its own k3s (resume or repair) from a foreign one (refuse unless reset).
const MarkerPath = "/etc/rancher/k3s/ferry-site"

// CreatedList is the list of paths a Ferry install created on the host (k3s.CreatedList), written before
// the first file: with no marker yet, it means a Ferry install was interrupted there and resumes.
const CreatedList = "/var/lib/ferry/k3s-created.list"

// BinDir is where the k3s binary goes; FallbackBinDir where /usr/local/bin is read-only (image-based
// distributions), as k3s's own install script does.
const (
	BinDir         = "/usr/local/bin"
	FallbackBinDir = "/opt/bin"
)

//go:embed facts.sh
var factsScript string

// Facts is what gathering learned about one host.
type Facts struct {
	Host      string
	UID       int
	Machine   string // uname -m
	Arch      string // Go/k3s name: amd64, arm64, arm
	Kernel    string
	OSName    string // PRETTY_NAME
	OSID      string
	Init      string // systemd, openrc, or the name of PID 1
	CPUs      int
	MemBytes  int64
	SwapBytes int64
	Hostname  string
	// Free maps each asked path to the bytes available on its filesystem.
	Free         map[string]int64
	Listening    []Socket
	DefaultRoute bool
	// UsrLocalBinWritable is false when /usr/local/bin lies on a read-only mount: k3s then goes to
	// /opt/bin (FallbackBinDir) and its unit's ExecStart follows.
	UsrLocalBinWritable bool
	SELinux             string // enforcing, permissive, disabled
	K3s                 K3sFacts
	// ClockOffset is host clock minus laptop clock, measured at the midpoint of the round trip.
	ClockOffset time.Duration
	ClockKnown  bool
	// Sudo is nil when sudo worked (or was not needed), else why it failed.
	Sudo error
}

// Socket is a bound local port.
type Socket struct {
	Proto string // tcp or udp
	Port  int
}

// K3sFacts describes an existing k3s install.
type K3sFacts struct {
	Files   []string
	Site    string // content of the marker file, "" if absent
	Running []string
	// Created is true when Ferry's created list exists: an install started here.
	Created bool
}

// BinDirFor is where k3s's binary goes on the host these facts describe.
func (f *Facts) BinDirFor() string {
	if f.UsrLocalBinWritable {
		return BinDir
	}
	return FallbackBinDir
}

// Present reports whether any trace of k3s exists.
func (k K3sFacts) Present() bool { return len(k.Files) > 0 || len(k.Running) > 0 }

// GatherOptions says what to look at.
type GatherOptions struct {
	DataDir string
	// NeedSudo checks that sudo works for a non-root login.
	NeedSudo bool
	// Now is the laptop clock (time.Now if nil).
	Now func() time.Time
}

// Gather runs the facts script on h (read-only) and parses it.
func Gather(ctx context.Context, h host.Host, o GatherOptions) (*Facts, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	paths := []string{o.DataDir, o.DataDir + "/agent/images", BinDir, FallbackBinDir}
	env := fmt.Sprintf("FERRY_DF_PATHS=%s FERRY_MARKER=%s FERRY_CREATED=%s; export FERRY_DF_PATHS FERRY_MARKER FERRY_CREATED\n",
		host.Quote(strings.Join(paths, " ")), host.Quote(MarkerPath), host.Quote(CreatedList))
	before := now()
	res, err := h.Run(ctx, host.Cmd{Line: "sh -c " + host.Quote(env+factsScript), ReadOnly: true})
	after := now()
	if err != nil {
		return nil, fmt.Errorf("gathering facts on %s: %w", h.Name(), err)
	}
	f, err := ParseFacts(h.Name(), res.Stdout, before.Add(after.Sub(before)/2))
	if err != nil {
		return nil, fmt.Errorf("gathering facts on %s: %w", h.Name(), err)
	}
	if f.UID != 0 && o.NeedSudo {
		if _, err := h.Run(ctx, host.Cmd{Line: "true", Sudo: true, ReadOnly: true}); err != nil {
			f.Sudo = err
		}
	}
	return f, nil
}

// ParseFacts parses the facts script's output; laptopMid is the laptop's time when the host ran date.
func ParseFacts(name string, out []byte, laptopMid time.Time) (*Facts, error) {
	f := &Facts{Host: name, Free: map[string]int64{}, SELinux: "disabled", UID: -1}
	sec := map[string][]string{}
	cur := ""
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "### ") {
			cur = strings.TrimPrefix(line, "### ")
			sec[cur] = []string{}
			continue
		}
		if cur != "" && strings.TrimSpace(line) != "" {
			sec[cur] = append(sec[cur], line)
		}
	}
	if _, ok := sec["end"]; !ok {
		return nil, fmt.Errorf("facts output truncated (no end marker)")
	}
	first := func(s string) string {
		if l := sec[s]; len(l) > 0 {
			return strings.TrimSpace(l[0])
		}
		return ""
	}
	if hostT, ok := parseEpoch(first("date")); ok {
		f.ClockOffset, f.ClockKnown = hostT.Sub(laptopMid), true
	}
	if v, err := strconv.Atoi(first("id")); err == nil {
		f.UID = v
	}
	if u := sec["uname"]; len(u) >= 2 {
		f.Machine, f.Kernel = strings.TrimSpace(u[0]), strings.TrimSpace(u[1])
		f.Arch = GoArch(f.Machine)
	}
	for _, l := range sec["os-release"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "PRETTY_NAME":
			f.OSName = v
		case "ID":
			f.OSID = v
		}
	}
	f.Init = parseInit(sec["init"])
	f.CPUs, _ = strconv.Atoi(first("nproc"))
	for _, l := range sec["meminfo"] {
		fs := strings.Fields(l)
		if len(fs) >= 2 {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			switch fs[0] {
			case "MemTotal:":
				f.MemBytes = kb << 10
			case "SwapTotal:":
				f.SwapBytes = kb << 10
			}
		}
	}
	f.Hostname = first("hostname")
	for _, l := range sec["df"] {
		fs := strings.Fields(l)
		if len(fs) == 2 {
			if kb, err := strconv.ParseInt(fs[1], 10, 64); err == nil {
				f.Free[fs[0]] = kb << 10
			}
		}
	}
	f.Listening = append(ParseProcNet("tcp", sec["tcp"]), ParseProcNet("udp", sec["udp"])...)
	f.DefaultRoute = HasDefaultRoute(sec["route"])
	// Writable unless the mount says ro: output without the section (older scripts) keeps /usr/local/bin.
	f.UsrLocalBinWritable = first("usrlocalbin") != "ro"
	switch first("selinux") {
	case "1":
		f.SELinux = "enforcing"
	case "0":
		f.SELinux = "permissive"
	}
	for _, l := range sec["k3s"] {
		k, v, _ := strings.Cut(l, " ")
		switch k {
		case "file":
			f.K3s.Files = append(f.K3s.Files, v)
		case "marker":
			f.K3s.Site = strings.TrimSpace(v)
		case "created":
			f.K3s.Created = true
		case "proc":
			f.K3s.Running = append(f.K3s.Running, v)
		}
	}
	return f, nil
}

func parseInit(lines []string) string {
	set := map[string]bool{}
	for _, l := range lines {
		set[strings.TrimSpace(l)] = true
	}
	switch {
	case set["systemd-running"]:
		return "systemd"
	case set["openrc-running"] || (set["openrc-installed"] && set["init"]):
		return "openrc"
	case len(lines) > 0:
		return strings.TrimSpace(lines[0])
	}
	return "unknown"
}

// GoArch maps `uname -m` to the platform names bundles use.
func GoArch(machine string) string {
	switch machine {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64", "aarch64_be":
		return "arm64"
	case "armv7l", "armv6l", "armhf", "arm":
		return "arm"
	}
	return machine
}

// ParseProcNet lists bound ports from /proc/net/{tcp,udp}[6] lines: listening TCP sockets (state 0A)
// and every bound UDP socket.
func ParseProcNet(proto string, lines []string) []Socket {
	var out []Socket
	seen := map[int]bool{}
	for _, l := range lines {
		fs := strings.Fields(l)
		if len(fs) < 4 || fs[0] == "sl" {
			continue
		}
		if proto == "tcp" && fs[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(fs[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil || p == 0 || seen[int(p)] {
			continue
		}
		seen[int(p)] = true
		out = append(out, Socket{Proto: proto, Port: int(p)})
	}
	return out
}

// HasDefaultRoute reports an IPv4 default route that is up in /proc/net/route lines.
func HasDefaultRoute(lines []string) bool {
	for _, l := range lines {
		fs := strings.Fields(l)
		if len(fs) < 8 || fs[0] == "Iface" {
			continue
		}
		flags, _ := strconv.ParseUint(fs[3], 16, 32)
		if fs[1] == "00000000" && fs[7] == "00000000" && flags&1 == 1 {
			return true
		}
	}
	return false
}

// parseEpoch reads `date +%s.%N`. busybox prints %N literally: whole seconds are enough for a 30 s bound.
func parseEpoch(d string) (time.Time, bool) {
	secs, frac, _ := strings.Cut(d, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var ns int64
	if len(frac) > 0 && len(frac) <= 9 {
		if v, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err == nil {
			ns = v
		}
	}
	return time.Unix(sec, ns), true
}
