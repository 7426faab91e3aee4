package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/internal/progress"
)

func init() { addCommand(newRollbackCmd) }

func newRollbackCmd() *cobra.Command {
	var f applianceFlags
	var to string
	var dryRun bool
	c := &cobra.Command{
		Use:   "rollback",
		Short: "Re-apply a kept version of the app from the cluster's own records (no bundle needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			o := f.options()
			o.DryRun = dryRun
			out := cmd.OutOrStdout()
			o.Sink = func(e progress.Event) {
				if e.Msg != "" {
					fmt.Fprintf(out, "[%s] %s\n", e.Phase, e.Msg)
				}
			}
			res, err := appliance.Rollback(cmd.Context(), cl, f.app, to, o)
			if err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintf(out, "would roll %s back to %s (record %s)\n", f.app, res.Version, res.Record.ID)
				return nil
			}
			fmt.Fprintf(out, "%s is at %s: %s\n", f.app, res.Version, res.Health)
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&to, "to", "", "version to roll back to (default: the previous kept version)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show the version that would be re-applied and change nothing")
	return c
}
