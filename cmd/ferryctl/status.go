package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/appliance"
)

func init() { addCommand(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var f applianceFlags
	var resume bool
	c := &cobra.Command{
		Use:   "status --site site.yaml",
		Short: "Show where the app truly stands (and settle a change left by a lost connection)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := f.open(cmd.Context(), cmd.ErrOrStderr(), nil, true)
			if err != nil {
				return err
			}
			defer t.Close()
			res, err := t.status(cmd.Context(), resume)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "app:     %s\nversion: %s\nrecord:  %s (%s %s)\nhealth:  %s\n", res.App, res.Version, res.Record.ID, res.Record.Action, res.Record.State, res.Health)
			for _, w := range res.Health.Waiting {
				fmt.Fprintf(out, "waiting: %s\n", w)
			}
			printComponents(out, res.Components)
			switch {
			case res.Orphaned && res.NotApplied:
				live := res.Version
				if live == "" {
					live = "no version"
				}
				fmt.Fprintf(out, "note:    %s to %s was interrupted before it was applied (%s is still live; nothing changed)\n", res.Record.Action, res.Record.Version, live)
				fmt.Fprintf(out, "next:    re-run the same %s to finish it, or roll back to abandon it\n", res.Record.Action)
			case res.Orphaned:
				fmt.Fprintln(out, "note:    this change was interrupted (connection lost); its state above is read from the cluster")
			}
			if res.SuggestRollbackTo != "" {
				fmt.Fprintf(out, "next:    roll back to %s\n", res.SuggestRollbackTo)
			}
			return nil
		},
	}
	f.register(c)
	f.registerWait(c)
	c.Flags().BoolVar(&resume, "resume", false, "keep waiting on an interrupted change (and roll back a failed upgrade)")
	return c
}

// printComponents lists the app's workloads, then its services, one line each: the same rows the
// wizard's Manage screen shows.
func printComponents(out io.Writer, cs []appliance.Component) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintln(out, "components:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, c := range cs {
		line := fmt.Sprintf("  %s\t%s/%s\t%s\t%s", c.Kind, c.Namespace, c.Name, c.State, c.Summary())
		if c.Reason != "" {
			line += "\t" + c.Reason
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}
