package preflight

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Status of one check on one host.
type Status int

const (
	Pass Status = iota
	Warn
	Fail
)

func (s Status) String() string { return [...]string{"pass", "warn", "FAIL"}[s] }

// Result is one check's verdict on one host.
type Result struct {
	Check  string // stable id, e.g. "ports"
	Host   string
	Status Status
	// Detail says what was found; Fix says what to do, in plain words.
	Detail string
	Fix    string
	// AutoFix, if set, is a fix Ferry can apply itself with consent.
	AutoFix *Fix
}

// Options are the requirements a bundle and a site impose.
type Options struct {
	Site string
	// Platforms the bundle carries (amd64, arm64, arm).
	Platforms []string
	// Role per host name: server or agent.
	Roles   map[string]string
	DataDir string
	// NeedData is the bytes the data dir must have free (air-gap images, unpacked data, headroom);
	// NeedBin the bytes for the binary.
	NeedData int64
	NeedBin  int64
	// MaxClockSkew allowed between host and laptop (30 s if zero).
	MaxClockSkew time.Duration
}

// Check is a single-host rule.
type Check struct {
	ID    string
	Title string
	Run   func(o Options, f *Facts) Result
}

// Checks lists the single-host rules in display order.
var Checks = []Check{
	{"arch", "Architecture", checkArch},
	{"os", "Operating system", checkOS},
	{"init", "Init system", checkInit},
	{"cpu", "CPU", checkCPU},
	{"memory", "Memory", checkMemory},
	{"disk", "Free disk", checkDisk},
	{"ports", "Ports", checkPorts},
	{"clock", "Clock", checkClock},
	{"route", "Default route", checkRoute},
	{"selinux", "SELinux", checkSELinux},
	{"swap", "Swap", checkSwap},
	{"k3s", "Existing k3s", checkExisting},
	{"sudo", "Root access", checkSudo},
}

// CrossChecks are rules over all hosts together.
var CrossChecks = []struct {
	ID, Title string
	Run       func(o Options, all []*Facts) []Result
}{
	{"hostname", "Unique hostname", checkHostnames},
}

// IDs lists every check id in display order (table columns).
func IDs() []string {
	var ids []string
	for _, c := range Checks {
		ids = append(ids, c.ID)
	}
	for _, c := range CrossChecks {
		ids = append(ids, c.ID)
	}
	return ids
}

// Evaluate runs every check on every host's facts.
func Evaluate(o Options, all []*Facts) []Result {
	if o.MaxClockSkew == 0 {
		o.MaxClockSkew = 30 * time.Second
	}
	var out []Result
	for _, f := range all {
		for _, c := range Checks {
			r := c.Run(o, f)
			r.Check, r.Host = c.ID, f.Host
			out = append(out, r)
		}
	}
	for _, c := range CrossChecks {
		for _, r := range c.Run(o, all) {
			r.Check = c.ID
			out = append(out, r)
		}
	}
	return out
}

// Failed reports whether any result is a failure.
func Failed(rs []Result) bool {
	return slices.ContainsFunc(rs, func(r Result) bool { return r.Status == Fail })
}

func pass(detail string) Result { return Result{Status: Pass, Detail: detail} }
func warn(detail, fix string) Result {
	return Result{Status: Warn, Detail: detail, Fix: fix}
}
func fail(detail, fix string) Result {
	return Result{Status: Fail, Detail: detail, Fix: fix}
}

func checkArch(o Options, f *Facts) Result {
	if len(o.Platforms) == 0 {
		return pass(f.Arch + " (no bundle given: not compared)")
	}
	if slices.Contains(o.Platforms, f.Arch) {
		return pass(f.Arch)
	}
	return fail(fmt.Sprintf("host is %s (%s); the bundle carries %s", f.Arch, f.Machine, strings.Join(o.Platforms, ", ")),
		"use a bundle built with the "+f.Arch+" platform, or another host")
}

