// Command lab runs Ferry's site lab: target hosts as systemd-nspawn machines on this machine.
//
//	lab up [--hosts N] [--arm64 M] [--containers] [--id ID] [--inventory FILE] [--wait DURATION]
//	lab status | inventory [--id ID]
//	lab down [--id ID] [--wait DURATION] [--force]
//	lab fault cut|restore|stop|start|foreign-k3s HOST [--id ID]
//	lab fault occupy|free HOST PORT | lab fault smallfs HOST [SIZE_MIB FREE_MIB]
//	lab run HOST COMMAND...
//	lab rootfs [--arch amd64,arm64]   (build the cached base rootfs only)
//
// HOST is a host's name or its number (1 = ferrylab<ID>-1). Needs root.
//
// up and down refuse a lab ID that a running process holds (a test run, see lab.LockPath) and name that
// process; --wait waits up to DURATION for it to end, and down --force tears the lab down under it. A
// lab made by `lab up` is not held once the command has exited, so any later `lab down` or test run of
// that ID may tear it down.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/test/lab"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lab up|down|status|inventory|fault|run|rootfs [flags] (see go doc ./test/lab/cmd/lab)")
	os.Exit(2)
}

func printer(e progress.Event) {
	msg := e.Msg
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	fmt.Fprintf(os.Stderr, "%s %-6s %-12s %s\n", e.Time.Format("15:04:05"), e.Phase, e.Host, msg)
}

type common struct {
	id        int
	stateRoot string
}

func flags(name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.IntVar(&c.id, "id", 0, "lab ID (0..99): bridge ferrylab<ID>, subnet 10.231.<ID>.0/24")
	fs.StringVar(&c.stateRoot, "state", lab.DefaultStateRoot, "directory holding labs' state")
	return fs
}

