package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/payload"
)

func init() { addCommand(newInstallCmd) }

func newInstallCmd() *cobra.Command {
	var (
		sitePath, bundlePath string
		keyFiles, accept     []string
		dryRun, verbose      bool
		fix, yes             bool
		parallel             int
		timeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "install --site site.yaml --bundle app.ferry --key vendor.pub",
		Short: "Bootstrap the site's k3s cluster from a verified bundle",
		Long: `Verifies the bundle, then installs k3s on every host of the site over SSH: the first server,
the other servers one at a time, the agents in parallel; waits until every node is Ready and stores the
admin kubeconfig (0600) in the site's records. The preflight checks run first: any failure stops the
install before a host is changed (--fix offers Ferry's fixes, as ferryctl preflight does). Re-running resumes an interrupted install and changes
nothing on a finished one. --dry-run prints every command and upload instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := site.Load(sitePath)
			if err != nil {
				return err
			}
			trusted, err := trustedKeys(keyFiles)
			if err != nil {
				return err
			}
			b, err := payload.Open(bundlePath)
			if err != nil {
				return err
			}
			defer b.Close()
			if _, err := b.Verify(cmd.Context(), trusted, nil); err != nil {
				return fmt.Errorf("verifying %s: %w (%s)", bundlePath, err, untrustedHint)
			}
			errOut := cmd.ErrOrStderr()
			o := installer.InstallOptions{
				Options: installer.Options{AcceptHostKeys: accept, Prompt: promptSecret(errOut), DryRun: dryRun,
					Progress: printEvents(errOut, verbose), Parallel: parallel},
				ReadyTimeout: timeout,
			}
			if fix {
				o.Consent = consentPrompt(cmd, yes || dryRun)
			}
			res, err := installer.Install(cmd.Context(), s, b, o)
			if res != nil {
				for _, d := range res.DrySteps {
					fmt.Fprintf(cmd.OutOrStdout(), "[%s] %s: %s\n", d.Phase, d.Host, d.Msg)
				}
			}
			if err != nil {
				return err
			}
			if !dryRun {
				fmt.Fprintf(cmd.OutOrStdout(), "k3s is ready on %d hosts (%d changes, %s); kubeconfig: %s\n",
					len(s.Hosts), len(res.Actions), res.Took.Round(time.Second), res.Kubeconfig)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sitePath, "site", "site.yaml", "site file (see docs/site-file.md)")
	f.StringVar(&bundlePath, "bundle", "", "the bundle to install k3s from")
	f.StringArrayVarP(&keyFiles, "key", "k", nil, "trusted public key file (PEM); repeat for several")
	f.StringSliceVar(&accept, "accept-host-key", nil, "accept a host key seen for the first time, by its SHA256:... fingerprint (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be done on each host instead of doing it")
	f.BoolVarP(&verbose, "verbose", "v", false, "print progress for every host")
	f.BoolVar(&fix, "fix", false, "offer the fixes Ferry can apply to failed preflight checks (clock, hostname, default route) and apply them after confirmation")
	f.BoolVar(&yes, "yes", false, "with --fix: apply without asking")
	f.IntVar(&parallel, "parallel", 5, "hosts worked on at once (uploads, agent joins)")
	f.DurationVar(&timeout, "ready-timeout", 10*time.Minute, "how long each node and the cluster may take to become ready")
	_ = cmd.MarkFlagRequired("bundle")
	return cmd
}
