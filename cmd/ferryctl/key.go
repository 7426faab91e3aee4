package main

import (
	"crypto/ed25519"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/payload"
)

func init() { addCommand(newKeyCmd) }

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage bundle signing keys"}
	var out string
	gen := &cobra.Command{
		Use:   "generate --out NAME",
		Short: "Write a new ed25519 signing key pair: NAME.key (secret, mode 0600) and NAME.pub (give to sites)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := payload.GenerateKey()
			if err != nil {
				return err
			}
			if err := payload.WriteKeyPair(out, key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s%s (keep secret) and %s%s; key id %s\n",
				out, payload.PrivateKeySuffix, out, payload.PublicKeySuffix, payload.KeyID(key.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	gen.Flags().StringVarP(&out, "out", "o", "vendor", "base name of the key files")
	cmd.AddCommand(gen)
	return cmd
}
