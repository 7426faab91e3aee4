package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/appliance/remote"
	"github.com/ferry-delivery/ferry/payload"
)

func init() { addCommand(newUpgradeCmd) }

func newUpgradeCmd() *cobra.Command {
	var bc bundleChange
	var allowDowngrade bool
	c := &cobra.Command{
		Use:   "upgrade --site site.yaml --bundle app.ferry --key vendor.pub",
		Short: "Upgrade the app to the bundle's version (only the blobs a node lacks are sent; rolls back by itself on failure)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Without --values the site keeps its own settings (recorded with the running version) and the
			// new version's defaults apply under them, as the wizard does; --values replaces them.
			bc.f.keepSiteValues = true
			// A failed upgrade that rolled back still reports where the app now stands.
			return bc.run(cmd, func(ctx context.Context, t *target, b *payload.Bundle, over map[string]any) (remote.Result, error) {
				return t.sess.Upgrade(ctx, b, over, allowDowngrade)
			}, func(res remote.Result, err error) bool { return err == nil || res.RolledBack })
		},
	}
	bc.register(c)
	c.Flag("values").Usage = "YAML file of settings over the bundle's defaults; replaces the site's settings (without it the site keeps the ones it runs with)"
	c.Flags().BoolVar(&allowDowngrade, "allow-downgrade", false, "apply a version older than the installed one")
	return c
}
