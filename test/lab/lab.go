package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
	"golang.org/x/crypto/ssh"
)

// ErrLabExists means Up found the lab's ID in use (running, or left over from a crashed run).
var ErrLabExists = errors.New("site lab already exists")

// ErrNotRoot means the lab was asked to change the machine without being root.
var ErrNotRoot = errors.New("the site lab needs root (it creates bridges, mounts and nspawn machines)")

// ErrNoHost means a knob named a host the lab does not have.
var ErrNoHost = errors.New("no such lab host")

// Files in a lab's state directory.
const (
	stateFile     = "state.json"
	inventoryFile = "inventory.json"
	keyFile       = "id_ed25519"
	passwordFile  = "ferry.password"
	knownHosts    = "known_hosts"
)

// Timeouts for a host to boot to SSH: an arm64 host runs every binary through qemu.
var bootTimeout = map[string]time.Duration{AMD64: 90 * time.Second, ARM64: 300 * time.Second}

type state struct {
	ID      int         `json:"id"`
	Created time.Time   `json:"created"`
	Hosts   []hostState `json:"hosts"`
}

// Lab is a running site. Its methods are safe for concurrent use.
type Lab struct {
	ID  int
	Dir string // state directory
	mu  sync.Mutex
	st  state
	// Sink receives progress of the lab's operations; nil discards.
	Sink progress.Sink
}

// Up builds the site opts asks for and boots it: base rootfs (cached), bridge, one nspawn machine per
// host, then waits until every host accepts SSH and has finished booting. On failure it tears down what
// it made. It refuses to start over a lab of the same ID that is still around (run Down first).
//
// Up claims the lab's ID for the life of this process (see LockPath): while another running process
// holds it, Up fails with ErrLabBusy naming that process, after waiting up to Options.LockWait.
func Up(ctx context.Context, opts Options) (_ *Lab, err error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	wait, err := lockWait(o.LockWait)
	if err != nil {
		return nil, err
	}
	// Before anything else: another run's lab of this ID must not even be looked at as leftovers.
	if err := claim(ctx, o.StateRoot, o.ID, wait); err != nil {
		return nil, fmt.Errorf("bringing lab %d up: %w", o.ID, err)
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if leaks := Leaks(o.StateRoot, o.ID); len(leaks) > 0 {
		return nil, fmt.Errorf("%w: lab %d: %s (run `lab down --id %d`)", ErrLabExists, o.ID, strings.Join(leaks, "; "), o.ID)
	}
	if err := subnetFree(o.ID); err != nil {
		return nil, err
	}
	if err := checkUpperFS(o.StateRoot); err != nil {
		return nil, err
	}
	mirror := o.Mirror
	if mirror == "" {
		if mirror, err = AptMirror("/etc/apt", Suite); err != nil {
			return nil, err
		}
	}
	l := &Lab{ID: o.ID, Dir: StateDir(o.StateRoot, o.ID), Sink: o.Progress, st: state{ID: o.ID, Created: time.Now().UTC()}}
	defer func() {
		if err != nil {
			if derr := Down(context.WithoutCancel(ctx), o.StateRoot, o.ID); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up the failed lab: %w", derr))
			}
		}
	}()

	var arches []string
	for _, h := range o.Hosts {
		if !contains(arches, h.Arch) {
			arches = append(arches, h.Arch)
		}
	}
	rootfs, err := EnsureRootfsAll(ctx, o.CacheDir, mirror, arches, o.Progress)
	if err != nil {
		return nil, err
	}
	for _, a := range arches {
		if a != hostArch() {
			if err := EnsureBinfmt(ctx, a); err != nil { // a cached rootfs does not prove binfmt is still set up
				return nil, err
			}
		}
	}

	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating lab state: %w", err)
	}
	rootKey, err := newKeyPair("ferry-lab")
	if err != nil {
		return nil, err
	}
	pw, err := newPassword(20)
	if err != nil {
		return nil, err
	}
	pwHash, err := shadowHash(ctx, pw)
	if err != nil {
		return nil, err
	}
	if err := writeSecret(filepath.Join(l.Dir, keyFile), rootKey.Private); err != nil {
		return nil, err
	}
	if err := writeSecret(filepath.Join(l.Dir, keyFile+".pub"), []byte(rootKey.authorizedLine("ferry-lab"))); err != nil {
		return nil, err
	}
	if err := writeSecret(filepath.Join(l.Dir, passwordFile), []byte(pw+"\n")); err != nil {
		return nil, err
	}
	for i, spec := range o.Hosts {
		n := i + 1
		l.st.Hosts = append(l.st.Hosts, hostState{N: n, Name: HostName(o.ID, n), Spec: spec, Address: hostAddr(o.ID, n), Rootfs: rootfs[spec.Arch]})
	}
	if err := l.save(); err != nil { // from here on Down knows every host, even if we crash
		return nil, err
	}
	if err := ensureBridge(ctx, o.ID); err != nil {
		return nil, err
	}
	for i := range l.st.Hosts {
		h := &l.st.Hosts[i]
		if err := l.createHost(ctx, h, rootKey, pwHash); err != nil {
			return nil, fmt.Errorf("preparing %s: %w", h.Name, err)
		}
	}
	if err := l.save(); err != nil {
		return nil, err
	}
	inv, err := l.writeInventory()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(l.st.Hosts))
	for i, h := range l.st.Hosts {
		names[i] = h.Name
	}
	if err := l.startHosts(ctx, inv, names...); err != nil {
		return nil, err
	}
	return l, nil
}

