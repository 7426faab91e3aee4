package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// Set with -ldflags -X at build time (mk/standin.mk).
var (
	version = "v1.35.8+standin"
	commit  = "unknown"
)

const usage = `k3s stand-in (a test double of k3s, NOT k3s) %s

Usage: k3s [--version] <command> [flags]

Commands:
  server          run a control plane and this node (flags and config.yaml keys as k3s)
  agent           join a server and run this node
  kubectl         kubectl against /etc/rancher/k3s/k3s.yaml
  ctr             ctr against the stand-in's containerd
  check-config    check this host can run the stand-in
  etcd-snapshot   save: copy the sqlite datastore consistently
`

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Printf(usage, version)
		return
	}
	if args[0] == "--version" || args[0] == "-v" || args[0] == "version" {
		printVersion()
		return
	}
	var err error
	switch args[0] {
	case "kubectl":
		os.Exit(runKubectl(args[1:]))
	case "ctr":
		err = execCtr(args[1:])
	case "check-config":
		os.Exit(checkConfig())
	case "etcd-snapshot":
		err = etcdSnapshot(args[1:])
	case "server", "agent":
		if len(args) > 1 && (args[1] == "--version" || args[1] == "-v") {
			printVersion()
			return
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		if args[0] == "server" {
			err = runServer(ctx, log, args[1:])
		} else {
			err = runAgent(ctx, log, args[1:])
		}
	default:
		err = fmt.Errorf("unknown command %q (try --help)", args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "k3s-standin:", err)
		os.Exit(1)
	}
}

func printVersion() {
	fmt.Printf("k3s version %s (%s)\ngo version %s\n", version, commit, runtime.Version())
}
