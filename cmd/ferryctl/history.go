package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { addCommand(newHistoryCmd) }

func newHistoryCmd() *cobra.Command {
	var f applianceFlags
	c := &cobra.Command{
		Use:   "history --site site.yaml",
		Short: "List every version applied to the app, with the versions kept for rollback",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := f.open(cmd.Context(), cmd.ErrOrStderr(), nil, true)
			if err != nil {
				return err
			}
			defer t.Close()
			res, err := t.history(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SEQ\tSTARTED\tACTION\tVERSION\tSTATE\tREASON")
			for _, r := range res.Records {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Started.UTC().Format("2006-01-02 15:04:05Z"), r.Action, r.Version, r.State, r.Reason)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if res.Retention != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "kept for rollback: %v\n", res.Retention.Keep)
			}
			return nil
		},
	}
	f.register(c)
	return c
}
