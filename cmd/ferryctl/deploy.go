package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/appliance/remote"
	"github.com/ferry-delivery/ferry/payload"
)

func init() { addCommand(newDeployCmd) }

func newDeployCmd() *cobra.Command {
	var bc bundleChange
	var namespace string
	c := &cobra.Command{
		Use:   "deploy --site site.yaml --bundle app.ferry --key vendor.pub",
		Short: "Deploy the bundle's app on the installed site (images landed on every node first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bc.run(cmd, func(ctx context.Context, t *target, b *payload.Bundle, over map[string]any) (remote.Result, error) {
				return t.sess.Deploy(ctx, b, namespace, over)
			}, func(_ remote.Result, err error) bool { return err == nil })
		},
	}
	bc.register(c)
	c.Flags().StringVar(&namespace, "target-namespace", "", "namespace the app runs in (default: the app's name)")
	return c
}
