package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/ferry-delivery/ferry/internal/testimage"
	"github.com/ferry-delivery/ferry/test/lab"
)

// RevisionsLabID is the upgrade-revisions scenario's site lab (docs/testing.md: 10-19 appliance).
const RevisionsLabID = 13

// EnvRevisions must be "1" for TestUpgradeRevisionsOnLab to run (make stress-upgrade sets it);
// EnvRevisionsCount is how many upgrades it makes (default 8).
const (
	EnvRevisions      = "FERRY_E2E_REVISIONS"
	EnvRevisionsCount = "FERRY_E2E_REVISIONS_COUNT"
	// EnvRevisionsRestart "1": during each upgrade, k3s on the server is SIGKILLed as soon as the new
	// revision is deployed (systemd restarts it): what a loaded machine does when an embedded controller
	// loses its leader lease. The helm job pod's run has gone through by then; its final status may or
	// may not have been written.
	EnvRevisionsRestart = "FERRY_E2E_REVISIONS_RESTART"
)

// killWhenDeployed starts, on h, a watcher that SIGKILLs k3s once revision rev of the app's release is
// deployed (within a minute), and touches /run/ferry-killed-<rev> when it did.
func killWhenDeployed(t *testing.T, ctx context.Context, h lab.Host, app string, rev int) {
	t.Helper()
	script := fmt.Sprintf(`export PATH=$PATH:/usr/local/bin; end=$(($(date +%%s)+60)); while [ $(date +%%s) -lt $end ]; do `+
		`st=$(k3s kubectl get secret -n %s sh.helm.release.v1.%s.v%d -o jsonpath='{.metadata.labels.status}' 2>/dev/null); `+
		`if [ "$st" = deployed ]; then systemctl kill -s KILL k3s && touch /run/ferry-killed-%d; exit 0; fi; sleep 0.05; done`, app, app, rev, rev)
	if _, errOut, err := onHost(ctx, h, "nohup sh -c "+shellQuote(script)+" >/dev/null 2>&1 &"); err != nil {
		t.Fatalf("starting the k3s killer: %v: %s", err, errOut)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Upgrade after upgrade on the site lab, each checked for exactly one helm revision and one HelmChart
// spec write: Ferry's promise that nothing is applied twice, under whatever load the machine has (run it
// with a loaded machine to look for double applies). Each version changes a value only (same image).
func TestUpgradeRevisionsOnLab(t *testing.T) {
	s := bringUp(t, RevisionsLabID, "stress-upgrade", EnvRevisions, "upgrade revisions scenario")
	n := 8
	if v := os.Getenv(EnvRevisionsCount); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q", EnvRevisionsCount, v)
		}
	}
	restart := os.Getenv(EnvRevisionsRestart) == "1"
	img := testimage.Random(t, 1<<20, 2, "amd64")
	bundle := func(i int) string {
		version := fmt.Sprintf("%d.0.0", i)
		ref := imageRef + ":1.0.0"
		return s.writeBundle(t, shopBundle{version: version, images: map[string]v1.Image{ref: img},
			templates: []*chart.File{{Name: "templates/web.yaml", Data: []byte(deployment)}},
			values:    fmt.Sprintf("image: %s\nmarker: %q\n", ref, version)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	ferryctl, accept := s.cli(t, ctx, "revisions")
	run, pub := ferryctl.run, s.pub
	server := s.inv.Hosts[0]
	b := bundle(1)
	ferryctl.install(b, pub, accept)
	run("deploy v1", "deploy", "--bundle", b, "--key", pub)
	if r := releases(t, ctx, server, "shop"); len(r) != 1 || r[0].Status != "deployed" {
		t.Fatalf("releases after deploy: %+v\n%s", r, helmTrace(ctx, s.inv.Hosts, "shop"))
	}
	for i := 2; i <= n+1; i++ {
		b := bundle(i)
		before, gen := releases(t, ctx, server, "shop"), chartGeneration(t, ctx, server, "shop")
		step := fmt.Sprintf("upgrade to %d.0.0", i)
		if restart {
			killWhenDeployed(t, ctx, server, "shop", before[len(before)-1].Revision+1)
		}
		out, errOut, err := ferryctl.try(step, "upgrade", "--bundle", b, "--key", pub)
		if err != nil || !strings.Contains(out, fmt.Sprintf("shop is at %d.0.0", i)) {
			t.Fatalf("%s: %v\n%s\nstderr:\n%s\n%s", step, err, out, errOut, helmTrace(ctx, s.inv.Hosts, "shop"))
		}
		if restart {
			killed, _, _ := onHost(ctx, server, fmt.Sprintf("ls /run/ferry-killed-%d 2>/dev/null; PATH=$PATH:/usr/local/bin; until k3s kubectl get --raw /readyz >/dev/null 2>&1; do sleep 1; done", before[len(before)-1].Revision+1))
			t.Logf("MEASURE %s: k3s killed when the revision was deployed: %v", step, strings.TrimSpace(killed) != "")
			step += " (k3s killed)"
		}
		checkOneRevision(t, ctx, s.inv.Hosts, step, before, releases(t, ctx, server, "shop"), gen, chartGeneration(t, ctx, server, "shop"))
	}
	t.Logf("MEASURE whole scenario (%d upgrades): %s", n, time.Since(s.began).Round(time.Second))
}
