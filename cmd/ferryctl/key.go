package main

import (
	"crypto/ed25519"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/internal/trustedkeys"
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
	cmd.AddCommand(gen, newKeyTrustCmd(), newKeyTrustedCmd())
	return cmd
}

// trustDir is where the laptop's trusted keys live; --dir overrides it (tests, shared machines).
func trustDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return trustedkeys.DefaultDir()
}

func newKeyTrustCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "trust KEY.pub",
		Short: "Trust a vendor's public key on this machine: the wizard then shows its signed bundles as trusted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := trustDir(dir)
			if err != nil {
				return err
			}
			k, added, err := trustedkeys.Add(d, args[0])
			if err != nil {
				return err
			}
			if !added {
				fmt.Fprintf(cmd.OutOrStdout(), "key %s is already trusted (%s)\n", k.ID, k.Path)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trusting key %s: %s\n", k.ID, k.Path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "trusted keys folder (default <user config dir>/"+trustedkeys.DirName+")")
	return cmd
}

func newKeyTrustedCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "trusted",
		Short: "List the public keys this machine trusts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := trustDir(dir)
			if err != nil {
				return err
			}
			keys, err := trustedkeys.Load(d)
			for _, k := range keys {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s\n", k.ID, k.Path)
			}
			if len(keys) == 0 && err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "no trusted keys in %s\n", d)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "trusted keys folder (default <user config dir>/"+trustedkeys.DirName+")")
	return cmd
}
