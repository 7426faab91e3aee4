package main

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	_ "modernc.org/sqlite" // registers "sqlite" (pure Go, as kine uses without cgo)

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/config"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/controlplane"
)

// runKubectl is kubectl itself, pointed at k3s.yaml unless KUBECONFIG or --kubeconfig says otherwise.
func runKubectl(args []string) int {
	if os.Getenv("KUBECONFIG") == "" {
		if _, err := os.Stat("/etc/rancher/k3s/k3s.yaml"); err == nil {
			os.Setenv("KUBECONFIG", "/etc/rancher/k3s/k3s.yaml")
		}
	}
	os.Args = append([]string{"kubectl"}, args...)
	cmd := kubectlcmd.NewDefaultKubectlCommand()
	return cli.Run(cmd)
}

// execCtr replaces this process with ctr, defaulting address and namespace as k3s does.
func execCtr(args []string) error {
	bin, err := exec.LookPath("ctr")
	if err != nil {
		return fmt.Errorf("finding ctr (install Debian's containerd package): %w", err)
	}
	env := os.Environ()
	if os.Getenv("CONTAINERD_ADDRESS") == "" {
		env = append(env, "CONTAINERD_ADDRESS="+containerdSocket())
	}
	if os.Getenv("CONTAINERD_NAMESPACE") == "" {
		env = append(env, "CONTAINERD_NAMESPACE=k8s.io")
	}
	return syscall.Exec(bin, append([]string{"ctr"}, args...), env)
}

// checkConfig checks what the stand-in needs (not the kernel options real k3s checks).
func checkConfig() int {
	fmt.Println("Verifying binaries in PATH (k3s stand-in: checks what the stand-in needs):")
	ok := true
	for _, b := range []string{"containerd", "ctr"} {
		if p, err := exec.LookPath(b); err == nil {
			fmt.Printf("- %s: %s: pass\n", b, p)
		} else {
			fmt.Printf("- %s: missing (install Debian's containerd package): fail\n", b)
			ok = false
		}
	}
	fmt.Printf("\nSystem:\n- arch: %s\n", runtime.GOARCH)
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		fmt.Printf("- kernel: %s\n", strings.TrimSpace(string(b)))
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err == nil {
		fmt.Println("- cgroups: /sys/fs/cgroup present: pass")
	} else {
		fmt.Println("- cgroups: /sys/fs/cgroup missing: fail")
		ok = false
	}
	if ok {
		fmt.Println("\nSTATUS: pass")
		return 0
	}
	fmt.Println("\nSTATUS: 1 (fail)")
	return 1
}

// etcdSnapshot implements `etcd-snapshot save`: a consistent copy of the sqlite datastore (VACUUM
// INTO, safe while the server runs). Real k3s refuses etcd-snapshot on sqlite; see docs/k3s-standin.md.
func etcdSnapshot(args []string) error {
	if len(args) == 0 || args[0] != "save" {
		return errors.New("usage: k3s etcd-snapshot save [--name NAME] [--data-dir DIR] [--etcd-snapshot-dir DIR]")
	}
	name := "on-demand"
	var rest []string
	for i := 1; i < len(args); i++ {
		if a := args[i]; a == "--name" && i+1 < len(args) {
			name = args[i+1]
			i++
		} else if v, ok := strings.CutPrefix(a, "--name="); ok {
			name = v
		} else {
			rest = append(rest, a)
		}
	}
	c, err := config.Load("server", rest, os.Getenv)
	if err != nil {
		return err
	}
	p := newPaths(c)
	db := controlplane.DBPath(p.server())
	if _, err := os.Stat(db); err != nil {
		return fmt.Errorf("no sqlite datastore at %s: %w", db, err)
	}
	dir := c.String("etcd-snapshot-dir")
	if dir == "" {
		dir = filepath.Join(p.server(), "db", "snapshots")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	host, _ := os.Hostname()
	out := filepath.Join(dir, fmt.Sprintf("%s-%s-%d", name, host, time.Now().Unix()))
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Exec("VACUUM INTO ?", out); err != nil {
		return fmt.Errorf("saving snapshot: %w", err)
	}
	if err := os.Chmod(out, 0o600); err != nil {
		return err
	}
	fmt.Printf("Snapshot %s saved.\n", out)
	return nil
}
