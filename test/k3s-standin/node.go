package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/config"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/images"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/klipper"
	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/kubelet"
)

type nodeSpec struct {
	name, ip   string
	kubeconfig string // the node's own credentials
	server     string // API URL as this node reaches it
	ca         []byte
	role       string
}

type nodeRuntime struct {
	containerd *images.Containerd
}

func (n *nodeRuntime) stop() { n.containerd.Stop() }

// startNode runs this host's node: containerd, the air-gap image import, and the kubelet stand-in.
// It returns after the first import pass, as k3s's kubelet waits for the imports.
func startNode(ctx context.Context, log *slog.Logger, c *config.Config, p paths, s nodeSpec) (*nodeRuntime, error) {
	cd := &images.Containerd{
		Root:        filepath.Join(p.agent(), "containerd"),
		State:       filepath.Join(runDir(), "containerd"),
		Socket:      containerdSocket(),
		ConfigDir:   filepath.Join(p.agent(), "etc", "containerd"),
		Snapshotter: c.String("snapshotter"),
		LogFile:     filepath.Join(p.agent(), "containerd", "containerd.log"),
	}
	if err := cd.Start(ctx); err != nil {
		return nil, err
	}
	rt := &nodeRuntime{containerd: cd}
	runtimeVersion := "containerd://unknown"
	if out, err := cd.Ctr(ctx, nil, "version"); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Version:"); ok {
				runtimeVersion = "containerd://" + strings.TrimSpace(v) // the server's, which is printed last
			}
		}
	}

	restCfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		rt.stop()
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		rt.stop()
		return nil, err
	}
	labels := map[string]string{
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               runtime.GOARCH,
		"kubernetes.io/hostname":           s.name,
		"node.kubernetes.io/instance-type": "k3s",
		"beta.kubernetes.io/os":            "linux",
		"beta.kubernetes.io/arch":          runtime.GOARCH,
		"beta.kubernetes.io/instance-type": "k3s",
	}
	for _, l := range c.List("node-label") {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	var taints []corev1.Taint
	for _, t := range c.List("node-taint") {
		kv, effect, ok := strings.Cut(t, ":")
		if !ok {
			rt.stop()
			return nil, fmt.Errorf("node-taint %q: want key=value:Effect", t)
		}
		k, v, _ := strings.Cut(kv, "=")
		taints = append(taints, corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)})
	}
	kl := &kubelet.Kubelet{
		Client: cs, NodeName: s.name, Labels: labels, Taints: taints, InternalIP: s.ip,
		Version: version, Runtime: runtimeVersion, Images: cd, Log: log.With("component", "kubelet"),
		Klipper: &klipper.Runner{Node: cs, Server: s.server, CA: s.ca, Dir: p.helmRuns(),
			Log: func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...), "component", "klipper-helm") }},
	}
	kl.Init()
	im := &images.Importer{C: cd, Dir: p.images(), Log: log.With("component", "images"), OnImport: kl.Kick}
	if err := im.Start(ctx); err != nil {
		rt.stop()
		return nil, err
	}
	go func() {
		if err := kl.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("kubelet stand-in stopped", "err", err)
		}
	}()
	return rt, nil
}
