// Command demo prepares `make demo` (test/demo): DEMO bundles only, with the k3s stand-in.
//
//	demo bundles --state DIR --standin-dir bin     the key pair and hello-web-1.0.0/1.1.0.ferry in DIR
//	demo lab --id N                                lab N with 3 amd64 hosts ready to run containers: reused
//	                                               when all its hosts run (make demo again), else (re)booted
//	demo draft --state DIR --id N                  DIR/site.yaml from lab N's inventory, and the hosts'
//	                                               fingerprints to compare in the wizard
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/test/demo"
	"github.com/ferry-delivery/ferry/test/lab"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demo bundles|draft [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	state := fs.String("state", "", "the demo's state folder")
	standin := fs.String("standin-dir", "bin", "folder holding k3s-standin-amd64 and -arm64")
	id := fs.Int("id", 0, "the site lab's ID")
	_ = fs.Parse(os.Args[2:])
	if *state == "" && os.Args[1] != "lab" {
		fmt.Fprintln(os.Stderr, "demo: --state is required")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bundles":
		_, err = demo.Build(ctx, demo.Options{Dir: *state, StandinDir: *standin, Log: func(s string) { fmt.Println("demo:", s) }})
	case "draft":
		err = draft(*state, *id)
	case "lab":
		err = labUp(ctx, *id)
	default:
		err = fmt.Errorf("unknown verb %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// labUp reuses lab id when every host of it runs, else tears down what is left of it and boots it.
func labUp(ctx context.Context, id int) error {
	if l, err := lab.Open(lab.DefaultStateRoot, id); err == nil {
		st := l.Status()
		all := len(st) == 3
		for _, up := range st {
			all = all && up
		}
		if all {
			fmt.Printf("demo: reusing site lab %d (its 3 hosts run)\n", id)
			return nil
		}
	}
	if err := lab.Down(ctx, lab.DefaultStateRoot, id); err != nil {
		return err
	}
	spec := lab.Spec(3, 0)
	for i := range spec {
		spec[i].Containers = true
	}
	l, err := lab.Up(ctx, lab.Options{ID: id, Hosts: spec, Progress: func(e progress.Event) {
		fmt.Printf("demo: lab %s %s %s\n", e.Phase, e.Host, e.Msg)
	}})
	if err != nil {
		return err
	}
	fmt.Printf("demo: site lab %d up; inventory %s\n", id, l.InventoryPath())
	return nil
}

func draft(state string, id int) error {
	l, err := lab.Open(lab.DefaultStateRoot, id)
	if err != nil {
		return err
	}
	inv := l.Inventory()
	p := filepath.Join(state, "site.yaml")
	if err := demo.WriteDraft(p, inv); err != nil {
		return err
	}
	fmt.Printf("demo: site draft %s\n", p)
	fmt.Println("demo: the hosts' key fingerprints (compare them when the wizard asks you to trust each host):")
	for _, h := range inv.Hosts {
		fmt.Printf("        %-14s %-14s %s\n", h.Name, h.Address, h.Fingerprint)
	}
	return nil
}
