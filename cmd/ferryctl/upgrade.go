package main

import (
	"github.com/spf13/cobra"
)

func init() { addCommand(newUpgradeCmd) }

func newUpgradeCmd() *cobra.Command {
	var f applianceFlags
	var bundlePath, valuesFile string
	var keyFiles []string
	var allowDowngrade bool
	c := &cobra.Command{
		Use:   "upgrade --site site.yaml --bundle app.ferry --key vendor.pub",
		Short: "Upgrade the app to the bundle's version (only the blobs a node lacks are sent; rolls back by itself on failure)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.site == "" {
				return errNeedSite
			}
			b, over, err := bundleAndValues(cmd.Context(), bundlePath, keyFiles, valuesFile)
			if err != nil {
				return err
			}
			defer b.Close()
			out := cmd.OutOrStdout()
			t, err := f.open(cmd.Context(), cmd.ErrOrStderr(), phaseSink(out), false)
			if err != nil {
				return err
			}
			defer t.Close()
			res, err := t.sess.Upgrade(cmd.Context(), b, over, allowDowngrade)
			if err == nil || res.RolledBack {
				printChange(out, t, res)
			}
			return err
		},
	}
	f.register(c)
	f.registerWait(c)
	bundleFlags(c, &bundlePath, &keyFiles, &valuesFile)
	c.Flags().BoolVar(&allowDowngrade, "allow-downgrade", false, "apply a version older than the installed one")
	return c
}