func checkOS(o Options, f *Facts) Result {
	d := strings.TrimSpace(f.OSName + ", kernel " + f.Kernel)
	if f.Kernel == "" {
		return fail("kernel version unknown", "check that uname works on the host")
	}
	var maj, min int
	fmt.Sscanf(f.Kernel, "%d.%d", &maj, &min)
	if maj < 4 || (maj == 4 && min < 15) {
		return fail(d, "k3s needs Linux 4.15 or newer: upgrade the kernel")
	}
	return pass(d)
}

func checkInit(o Options, f *Facts) Result {
	switch f.Init {
	case "systemd", "openrc":
		return pass(f.Init)
	}
	return fail("PID 1 is "+f.Init, "k3s needs systemd or OpenRC to supervise it: use a host that boots with one of them")
}

func checkCPU(o Options, f *Facts) Result {
	d := fmt.Sprintf("%d cores", f.CPUs)
	if f.CPUs < 1 {
		return fail("CPU count unknown", "check /proc/cpuinfo on the host")
	}
	if o.Roles[f.Host] == "server" && f.CPUs < 2 {
		return warn(d, "a k3s server wants 2 cores or more; it will be slow on one")
	}
	return pass(d)
}

const gib = 1 << 30

// Sizes in check results are binary (progress.Bytes), as on every other Ferry screen and in `df -h`.
func checkMemory(o Options, f *Facts) Result {
	d := progress.Bytes(f.MemBytes)
	min, want := int64(512<<20), int64(1*gib)
	if o.Roles[f.Host] == "server" {
		min, want = 1*gib, 2*gib
	}
	switch {
	case f.MemBytes < min:
		return fail(d, fmt.Sprintf("this role needs at least %s of memory: add memory or give the host another role", progress.Bytes(min)))
	case f.MemBytes < want:
		return warn(d, fmt.Sprintf("%s or more is recommended for this role", progress.Bytes(want)))
	}
	return pass(d)
}

func checkDisk(o Options, f *Facts) Result {
	type need struct {
		path string
		n    int64
	}
	needs := []need{{o.DataDir, o.NeedData}, {f.BinDirFor(), o.NeedBin}}
	var parts []string
	for _, n := range needs {
		free, ok := f.Free[n.path]
		if !ok {
			return fail("free space on "+n.path+" unknown", "check that df works on the host")
		}
		if free < n.n {
			return fail(fmt.Sprintf("%s has %s free, needs %s", n.path, progress.Bytes(free), progress.Bytes(n.n)),
				fmt.Sprintf("free %s on the filesystem holding %s, or choose another k3s.dataDir in the site file", progress.Bytes(n.n-free), n.path))
		}
		parts = append(parts, fmt.Sprintf("%s %s free", n.path, progress.Bytes(free)))
	}
	return pass(strings.Join(parts, ", "))
}

// RequiredPorts lists the ports a role needs free.
func RequiredPorts(role string) []Socket {
	ps := []Socket{{"tcp", 10250}, {"udp", 8472}}
	if role == "server" {
		ps = append([]Socket{{"tcp", 6443}, {"tcp", 2379}, {"tcp", 2380}}, ps...)
	}
	return ps
}

func checkPorts(o Options, f *Facts) Result {
	if len(f.K3s.Running) > 0 && f.K3s.Site == o.Site && o.Site != "" {
		return pass("held by this site's k3s")
	}
	var busy []string
	for _, p := range RequiredPorts(o.Roles[f.Host]) {
		if slices.Contains(f.Listening, p) {
			busy = append(busy, fmt.Sprintf("%d/%s", p.Port, p.Proto))
		}
	}
	if len(busy) > 0 {
		return fail("in use: "+strings.Join(busy, ", "),
			"stop the service using "+strings.Join(busy, ", ")+" (see `ss -lntup` on the host) or use another host")
	}
	return pass("free")
}

func checkClock(o Options, f *Facts) Result {
	if !f.ClockKnown {
		return warn("host clock unknown", "check the host's date by hand: TLS certificates fail with skew over 30 s")
	}
	skew := f.ClockOffset
	if skew < 0 {
		skew = -skew
	}
	d := fmt.Sprintf("%s off the laptop", skew.Round(100*time.Millisecond))
	if skew > o.MaxClockSkew {
		r := fail(d, "set the host clock (Ferry can set it from the laptop's clock)")
		r.AutoFix = &Fix{Kind: FixClock, Host: f.Host, Desc: "set the clock of " + f.Host + " from this laptop"}
		return r
	}
	return pass(d)
}

