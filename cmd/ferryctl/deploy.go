package main

import (
	"github.com/spf13/cobra"
)

func init() { addCommand(newDeployCmd) }

func newDeployCmd() *cobra.Command {
	var f applianceFlags
	var bundlePath, namespace, valuesFile string
	var keyFiles []string
	c := &cobra.Command{
		Use:   "deploy --site site.yaml --bundle app.ferry --key vendor.pub",
		Short: "Deploy the bundle's app on the installed site (images landed on every node first)",
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
			res, err := t.sess.Deploy(cmd.Context(), b, namespace, over)
			if err != nil {
				return err
			}
			printChange(out, t, res)
			return nil
		},
	}
	f.register(c)
	f.registerWait(c)
	bundleFlags(c, &bundlePath, &keyFiles, &valuesFile)
	c.Flags().StringVar(&namespace, "target-namespace", "", "namespace the app runs in (default: the app's name)")
	return c
}
