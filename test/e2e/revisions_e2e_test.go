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

	"github.com/ferry-delivery/ferry/test/lab"
)

// RevisionsLabID is the upgrade-revisions scenario's site lab (docs/testing.md: 10-19 appliance).
const RevisionsLabID = 13

// EnvRevisions must be "1" for TestUpgradeRevisionsOnLab to run (make stress-upgrade sets it);
// EnvRevisionsCount is how many upgrades it makes (default 8).
const (
	EnvRevisions      = "FERRY_E2E_REVISIONS"
	EnvRevisionsCount = "FERRY_E2E_REVISIONS_COUNT"
)

// chartGeneration is the app's HelmChart metadata.generation: the API server moves it by one for each
// write that changes the spec (metadata and status writes leave it), so it counts spec writes.
func chartGeneration(t *testing.T, ctx context.Context, h lab.Host, app string) int {
	t.Helper()
	out, errOut, err := onHost(ctx, h, "PATH=$PATH:/usr/local/bin:/opt/bin k3s kubectl get helmchart -n ferry-system "+app+" -o jsonpath='{.metadata.generation}'")
	if err != nil {
		t.Fatalf("reading HelmChart %s: %v: %s", app, err, errOut)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("HelmChart %s generation %q", app, out)
	}
	return n
}

// checkOneRevision fails the test unless, from before to after one applied change, the app gained
// exactly one helm revision (deployed, every older one superseded) and its HelmChart exactly one spec
// write. On failure it logs what the server knows of the helm runs.
func checkOneRevision(t *testing.T, ctx context.Context, hosts []lab.Host, step string, before, after []release, genBefore, genAfter int) {
	t.Helper()
	ok := len(after) == len(before)+1 && genAfter == genBefore+1
	for i, r := range after {
		want := "superseded"
		if i == len(after)-1 {
			want = "deployed"
		}
		if r.Status != want {
			ok = false
		}
	}
	t.Logf("MEASURE %s: helm revisions %v -> %v, HelmChart generation %d -> %d", step, before, after, genBefore, genAfter)
	if !ok {
		t.Errorf("%s: want exactly one new helm revision (deployed, the others superseded) and one HelmChart spec write; revisions %+v -> %+v, generation %d -> %d\n%s",
			step, before, after, genBefore, genAfter, helmTrace(ctx, hosts, "shop"))
	}
}

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
	img := randomImage(t, 1<<20, 2)
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
		out := run(step, "upgrade", "--bundle", b, "--key", pub)
		if !strings.Contains(out, fmt.Sprintf("shop is at %d.0.0", i)) {
			t.Fatalf("%s output:\n%s", step, out)
		}
		checkOneRevision(t, ctx, s.inv.Hosts, step, before, releases(t, ctx, server, "shop"), gen, chartGeneration(t, ctx, server, "shop"))
	}
	t.Logf("MEASURE whole scenario (%d upgrades): %s", n, time.Since(s.began).Round(time.Second))
}
