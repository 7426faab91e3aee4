package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { addCommand(newRollbackCmd) }

func newRollbackCmd() *cobra.Command {
	var f applianceFlags
	var to string
	var dryRun bool
	c := &cobra.Command{
		Use:   "rollback --site site.yaml [--to VERSION]",
		Short: "Re-apply a kept version of the app from the cluster's own records (no bundle needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			t, err := f.open(cmd.Context(), cmd.ErrOrStderr(), phaseSink(out), true)
			if err != nil {
				return err
			}
			defer t.Close()
			res, err := t.rollback(cmd.Context(), to, dryRun)
			if err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintf(out, "would roll %s back to %s (record %s)\n", t.app, res.Version, res.Record.ID)
				return nil
			}
			printChange(out, t, res)
			return nil
		},
	}
	f.register(c)
	f.registerWait(c)
	c.Flags().StringVar(&to, "to", "", "version to roll back to (default: the previous kept version)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show the version that would be re-applied and change nothing")
	return c
}