// startHosts boots the named hosts and waits for all of them to be ready.
func (l *Lab) startHosts(ctx context.Context, inv *Inventory, names ...string) error {
	if err := inv.CheckNetwork(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		hs, ok := l.hostState(name)
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoHost, name)
		}
		h, _ := inv.Host(name)
		if err := l.boot(&hs); err != nil {
			return err
		}
		l.Sink.Emit(progress.Event{Phase: "boot", Host: name, Msg: "booting " + hs.Spec.Arch})
		wg.Go(func() {
			bctx, cancel := context.WithTimeout(ctx, bootTimeout[hs.Spec.Arch])
			defer cancel()
			_, errs[i] = l.waitReady(bctx, h, l.Sink)
			// Seen once in a CI run (console log lost with the lab): nspawn died within 2 s of a first
			// boot while its sibling booted fine. Say so with the console's tail and boot it once more.
			if errors.Is(errs[i], errNspawnExited) && bctx.Err() == nil {
				l.Sink.Emit(progress.Event{Phase: "boot", Host: name, Msg: "retrying once: " + errs[i].Error()})
				if errs[i] = l.boot(&hs); errs[i] == nil {
					_, errs[i] = l.waitReady(bctx, h, l.Sink)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkUpperFS refuses a state root on a filesystem overlayfs cannot use for its upper layer.
func checkUpperFS(root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", root, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		return fmt.Errorf("checking %s: %w", root, err)
	}
	const overlayfsMagic, nfsMagic = 0x794c7630, 0x6969
	if st.Type == overlayfsMagic || st.Type == nfsMagic {
		return fmt.Errorf("%w: state directory %s is on overlayfs or NFS, which cannot hold overlay upper layers; pick one on ext4 or xfs", ErrBadOptions, root)
	}
	return nil
}

// Open returns the lab with ID id from its state on disk (for knobs run from another process).
func Open(stateRoot string, id int) (*Lab, error) {
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	l := &Lab{ID: id, Dir: StateDir(stateRoot, id)}
	b, err := os.ReadFile(filepath.Join(l.Dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("opening lab %d: %w (is it up?)", id, err)
	}
	if err := json.Unmarshal(b, &l.st); err != nil {
		return nil, fmt.Errorf("opening lab %d: %w", id, err)
	}
	return l, nil
}

func (l *Lab) save() error {
	l.mu.Lock()
	b, err := json.MarshalIndent(l.st, "", "  ")
	l.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(l.Dir, stateFile))
}

func (l *Lab) hostState(name string) (hostState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.st.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return hostState{}, false
}

func (l *Lab) setHostState(h hostState) error {
	l.mu.Lock()
	for i := range l.st.Hosts {
		if l.st.Hosts[i].Name == h.Name {
			l.st.Hosts[i] = h
		}
	}
	l.mu.Unlock()
	return l.save()
}

// Inventory describes the running site.
func (l *Lab) Inventory() *Inventory {
	l.mu.Lock()
	defer l.mu.Unlock()
	inv := &Inventory{Lab: LabName(l.ID), Bridge: LabName(l.ID), Subnet: Subnet(l.ID), KnownHostsFile: filepath.Join(l.Dir, knownHosts)}
	for _, h := range l.st.Hosts {
		ih := Host{
			Name: h.Name, Address: h.Address, Port: 22, Arch: h.Spec.Arch,
			User: "root", KeyFile: filepath.Join(l.Dir, keyFile),
			SudoUser: "ferry", PasswordFile: filepath.Join(l.Dir, passwordFile),
			HostKey: h.HostKey,
		}
		if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey)); err == nil {
			ih.Fingerprint = ssh.FingerprintSHA256(pk)
			ih.KnownHosts = knownHostsLine(h.Address, 22, pk)
		}
		inv.Hosts = append(inv.Hosts, ih)
	}
	return inv
}

// InventoryPath is where the lab writes its inventory file.
func (l *Lab) InventoryPath() string { return filepath.Join(l.Dir, inventoryFile) }

func (l *Lab) writeInventory() (*Inventory, error) {
	inv := l.Inventory()
	var kh strings.Builder
	for _, h := range inv.Hosts {
		kh.WriteString(h.KnownHosts + "\n")
	}
	if err := writeSecret(inv.KnownHostsFile, []byte(kh.String())); err != nil {
		return nil, err
	}
	return inv, inv.Write(l.InventoryPath())
}

// Client opens a root SSH connection to host name, verifying its host key; the lab's bridge is checked
// first so nothing is sent off the machine.
func (l *Lab) Client(ctx context.Context, name string) (*ssh.Client, error) {
	inv := l.Inventory()
	if err := inv.CheckNetwork(); err != nil {
		return nil, err
	}
	h, ok := inv.Host(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoHost, name)
	}
	return h.KeyClient(ctx)
}

// Run runs a shell command as root on host name and returns its stdout.
func (l *Lab) Run(ctx context.Context, name, cmd string) (string, error) {
	c, err := l.Client(ctx, name)
	if err != nil {
		return "", err
	}
	defer c.Close()
	out, _, err := Output(ctx, c, cmd, nil)
	if err != nil {
		return out, fmt.Errorf("on %s: %w", name, err)
	}
	return out, nil
}

// Status says, per host, whether its machine runs.
func (l *Lab) Status() map[string]bool {
	st := map[string]bool{}
	for _, h := range l.Inventory().Hosts {
		st[h.Name] = l.running(h.Name)
	}
	return st
}
