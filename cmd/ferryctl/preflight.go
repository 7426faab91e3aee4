package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { addCommand(newPreflightCmd) }

func newPreflightCmd() *cobra.Command {
	var (
		sitePath, bundlePath      string
		needData, needBin         string
		archs, accept             []string
		fix, yes, dryRun, verbose bool
	)
	cmd := &cobra.Command{
		Use:   "preflight --site site.yaml [--bundle app.ferry]",
		Short: "Check that every host of a site can take k3s, and offer fixes",
		Long: `Connects to every host in the site file (verifying host keys), gathers facts with read-only
commands and prints a host x check table. Nothing changes on a host unless --fix is given and the
fixes are confirmed. Every remote command is recorded in the site's records directory (audit.jsonl).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := site.Load(sitePath)
			if err != nil {
				return err
			}
			nd, err := parseBytes(needData)
			if err != nil {
				return fmt.Errorf("--need-data: %w", err)
			}
			nb, err := parseBytes(needBin)
			if err != nil {
				return fmt.Errorf("--need-bin: %w", err)
			}
			if bundlePath != "" {
				// Structure only: preflight reads the manifest's platforms and sizes; install verifies.
				b, err := payload.Open(bundlePath)
				if err != nil {
					return err
				}
				req := installer.BundleRequirements(b.Manifest())
				b.Close()
				if !cmd.Flags().Changed("arch") {
					archs = req.Platforms
				}
				if !cmd.Flags().Changed("need-data") {
					nd = req.NeedData
				}
				if !cmd.Flags().Changed("need-bin") {
					nb = req.NeedBin
				}
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			o := installer.PreflightOptions{
				Options: installer.Options{
					AcceptHostKeys: accept,
					Prompt:         promptSecret(errOut),
					DryRun:         dryRun,
					Progress:       printEvents(errOut, verbose),
				},
				Platforms: archs, NeedData: nd, NeedBin: nb,
			}
			if fix {
				o.Consent = consentPrompt(cmd, yes || dryRun)
			}
			rep, err := installer.Preflight(cmd.Context(), s, o)
			if err != nil {
				return err
			}
			printReport(out, s, rep)
			if !rep.OK() {
				return fmt.Errorf("preflight found problems: fix them and run it again")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sitePath, "site", "site.yaml", "site file (see docs/site-file.md)")
	f.StringVar(&bundlePath, "bundle", "", "bundle whose platforms and sizes the hosts must fit (optional)")
	f.StringSliceVar(&archs, "arch", nil, "platforms to require without a bundle (amd64, arm64, arm); overrides the bundle's")
	f.StringSliceVar(&accept, "accept-host-key", nil, "accept a host key seen for the first time, by its SHA256:... fingerprint (repeatable)")
	f.StringVar(&needData, "need-data", "4GiB", "free space needed where k3s keeps its data and air-gap images (default from --bundle when given)")
	f.StringVar(&needBin, "need-bin", "200MB", "free space needed in /usr/local/bin for the k3s binary (default from --bundle when given)")
	f.BoolVar(&fix, "fix", false, "offer the fixes Ferry can apply (clock, hostname, default route) and apply them after confirmation")
	f.BoolVar(&yes, "yes", false, "with --fix: apply without asking")
	f.BoolVar(&dryRun, "dry-run", false, "with --fix: print the commands the fixes would run instead of running them")
	f.BoolVarP(&verbose, "verbose", "v", false, "print progress for every host")
	return cmd
}

// consentPrompt shows the fixes Ferry offers with the commands each runs, and returns them all once the
// user confirms (or at once when yes).
func consentPrompt(cmd *cobra.Command, yes bool) func([]preflight.Fix) []preflight.Fix {
	errOut := cmd.ErrOrStderr()
	return func(fixes []preflight.Fix) []preflight.Fix {
		fmt.Fprintln(errOut, "Ferry can fix these problems:")
		for _, f := range fixes {
			fmt.Fprintf(errOut, "  %s: %s\n", f.Host, f.Desc)
			for _, c := range f.Commands(time.Now()) {
				fmt.Fprintf(errOut, "      sudo %s\n", c.Line)
			}
		}
		if yes || confirm(cmd.InOrStdin(), errOut, "Apply them?") {
			return fixes
		}
		return nil
	}
}

func printReport(w io.Writer, s *site.Site, rep *installer.PreflightReport) {
	ids := preflight.IDs()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "HOST\t%s\n", strings.ToUpper(strings.Join(ids, "\t")))
	cell := map[string]preflight.Result{}
	for _, r := range rep.Results {
		cell[r.Host+"/"+r.Check] = r
	}
	for _, h := range s.Hosts {
		if err, ok := rep.Unreachable[h.Name]; ok && err != nil {
			fmt.Fprintf(tw, "%s\tunreachable\n", h.Name)
			continue
		}
		row := []string{h.Name}
		for _, id := range ids {
			if r, ok := cell[h.Name+"/"+id]; ok {
				row = append(row, r.Status.String())
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	var problems []string
	for _, h := range s.Hosts {
		if err := rep.Unreachable[h.Name]; err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", h.Name, err))
		}
		for _, id := range ids {
			if r, ok := cell[h.Name+"/"+id]; ok && r.Status != preflight.Pass {
				problems = append(problems, fmt.Sprintf("%s %s %s: %s\n    fix: %s", h.Name, id, r.Status, r.Detail, r.Fix))
			}
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(w)
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
	}
	for _, f := range rep.Fixed {
		fmt.Fprintf(w, "fixed: %s\n", f.Desc)
	}
	if len(rep.DrySteps) > 0 {
		fmt.Fprintln(w, "\ndry run: these commands would run:")
		for _, d := range rep.DrySteps {
			fmt.Fprintf(w, "  [%s] %s: %s\n", d.Phase, d.Host, d.Msg)
		}
	}
}

// printEvents prints phase starts, the phases not needed on this site, and host errors, and every host
// event when verbose.
func printEvents(w io.Writer, verbose bool) progress.Sink {
	return func(e progress.Event) {
		switch {
		case e.Host == "" && e.Msg == progress.MsgStarted:
			fmt.Fprintf(w, "==> %s\n", e.Phase)
		case e.Host == "" && e.Msg == progress.MsgNotNeeded:
			fmt.Fprintf(w, "==> %s: not needed\n", e.Phase)
		case e.Host != "" && (verbose || e.Err != nil):
			if e.Err != nil {
				fmt.Fprintf(w, "    %s: %s: %v\n", e.Host, e.Msg, e.Err)
			} else {
				fmt.Fprintf(w, "    %s: %s\n", e.Host, e.Msg)
			}
		}
	}
}

func promptSecret(w io.Writer) func(string) ([]byte, error) {
	return func(label string) ([]byte, error) {
		fd := int(os.Stdin.Fd())
		if !term.IsTerminal(fd) {
			return nil, fmt.Errorf("%s needed but stdin is not a terminal: name an environment variable in the site file", label)
		}
		fmt.Fprintf(w, "%s: ", label)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(w)
		return b, err
	}
}

func confirm(in io.Reader, w io.Writer, q string) bool {
	fmt.Fprintf(w, "%s [y/N] ", q)
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

// parseBytes reads sizes like 4GiB, 500MB, 1.5GB or a plain byte count.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suf string
		mul float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mul := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suf) {
			s, mul = strings.TrimSpace(strings.TrimSuffix(s, u.suf)), u.mul
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (try 4GiB or 500MB)", s)
	}
	return int64(v * mul), nil
}