func checkRoute(o Options, f *Facts) Result {
	if f.DefaultRoute {
		return pass("present")
	}
	r := fail("no IPv4 default route", "k3s needs a default route, even a dummy one on an air-gapped network (Ferry can add one)")
	r.AutoFix = &Fix{Kind: FixRoute, Host: f.Host, Desc: "add a default route through a dummy interface " + DummyLink + " on " + f.Host +
		" (or, without the dummy driver, a gateway-less route on its own interface; not kept across reboots)"}
	return r
}

func checkSELinux(o Options, f *Facts) Result {
	switch f.SELinux {
	case "enforcing":
		return fail("enforcing", "k3s needs the container-selinux and k3s-selinux policy packages installed offline before it can run enforcing; install them or set SELinux to permissive")
	case "permissive":
		return warn("permissive", "k3s runs, but the k3s-selinux policy should be installed before enforcing")
	}
	return pass(f.SELinux)
}

func checkSwap(o Options, f *Facts) Result {
	if f.SwapBytes > 0 {
		return warn(progress.Bytes(f.SwapBytes)+" of swap on", "kubelet performs best without swap: `swapoff -a` and remove it from /etc/fstab")
	}
	return pass("off")
}

func checkExisting(o Options, f *Facts) Result {
	if !f.K3s.Present() {
		return pass("none")
	}
	found := strings.Join(append(append([]string{}, f.K3s.Files...), f.K3s.Running...), ", ")
	if f.K3s.Site != "" && f.K3s.Site == o.Site {
		return pass("this site's k3s (will resume or repair)")
	}
	if f.K3s.Site == "" && f.K3s.Created {
		// What the install phase resumes too: Ferry's created list, no marker yet (killed before the
		// node's files were written).
		return pass("an interrupted Ferry install (will resume): " + found)
	}
	if f.K3s.Site != "" {
		return fail("k3s of site "+f.K3s.Site+" found: "+found, "this host belongs to another Ferry site: remove it there, or run `ferryctl reset` for this host (erases that cluster's data)")
	}
	return fail("k3s not installed by Ferry found: "+found, "run `ferryctl reset` for this host to remove it (erases its data), or pick another host")
}

func checkSudo(o Options, f *Facts) Result {
	if f.UID == 0 {
		return pass("root login")
	}
	if f.Sudo != nil {
		return fail(f.Sudo.Error(), "give the login user sudo rights, or the sudo password (auth.sudoPasswordEnv or passwordPrompt)")
	}
	return pass("sudo works")
}

func checkHostnames(o Options, all []*Facts) []Result {
	by := map[string][]string{}
	for _, f := range all {
		by[strings.ToLower(f.Hostname)] = append(by[strings.ToLower(f.Hostname)], f.Host)
	}
	var out []Result
	for _, f := range all {
		others := slices.DeleteFunc(slices.Clone(by[strings.ToLower(f.Hostname)]), func(h string) bool { return h == f.Host })
		var r Result
		switch {
		case f.Hostname == "" || f.Hostname == "localhost":
			r = fail(fmt.Sprintf("hostname is %q", f.Hostname), "give the host a unique hostname (Ferry can set it to "+f.Host+")")
		case len(others) > 0:
			sort.Strings(others)
			r = fail(fmt.Sprintf("%q is also the hostname of %s", f.Hostname, strings.Join(others, ", ")),
				"k3s node names must be unique: rename the host (Ferry can set it to "+f.Host+")")
		default:
			r = pass(f.Hostname)
		}
		if r.Status == Fail {
			r.AutoFix = &Fix{Kind: FixHostname, Host: f.Host, Desc: "set the hostname of " + f.Host + " to " + f.Host, Value: f.Host}
		}
		r.Host = f.Host
		out = append(out, r)
	}
	return out
}