// parseInterleaved lets flags follow positional arguments (lab fault cut 2 --id 3).
func parseInterleaved(fs *flag.FlagSet, args []string) []string {
	var pos []string
	for {
		_ = fs.Parse(args)
		args = fs.Args()
		if len(args) == 0 {
			return pos
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func dispatch(ctx context.Context, verb string, args []string) error {
	var c common
	switch verb {
	case "up":
		fs := flags("up", &c)
		hosts := fs.Int("hosts", 3, "number of amd64 hosts")
		arm := fs.Int("arm64", 1, "number of arm64 hosts")
		containers := fs.Bool("containers", false, "prepare every host to run containerd")
		inv := fs.String("inventory", "", "also write the inventory to this file")
		cache := fs.String("cache", lab.CacheDir(), "rootfs cache directory ($FERRY_LAB_CACHE or "+lab.DefaultCacheDir+")")
		mirror := fs.String("mirror", "", "Debian mirror (default: the one apt uses)")
		wait := fs.Duration("wait", 0, "wait up to this long for a run holding the lab ID to end (default $"+lab.EnvLockWait+", else none)")
		_ = fs.Parse(args)
		spec := lab.Spec(*hosts, *arm)
		for i := range spec {
			spec[i].Containers = *containers
		}
		start := time.Now()
		l, err := lab.Up(ctx, lab.Options{ID: c.id, Hosts: spec, CacheDir: *cache, StateRoot: c.stateRoot, Mirror: *mirror, Progress: printer, LockWait: *wait})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "lab %d up in %s; inventory %s\n", c.id, time.Since(start).Round(time.Second), l.InventoryPath())
		if *inv != "" {
			return l.Inventory().Write(*inv)
		}
		return nil
	case "down":
		fs := flags("down", &c)
		wait := fs.Duration("wait", 0, "wait up to this long for a run holding the lab ID to end (default $"+lab.EnvLockWait+", else none)")
		force := fs.Bool("force", false, "tear the lab down even while a running process holds it (that run then fails)")
		_ = fs.Parse(args)
		if *force {
			if who := lab.Holder(c.stateRoot, c.id); who != "" {
				fmt.Fprintf(os.Stderr, "lab: --force: tearing lab %d down under %s\n", c.id, who)
			}
		}
		return lab.DownWith(ctx, c.stateRoot, c.id, lab.DownOptions{Wait: *wait, Force: *force})
	case "status":
		_ = flags("status", &c).Parse(args)
		if l, err := lab.Open(c.stateRoot, c.id); err == nil {
			for _, h := range l.Inventory().Hosts {
				fmt.Printf("%-14s %-12s %-6s running=%v\n", h.Name, h.Address, h.Arch, l.Status()[h.Name])
			}
		}
		if who := lab.Holder(c.stateRoot, c.id); who != "" {
			fmt.Printf("lab %d is held by %s\n", c.id, who)
		}
		leaks := lab.Leaks(c.stateRoot, c.id)
		if len(leaks) == 0 {
			fmt.Printf("lab %d: nothing on this machine\n", c.id)
		}
		for _, s := range leaks {
			fmt.Printf("lab %d has: %s\n", c.id, s)
		}
		return nil
	case "inventory":
		_ = flags("inventory", &c).Parse(args)
		l, err := lab.Open(c.stateRoot, c.id)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(l.Inventory(), "", "  ")
		fmt.Println(string(b))
		return nil
	case "rootfs":
		fs := flag.NewFlagSet("rootfs", flag.ExitOnError)
		arches := fs.String("arch", "amd64,arm64", "architectures to build")
		cache := fs.String("cache", lab.CacheDir(), "rootfs cache directory ($FERRY_LAB_CACHE or "+lab.DefaultCacheDir+")")
		_ = fs.Parse(args)
		mirror, err := lab.AptMirror("/etc/apt", lab.Suite)
		if err != nil {
			return err
		}
		start := time.Now()
		dirs, err := lab.EnsureRootfsAll(ctx, *cache, mirror, strings.Split(*arches, ","), printer)
		for a, d := range dirs {
			fmt.Printf("%s %s\n", a, d)
		}
		fmt.Printf("rootfs ready in %s\n", time.Since(start).Round(time.Second))
		if err != nil {
			return err
		}
		return nil
	case "fault", "run":
		fs := flags(verb, &c)
		pos := parseInterleaved(fs, args)
		l, err := lab.Open(c.stateRoot, c.id)
		if err != nil {
			return err
		}
		if verb == "run" {
			if len(pos) < 2 {
				usage()
			}
			out, err := l.Run(ctx, hostArg(c.id, pos[0]), strings.Join(pos[1:], " "))
			fmt.Print(out)
			return err
		}
		if len(pos) < 2 {
			usage()
		}
		return fault(ctx, l, pos[0], hostArg(c.id, pos[1]), pos[2:])
	}
	usage()
	return nil
}

func hostArg(id int, s string) string {
	if n, err := strconv.Atoi(s); err == nil {
		return lab.HostName(id, n)
	}
	return s
}

func intArg(args []string, i, def int) int {
	if i < len(args) {
		if n, err := strconv.Atoi(args[i]); err == nil {
			return n
		}
	}
	return def
}

func fault(ctx context.Context, l *lab.Lab, knob, host string, args []string) error {
	switch knob {
	case "cut":
		return l.CutLink(ctx, host)
	case "restore":
		return l.RestoreLink(ctx, host)
	case "stop":
		return l.Stop(ctx, host)
	case "start":
		return l.Start(ctx, host)
	case "occupy":
		return l.OccupyPort(ctx, host, intArg(args, 0, 6443))
	case "free":
		return l.FreePort(ctx, host, intArg(args, 0, 6443))
	case "smallfs":
		return l.SmallDataFS(ctx, host, intArg(args, 0, 64), intArg(args, 1, 4))
	case "foreign-k3s":
		return l.InstallForeignK3s(ctx, host)
	}
	return fmt.Errorf("unknown fault %q (cut restore stop start occupy free smallfs foreign-k3s)", knob)
}
