package main

import (
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/appliance"
)

// applianceFlags are shared by the appliance verbs. Until site files land, a kubeconfig reachable from this
// machine is used directly (on a server, or through a tunnel the operator opened); the site-based path
// dials through the installer's SSH connection instead.
type applianceFlags struct {
	kubeconfig string
	app        string
	namespace  string
	records    string
}

func (f *applianceFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the site's cluster (k3s.yaml)")
	c.Flags().StringVar(&f.app, "app", "", "app name (its HelmChart)")
	c.Flags().StringVar(&f.namespace, "namespace", appliance.DefaultNamespace, "namespace of Ferry's records")
	c.Flags().StringVar(&f.records, "records", "", "site records directory to mirror history into")
	_ = c.MarkFlagRequired("kubeconfig")
	_ = c.MarkFlagRequired("app")
}

// applianceConnect turns kubeconfig bytes into a Cluster; tests swap it for fake clientsets.
var applianceConnect = func(kubeconfig []byte) (*appliance.Cluster, error) {
	var d net.Dialer
	return appliance.Connect(kubeconfig, d.DialContext)
}

func (f *applianceFlags) connect() (*appliance.Cluster, error) {
	b, err := os.ReadFile(f.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	return applianceConnect(b)
}

func (f *applianceFlags) options() appliance.Options {
	return appliance.Options{Namespace: f.namespace, RecordsDir: f.records}
}
