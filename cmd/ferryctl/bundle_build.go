package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/packaging"
	"github.com/ferry-delivery/ferry/payload"

	"github.com/ferry-delivery/ferry/internal/progress"
)

func init() { addBundleCommand(newBundleBuildCmd) }

func newBundleBuildCmd() *cobra.Command {
	var specPath, out, keyPath, workDir string
	var unsigned bool
	var jobs int
	c := &cobra.Command{
		Use:   "build -f appliance.yaml -o app-1.2.0.ferry --key vendor.key",
		Short: "Build a signed bundle from an appliance spec",
		Long: `Build gathers k3s for every platform, the app's Helm chart and every image it uses (found by
rendering the chart, plus those listed in the spec), and writes one signed bundle. Downloads are kept in
the work directory, so re-running after a failure or Ctrl-C resumes. Registry credentials come from the
docker config (~/.docker/config.json). See docs/building-bundles.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" && !unsigned {
				return fmt.Errorf("no signing key: pass --key vendor.key (create one with `ferryctl key generate --out vendor`) or --unsigned")
			}
			spec, err := packaging.LoadSpec(specPath)
			if err != nil {
				return err
			}
			opts := packaging.BuildOptions{Out: out, WorkDir: workDir, Concurrency: jobs}
			if opts.Out == "" {
				opts.Out = spec.App.Name + "-" + spec.App.Version + ".ferry"
			}
			if keyPath != "" {
				if opts.Key, err = payload.LoadPrivateKey(keyPath); err != nil {
					return err
				}
			}
			sink, stop := stderrProgress(cmd.ErrOrStderr(), time.Second)
			opts.Progress = sink
			res, err := packaging.Build(cmd.Context(), spec, opts)
			stop()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s): %s %s, k3s %s, %s, %d images\n", res.Out, progress.Bytes(res.Size),
				res.App.Name, res.App.Version, res.K3sVersion, strings.Join(res.Platforms, " "), len(res.Images))
			for _, img := range res.Images {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s %s\n", img.Name, img.Digest)
			}
			if opts.Key == nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: the bundle is unsigned; sites will treat it as untrusted")
			}
			return nil
		},
	}
	c.Flags().StringVarP(&specPath, "file", "f", "appliance.yaml", "appliance spec")
	c.Flags().StringVarP(&out, "output", "o", "", "bundle file to write (default <app>-<version>.ferry)")
	c.Flags().StringVar(&keyPath, "key", "", "ed25519 private key (PEM) that signs the bundle")
	c.Flags().BoolVar(&unsigned, "unsigned", false, "write an unsigned bundle (for testing only)")
	c.Flags().StringVar(&workDir, "work-dir", "", "where downloads are kept between runs (default ~/.cache/ferry/build)")
	c.Flags().IntVar(&jobs, "jobs", packaging.DefaultConcurrency, "parallel image blob downloads")
	return c
}
