package main

import (
	"github.com/spf13/cobra"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ferryctl",
		Short:         "Build Ferry bundles and install, upgrade and roll back offline k3s sites",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	// Subcommands register themselves in their own files through addCommand.
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

// commands lists constructors of top-level subcommands; each subcommand's file appends to it in init, so
// parallel work on different verbs never edits the same file.
var commands []func() *cobra.Command

func addCommand(c func() *cobra.Command) { commands = append(commands, c) }
