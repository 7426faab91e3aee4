package installer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
)

// kubeconfigPhase reads k3s.yaml from the first server, points it at the first server's address (which
// the install put in tls-san) and stores it 0600 in the site's records.
type kubeconfigPhase struct {
	c *cluster
	m *phase.Manager
}

func (p *kubeconfigPhase) ID() string                       { return "kubeconfig" }
func (p *kubeconfigPhase) Title() string                    { return "Fetch the kubeconfig" }
func (p *kubeconfigPhase) Prepare(m *phase.Manager) error   { p.m = m; return nil }
func (p *kubeconfigPhase) DryRun(ctx context.Context) error { return p.Run(ctx) }

func (p *kubeconfigPhase) Run(ctx context.Context) error {
	first := p.c.firstServer()
	dst := filepath.Join(p.c.st.site.RecordsDir(), KubeconfigRecord)
	if p.m.DryRun {
		p.m.Record(first.Name, "read "+k3s.KubeconfigFile+", point it at https://"+first.Address+":6443, store it as "+dst+" (0600)")
		return nil
	}
	h, err := p.c.conn(first.Name)
	if err != nil {
		return err
	}
	raw, err := h.ReadFile(ctx, k3s.KubeconfigFile)
	if err != nil {
		return fmt.Errorf("reading the kubeconfig from %s: %w", first.Name, err)
	}
	kc, err := k3s.RewriteKubeconfig(raw, first.Address, p.c.definition().TLSSAN, p.c.st.site.Name)
	if err != nil {
		return fmt.Errorf("rewriting the kubeconfig of %s: %w", first.Name, err)
	}
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, kc) {
		if fi, err := os.Stat(dst); err == nil && fi.Mode().Perm() == 0o600 {
			p.c.skip(p.Title(), "", dst)
			return nil
		}
	}
	if err := writeRecord(p.c.st.site.RecordsDir(), KubeconfigRecord, kc); err != nil {
		return fmt.Errorf("storing the kubeconfig: %w", err)
	}
	p.c.record(p.Title(), "", "stored "+dst)
	return nil
}
