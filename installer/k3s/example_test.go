package k3s_test

import (
	"fmt"

	"github.com/ferry-delivery/ferry/installer/k3s"
)

func ExampleCluster_ConfigFor() {
	c := k3s.Cluster{FirstServer: "10.0.0.11", TLSSAN: []string{"k3s.site.example"}, Disable: []string{"traefik"}}
	cfg, err := c.ConfigFor(k3s.Node{Role: k3s.RoleServerJoin, Name: "srv-2", IP: "10.0.0.12"})
	if err != nil {
		panic(err)
	}
	b, _ := cfg.Render()
	fmt.Print(string(b))
	// Output:
	// disable:
	// - traefik
	// node-ip: 10.0.0.12
	// node-name: srv-2
	// server: https://10.0.0.11:6443
	// tls-san:
	// - k3s.site.example
	// token-file: /etc/rancher/k3s/ferry-token
	// write-kubeconfig-mode: "0600"
}

func ExampleParseToken() {
	tok, err := k3s.ParseToken("K10" + "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4" + "::server:hunter2hunter2hunter2")
	if err != nil {
		panic(err)
	}
	fmt.Println(tok) // a token printed by mistake shows no password
	// Output: K108f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4::server:<redacted>
}

func ExamplePlanUpgrade() {
	steps, err := k3s.PlanUpgrade([]k3s.UpgradeNode{
		{Host: "srv-1", Server: true, Version: "v1.32.6+k3s1"},
		{Host: "wk-1", Version: "v1.32.6+k3s1"},
	}, "v1.33.4+k3s1")
	if err != nil {
		panic(err)
	}
	for _, s := range steps {
		fmt.Println(s.Wave, s.Kind, s.Host)
	}
	_, err = k3s.PlanUpgrade([]k3s.UpgradeNode{{Host: "srv-1", Server: true, Version: "v1.31.2+k3s1"}}, "v1.33.4+k3s1")
	fmt.Println(err)
	// Output:
	// 0 snapshot srv-1
	// 1 stage-images srv-1
	// 1 stage-images wk-1
	// 2 swap-binary srv-1
	// 3 wait-ready srv-1
	// 4 swap-binary wk-1
	// 5 wait-ready wk-1
	// planning k3s upgrade to v1.33.4+k3s1: upgrade would skip a minor version: srv-1 runs v1.31.2+k3s1, target v1.33.4+k3s1; upgrade to v1.32 first
}
