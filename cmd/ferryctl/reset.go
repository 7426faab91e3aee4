package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/site"
)

func init() { addCommand(newResetCmd) }

func newResetCmd() *cobra.Command {
	var (
		sitePath             string
		accept               []string
		yes, dryRun, verbose bool
	)
	cmd := &cobra.Command{
		Use:   "reset --site site.yaml [--yes]",
		Short: "Remove k3s and everything of the cluster from every host of the site",
		Long: `Runs Ferry's uninstall script on every host: stops k3s, kills its processes, unmounts, removes
its interfaces and rules, deletes the token files and exactly the paths the install created. The
cluster's data is gone afterwards; the site's records forget its token and kubeconfig.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := site.Load(sitePath)
			if err != nil {
				return err
			}
			errOut := cmd.ErrOrStderr()
			if !yes && !dryRun && !confirm(cmd.InOrStdin(), errOut,
				fmt.Sprintf("Remove k3s and all cluster data from the %d hosts of site %s?", len(s.Hosts), s.Name)) {
				return fmt.Errorf("reset not confirmed: nothing changed (pass --yes to skip the question)")
			}
			res, err := installer.Reset(cmd.Context(), s, installer.ResetOptions{Options: installer.Options{
				AcceptHostKeys: accept, Prompt: promptSecret(errOut), DryRun: dryRun, Progress: printEvents(errOut, verbose)}})
			if res != nil {
				for _, d := range res.DrySteps {
					fmt.Fprintf(cmd.OutOrStdout(), "[%s] %s: %s\n", d.Phase, d.Host, d.Msg)
				}
			}
			if err != nil {
				return err
			}
			if !dryRun {
				fmt.Fprintf(cmd.OutOrStdout(), "k3s removed from %d hosts (%d had none)\n", len(res.Reset), len(res.Clean))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sitePath, "site", "site.yaml", "site file (see docs/site-file.md)")
	f.StringSliceVar(&accept, "accept-host-key", nil, "accept a host key seen for the first time, by its SHA256:... fingerprint (repeatable)")
	f.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	f.BoolVar(&dryRun, "dry-run", false, "print the commands instead of running them")
	f.BoolVarP(&verbose, "verbose", "v", false, "print progress for every host")
	return cmd
}
