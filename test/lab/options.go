package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Defaults for where the lab keeps things. Both are on the machine's root filesystem (ext4 here), which
// overlayfs needs for its upper and work directories.
const (
	DefaultCacheDir  = "/var/cache/ferry-lab"
	DefaultStateRoot = "/var/lib/ferry-lab"
	// Prefix starts every name the lab gives to a kernel object, process or directory.
	Prefix = "ferrylab"
	// MaxID bounds lab IDs: the ID is the third octet of the lab's subnet and part of its names.
	MaxID = 99
	// MaxHosts keeps "vb-ferrylab<ID>-<n>" within the kernel's 15-character interface names (two digits of
	// ID plus one of host: "vb-ferrylab99-9" is 15).
	MaxHosts = 9
)

// Arch names follow Debian (and GOARCH, which agrees for the two the lab supports).
const (
	AMD64 = "amd64"
	ARM64 = "arm64"
)

// ErrBadOptions marks options that were refused before anything was changed.
var ErrBadOptions = errors.New("bad lab options")

// HostSpec describes one host of the site.
type HostSpec struct {
	// Arch is AMD64 or ARM64.
	Arch string `json:"arch"`
	// Containers prepares the host to run containerd: an ext4 directory bound over /var/lib/rancher and
	// /var/lib/containerd (overlay-on-overlay fails for container snapshots), the @keyring system calls
	// allowed, and a boot unit that remounts the cgroup v1 controllers read-write.
	Containers bool `json:"containers,omitempty"`
}

// Options says what site Up builds. The zero value plus Hosts is usable.
type Options struct {
	// ID picks the lab (0..MaxID): bridge ferrylab<ID>, subnet 10.231.<ID>.0/24. Two labs with different
	// IDs can run side by side.
	ID int
	// Hosts lists the site's hosts, named ferrylab<ID>-1, -2, ... in this order.
	Hosts []HostSpec
	// CacheDir holds the cached base rootfs images; if empty, $FERRY_LAB_CACHE, else DefaultCacheDir.
	CacheDir string
	// StateRoot holds each lab's state directory (StateRoot/ferrylab<ID>); DefaultStateRoot if empty.
	StateRoot string
	// Mirror is the Debian mirror for debootstrap; if empty, the one apt on this machine uses.
	Mirror string
	// Progress receives what Up is doing; nil discards.
	Progress progress.Sink
	// LockWait is how long Up waits for another process holding this lab ID to end; 0 means
	// $FERRY_LAB_LOCK_WAIT, else not at all (ErrLabBusy at once).
	LockWait time.Duration
}

// Spec builds a Hosts list of amd64 hosts followed by arm64 hosts.
func Spec(amd64, arm64 int) []HostSpec {
	var hs []HostSpec
	for range amd64 {
		hs = append(hs, HostSpec{Arch: AMD64})
	}
	for range arm64 {
		hs = append(hs, HostSpec{Arch: ARM64})
	}
	return hs
}

func (o *Options) withDefaults() Options {
	c := *o
	if c.CacheDir == "" {
		c.CacheDir = CacheDir()
	}
	if c.StateRoot == "" {
		c.StateRoot = DefaultStateRoot
	}
	return c
}

func (o *Options) validate() error {
	if o.ID < 0 || o.ID > MaxID {
		return fmt.Errorf("%w: lab ID %d out of range 0..%d", ErrBadOptions, o.ID, MaxID)
	}
	if len(o.Hosts) == 0 {
		return fmt.Errorf("%w: no hosts requested (ask for at least one, e.g. --hosts 3)", ErrBadOptions)
	}
	if len(o.Hosts) > MaxHosts {
		return fmt.Errorf("%w: %d hosts requested, at most %d fit the lab's names", ErrBadOptions, len(o.Hosts), MaxHosts)
	}
	for i, h := range o.Hosts {
		if h.Arch != AMD64 && h.Arch != ARM64 {
			return fmt.Errorf("%w: host %d has arch %q (want %s or %s)", ErrBadOptions, i+1, h.Arch, AMD64, ARM64)
		}
	}
	if !filepath.IsAbs(o.withDefaults().CacheDir) || !filepath.IsAbs(o.withDefaults().StateRoot) {
		return fmt.Errorf("%w: cache and state directories must be absolute paths", ErrBadOptions)
	}
	return nil
}

// CacheDir is where the base rootfs images are cached: $FERRY_LAB_CACHE when set (e.g. to measure a cold
// run without throwing away the machine's cache), else DefaultCacheDir.
func CacheDir() string {
	if d := os.Getenv("FERRY_LAB_CACHE"); d != "" {
		return d
	}
	return DefaultCacheDir
}

// Names of the lab's kernel objects, all derived from the ID so Down can find them without state.

// LabName is the lab's name, also its bridge's name.
func LabName(id int) string { return fmt.Sprintf("%s%d", Prefix, id) }

// HostName is the hostname and machine name of host n (1-based).
func HostName(id, n int) string { return fmt.Sprintf("%s-%d", LabName(id), n) }

// vethName is the host side of the veth nspawn creates for a machine on a bridge.
func vethName(machine string) string { return "vb-" + machine }

// Subnet returns the lab's /24 prefix, e.g. "10.231.3".
func subnetPrefix(id int) string { return fmt.Sprintf("10.231.%d", id) }

// Subnet is the lab's private subnet in CIDR form; it exists only on the lab's bridge.
func Subnet(id int) string { return subnetPrefix(id) + ".0/24" }

func bridgeAddr(id int) string { return subnetPrefix(id) + ".1" }

func hostAddr(id, n int) string { return fmt.Sprintf("%s.%d", subnetPrefix(id), 10+n) }

// StateDir is where lab ID keeps its state under root.
func StateDir(root string, id int) string { return filepath.Join(root, LabName(id)) }
