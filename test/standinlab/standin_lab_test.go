//go:build standinlab

package standinlab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/test/lab"
)

// LabID is the lab this scenario boots (the lab's own tests use 7 and 8, `make lab-up` 0).
const LabID = 5

func unit(kind string) string {
	// The install script's unit, as docs/k3s-contract.md section 3 lists it.
	return fmt.Sprintf(`[Unit]
Description=Lightweight Kubernetes (k3s stand-in)
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%%N
EnvironmentFile=-/etc/sysconfig/%%N
EnvironmentFile=-/etc/systemd/system/%%N.service.env
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/k3s %s

[Install]
WantedBy=multi-user.target
`, kind)
}

func TestStandinOnLab(t *testing.T) {
	if os.Getenv("FERRY_LAB") != "1" || os.Geteuid() != 0 {
		t.Skip("needs root and FERRY_LAB=1 (make test-standin-lab)")
	}
	binDir := os.Getenv("STANDIN_BIN_DIR")
	if binDir == "" {
		t.Fatal("STANDIN_BIN_DIR not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	began := time.Now()
	l, err := lab.Up(ctx, lab.Options{ID: LabID, Hosts: []lab.HostSpec{
		{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}, {Arch: lab.ARM64, Containers: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), "", LabID); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	t.Logf("MEASURE lab up (3 hosts): %s", time.Since(began).Round(time.Second))
	hosts := l.Inventory().Hosts
	server, agents := hosts[0], hosts[1:]

	install := func(h lab.Host, kind, config string) {
		t.Helper()
		c, err := l.Client(ctx, h.Name)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		bin, err := os.Open(filepath.Join(binDir, "k3s-standin-"+h.Arch))
		if err != nil {
			t.Fatal(err)
		}
		defer bin.Close()
		if _, stderr, err := lab.Output(ctx, c, "install -d /usr/local/bin && cat > /usr/local/bin/k3s.tmp && chmod 0755 /usr/local/bin/k3s.tmp && mv /usr/local/bin/k3s.tmp /usr/local/bin/k3s", bin); err != nil {
			t.Fatalf("uploading the stand-in to %s: %v %s", h.Name, err, stderr)
		}
		svc := "k3s"
		if kind == "agent" {
			svc = "k3s-agent"
		}
		script := fmt.Sprintf(`set -e
install -d -m 0755 /etc/rancher/k3s
umask 077
cat > /etc/rancher/k3s/config.yaml <<'CFG'
%sCFG
cat > /etc/systemd/system/%s.service <<'UNIT'
%sUNIT
systemctl daemon-reload
systemctl enable --now --no-block %s.service
`, config, svc, unit(kind), svc)
		if _, stderr, err := lab.Output(ctx, c, script, nil); err != nil {
			t.Fatalf("installing %s on %s: %v %s", svc, h.Name, err, stderr)
		}
	}

	install(server, "server", fmt.Sprintf("token: labsecret\ntls-san:\n  - %s\nwrite-kubeconfig-mode: \"0600\"\n", server.Address))
	var out string
	waitFor(t, 5*time.Minute, "server /readyz via k3s kubectl", func() error {
		out, err = l.Run(ctx, server.Name, "k3s kubectl get --raw /readyz")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "ok" {
			return fmt.Errorf("readyz %q", out)
		}
		return nil
	})
	active, _ := l.Run(ctx, server.Name, "systemctl is-active k3s.service")
	if strings.TrimSpace(active) != "active" {
		t.Errorf("k3s.service is %q after READY (Type=notify)", active)
	}
	token, err := l.Run(ctx, server.Name, "cat /var/lib/rancher/k3s/server/token")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		install(a, "agent", fmt.Sprintf("server: https://%s:6443\ntoken: %s\n", server.Address, strings.TrimSpace(token)))
	}

	want := map[string]string{server.Name: server.Arch}
	for _, a := range agents {
		want[a.Name] = a.Arch
	}
	waitFor(t, 8*time.Minute, "all Nodes Ready with their arch labels", func() error {
		out, err := l.Run(ctx, server.Name, "k3s kubectl get nodes -o json")
		if err != nil {
			return err
		}
		var nl struct {
			Items []struct {
				Metadata struct {
					Name   string            `json:"name"`
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Status struct {
					Conditions []struct{ Type, Status string } `json:"conditions"`
					NodeInfo   struct{ Architecture string }   `json:"nodeInfo"`
				} `json:"status"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &nl); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, n := range nl.Items {
			arch, ok := want[n.Metadata.Name]
			if !ok {
				return fmt.Errorf("unexpected node %s", n.Metadata.Name)
			}
			if n.Metadata.Labels["kubernetes.io/arch"] != arch || n.Status.NodeInfo.Architecture != arch {
				return fmt.Errorf("node %s arch label %q nodeInfo %q, want %s", n.Metadata.Name, n.Metadata.Labels["kubernetes.io/arch"], n.Status.NodeInfo.Architecture, arch)
			}
			ready := false
			for _, c := range n.Status.Conditions {
				ready = ready || (c.Type == "Ready" && c.Status == "True")
			}
			if !ready {
				return fmt.Errorf("node %s not Ready", n.Metadata.Name)
			}
			seen[n.Metadata.Name] = true
		}
		if len(seen) != len(want) {
			return fmt.Errorf("nodes %v, want %v", seen, want)
		}
		return nil
	})
	t.Logf("MEASURE lab up to 3 Nodes Ready: %s", time.Since(began).Round(time.Second))
	if v, err := l.Run(ctx, agents[len(agents)-1].Name, "k3s --version; uname -m"); err == nil {
		t.Logf("arm64 agent: %s", strings.ReplaceAll(strings.TrimSpace(v), "\n", " | "))
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}
