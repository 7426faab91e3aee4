package installlab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
	"github.com/ferry-delivery/ferry/test/lab"
)

// HALabID is the HA scenario's lab, so it can run beside TestInstallOnLab.
const HALabID = 2

// Environment of the helper process that TestHAKilledMidInstall kills.
const (
	envHelper      = "FERRY_INSTALLLAB_HELPER"
	envHelperSite  = "FERRY_INSTALLLAB_SITE"
	envHelperBndl  = "FERRY_INSTALLLAB_BUNDLE"
	envHelperKeys  = "FERRY_INSTALLLAB_HOSTKEYS"
	envHelperCache = "FERRY_INSTALLLAB_CACHE"
)

// TestInstallHelperProcess is the laptop process of TestHAKilledMidInstall: it runs Install and prints
// each progress event, until the parent kills it with SIGKILL.
func TestInstallHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process of TestHAKilledMidInstall")
	}
	s, err := site.Load(os.Getenv(envHelperSite))
	if err != nil {
		t.Fatal(err)
	}
	b, err := payload.Open(os.Getenv(envHelperBndl))
	if err != nil {
		t.Fatal(err)
	}
	_, err = installer.Install(context.Background(), s, b, installer.InstallOptions{
		Options: installer.Options{AcceptHostKeys: strings.Split(os.Getenv(envHelperKeys), ","),
			Progress: func(e progress.Event) { fmt.Printf("EVENT %s|%s|%s\n", e.Phase, e.Host, e.Msg) }},
		CacheDir: os.Getenv(envHelperCache), Consent: consentRoute,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Three servers (embedded-etcd HA shape: the first inits, the others join one at a time) and two agents,
// one amd64 and one arm64 (the combination in one run). The laptop
// process is killed (SIGKILL, no cleanup) while the second server is being configured; a re-run from a
// fresh process completes, every server is a Ready control-plane node and every agent a Ready node of its
// own arch, as a joined server (which serves the API itself) sees them.
func TestHAKilledMidInstall(t *testing.T) {
	binDir := lab.NeedEnv(t, EnvStandinBin, "test-install")
	l, inv := lab.TestSite(t, HALabID, []lab.HostSpec{
		{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true},
		{Arch: lab.AMD64, Containers: true}, {Arch: lab.ARM64, Containers: true},
	})
	servers := inv.Hosts[:3]
	bundlePath := testBundle(t, binDir)
	s, fps := labSite(t, inv, 3)
	cache := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	began := time.Now()
	helper := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestInstallHelperProcess$", "-test.v", "-test.count=1")
	helper.Env = append(os.Environ(), envHelper+"=1", envHelperSite+"="+s.Path("site.yaml"), envHelperBndl+"="+bundlePath,
		envHelperKeys+"="+strings.Join(fps, ","), envHelperCache+"="+cache)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		t.Log("helper: " + line)
		if strings.HasPrefix(line, "EVENT Join the other servers|"+inv.Hosts[1].Name+"|wrote") {
			helper.Process.Kill()
			killed = true
			break
		}
	}
	helper.Wait()
	if !killed {
		t.Fatal("the helper ended before reaching the second server's join")
	}
	t.Logf("MEASURE killed after %s", time.Since(began).Round(time.Second))

	res, err := installer.Install(ctx, s, mustOpen(t, bundlePath), installer.InstallOptions{
		Options:  installer.Options{AcceptHostKeys: fps, Progress: func(e progress.Event) { t.Logf("%s | %s | %s %v", e.Phase, e.Host, e.Msg, e.Err) }},
		CacheDir: cache, ReadyTimeout: 8 * time.Minute, Consent: consentRoute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE kill + resume to a Ready 3-server + 2-agent cluster: %s (%d changes in the re-run)", time.Since(began).Round(time.Second), len(res.Actions))
	for _, a := range res.Actions {
		if a.Host == inv.Hosts[0].Name && strings.HasPrefix(a.What, "uploaded") {
			t.Errorf("resume re-uploaded to the first server: %s", a.What)
		}
	}

	// Ask a joined server, not the first: it must serve the cluster's API itself.
	raw, err := l.Run(ctx, inv.Hosts[2].Name, "k3s kubectl get nodes -o json")
	if err != nil {
		t.Fatal(err)
	}
	var nl struct {
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(raw), &nl); err != nil {
		t.Fatal(err)
	}
	// name -> "control-plane/<arch>" or "agent/<arch>" for Ready nodes.
	ready := map[string]string{}
	for _, n := range nl.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				role := "agent"
				if n.Metadata.Labels["node-role.kubernetes.io/control-plane"] == "true" {
					role = "control-plane"
				}
				ready[n.Metadata.Name] = role + "/" + n.Metadata.Labels["kubernetes.io/arch"]
			}
		}
	}
	for i, h := range inv.Hosts {
		want := "agent/" + h.Arch
		if i < len(servers) {
			want = "control-plane/" + h.Arch
		}
		if ready[h.Name] != want {
			t.Errorf("%s is not a Ready %s node: %v", h.Name, want, ready)
		}
	}
	// Every server has every server's address in its config's tls-san.
	for _, h := range servers {
		cfg, _ := l.Run(ctx, h.Name, "cat /etc/rancher/k3s/config.yaml")
		for _, o := range servers {
			if !strings.Contains(cfg, "- "+o.Address+"\n") {
				t.Errorf("%s's tls-san lacks %s:\n%s", h.Name, o.Address, cfg)
			}
		}
	}
	if _, err := installer.Reset(ctx, s, installer.ResetOptions{Options: installer.Options{AcceptHostKeys: fps}}); err != nil {
		t.Fatal(err)
	}
	for _, h := range inv.Hosts {
		if out, _ := l.Run(ctx, h.Name, "ls -d /usr/local/bin/k3s /etc/rancher/k3s /var/lib/rancher/k3s /etc/systemd/system/k3s.service /etc/systemd/system/k3s-agent.service 2>/dev/null; true"); strings.TrimSpace(out) != "" {
			t.Errorf("%s after reset: %s", h.Name, out)
		}
	}
}

func mustOpen(t *testing.T, p string) *payload.Bundle {
	b, err := payload.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
