package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-delivery/ferry/payload"

	"github.com/ferry-delivery/ferry/internal/progress"
)

func init() { addBundleCommand(newBundleInspectCmd) }

// inspectReport is the --json output: the manifest plus what the file says about its signature. Nothing
// here is verified; `bundle verify` does that.
type inspectReport struct {
	File     string            `json:"file"`
	Size     int64             `json:"size"`
	Signed   bool              `json:"signed"`
	Signers  []string          `json:"signers,omitempty"`
	Manifest *payload.Manifest `json:"manifest"`
}

func newBundleInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect [--json] FILE",
		Short: "Show what a bundle carries (structure checked, content and signature not verified)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := payload.Open(args[0])
			if err != nil {
				return err
			}
			defer b.Close()
			fi, err := os.Stat(args[0])
			if err != nil {
				return err
			}
			rep := inspectReport{File: args[0], Size: fi.Size(), Signed: b.Signed(), Signers: b.SignerKeyIDs(), Manifest: b.Manifest()}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			m := rep.Manifest
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "Bundle:\t%s (%s, format %d)\n", rep.File, progress.Bytes(rep.Size), m.FormatVersion)
			fmt.Fprintf(tw, "App:\t%s %s\n", m.App.Name, m.App.Version)
			upgrade := m.App.UpgradeFrom
			if upgrade == "" {
				upgrade = "any version"
			}
			fmt.Fprintf(tw, "Upgrades from:\t%s\n", upgrade)
			fmt.Fprintf(tw, "k3s:\t%s\n", m.K3s.Version)
			if len(m.K3s.Disable) > 0 {
				fmt.Fprintf(tw, "k3s disabled:\t%s\n", strings.Join(m.K3s.Disable, ", "))
			}
			fmt.Fprintf(tw, "Platforms:\t%v\n", m.Platforms)
			fmt.Fprintf(tw, "Chart:\t%s %s (app %s)\n", m.Chart.Name, m.Chart.Version, m.Chart.AppVersion)
			schema := "none"
			if m.Schema != "" {
				schema = m.Schema
			}
			fmt.Fprintf(tw, "Values:\t%s (schema: %s)\n", m.Values, schema)
			sig := "unsigned (untrusted)"
			if rep.Signed {
				sig = fmt.Sprintf("signed by key %v (not yet verified: run `ferryctl bundle verify --key vendor.pub`)", rep.Signers)
			}
			fmt.Fprintf(tw, "Signature:\t%s\n", sig)
			tw.Flush()
			fmt.Fprintf(out, "\nImages (%d):\n", len(m.Images))
			for _, img := range m.Images {
				if img.Digest != "" {
					fmt.Fprintf(out, "  %s (upstream %s)\n", img.Ref, img.Digest)
				} else {
					fmt.Fprintf(out, "  %s\n", img.Ref)
				}
				plats := make([]string, 0, len(img.Platforms))
				for p := range img.Platforms {
					plats = append(plats, string(p))
				}
				sort.Strings(plats)
				for _, p := range plats {
					fmt.Fprintf(out, "    %-14s %s\n", p, img.Platforms[payload.Platform(p)])
				}
			}
			type agg struct {
				n    int
				size int64
			}
			roles := map[payload.Role]*agg{}
			var order []payload.Role
			for _, mem := range m.Members {
				a := roles[mem.Role]
				if a == nil {
					a = &agg{}
					roles[mem.Role] = a
					order = append(order, mem.Role)
				}
				a.n++
				a.size += mem.Size
			}
			fmt.Fprintf(out, "\nMembers (%d):\n", len(m.Members))
			tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, r := range order {
				fmt.Fprintf(tw, "  %s\t%d\t%s\n", r, roles[r].n, progress.Bytes(roles[r].size))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifest and signature facts as JSON")
	return cmd
}
