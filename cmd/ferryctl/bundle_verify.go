package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/payload"

	"github.com/ferry-delivery/ferry/internal/progress"
)

func init() { addBundleCommand(newBundleVerifyCmd) }

func newBundleVerifyCmd() *cobra.Command {
	var keyFiles []string
	cmd := &cobra.Command{
		Use:   "verify --key vendor.pub [--key ...] FILE",
		Short: "Check a bundle's signature against trusted keys and every member's checksum",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			trusted, err := trustedKeys(keyFiles)
			if err != nil {
				return err
			}
			b, err := payload.Open(args[0])
			if err != nil {
				return err
			}
			defer b.Close()
			sink, stop := stderrProgress(cmd.ErrOrStderr(), time.Second)
			v, err := b.Verify(cmd.Context(), trusted, sink)
			stop()
			if err != nil {
				if errors.Is(err, payload.ErrUntrusted) && !errors.Is(err, payload.ErrBadSignature) {
					fmt.Fprintf(cmd.ErrOrStderr(), "all %d members intact, but the bundle is not trusted\n", v.Members)
				}
				if len(trusted) == 0 {
					return fmt.Errorf("%w (no key trusted: %s)", err, untrustedHint)
				}
				return err
			}
			m := b.Manifest()
			fmt.Fprintf(cmd.OutOrStdout(), "OK: %s %s, %d members (%s) intact, signed by trusted key %s\n",
				m.App.Name, m.App.Version, v.Members, progress.Bytes(v.Bytes), v.KeyID)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&keyFiles, "key", "k", nil, "trusted public key file (PEM); repeat for several")
	return cmd
}
