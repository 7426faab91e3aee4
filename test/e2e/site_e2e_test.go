package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/ferry-delivery/ferry/internal/testimage"
)

// LabID is this scenario's site lab (docs/testing.md: 4 end to end).
const LabID = 4

const (
	layerSize = 2 << 20 // random, incompressible: a changed layer dominates what an upgrade sends
	imageRef  = "registry.example/shop/web"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

// webBundle is shop at version with img, tagged imageRef:version, as its one image.
func webBundle(version string, img v1.Image) shopBundle {
	ref := imageRef + ":" + version
	return shopBundle{version: version, images: map[string]v1.Image{ref: img},
		templates: []*chart.File{{Name: "templates/web.yaml", Data: []byte(deployment)}}, values: "image: " + ref + "\n"}
}

// Install → Deploy v1 → Upgrade v2 (one layer changed) → Rollback to v1 → History, each step by the
// ferryctl binary against a 2-host lab site (server + agent) over SSH only.
func TestSiteLifecycleOnLab(t *testing.T) {
	s := bringUp(t, LabID, "test-e2e", "", "")
	img1 := testimage.Random(t, layerSize, 3, "amd64")
	img2, fresh := testimage.NextVersion(t, img1, layerSize)
	v1b := s.writeBundle(t, webBundle("1.0.0", img1))
	v2b := s.writeBundle(t, webBundle("2.0.0", img2))

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	ferryctl, accept := s.cli(t, ctx, "e2e")
	run, pub := ferryctl.run, s.pub // each step reads as the engineer's command line
	ferryctl.install(v1b, pub, accept)
	server := s.inv.Hosts[0]
	run("deploy v1", "deploy", "--bundle", v1b, "--key", pub)
	// Nothing is applied twice: each change is one HelmChart spec write and one helm revision.
	revs, gen := releases(t, ctx, server, "shop"), chartGeneration(t, ctx, server, "shop")
	if len(revs) != 1 || revs[0].Status != "deployed" || gen != 1 {
		t.Fatalf("after deploy: helm revisions %+v, HelmChart generation %d; want one deployed revision, generation 1\n%s", revs, gen, helmTrace(ctx, s.inv.Hosts, "shop"))
	}
	oneRevision := func(step string) {
		t.Helper()
		after, genAfter := releases(t, ctx, server, "shop"), chartGeneration(t, ctx, server, "shop")
		checkOneRevision(t, ctx, s.inv.Hosts, step, revs, after, gen, genAfter)
		revs, gen = after, genAfter
	}
	if out := run("status after deploy", "status"); !strings.Contains(out, "version: 1.0.0") || !strings.Contains(out, "health:  Healthy") {
		t.Fatalf("status after deploy:\n%s", out)
	} else {
		// The components as the real API server reports them: the Deployment's replicas, the Service's
		// address, ports and endpoints (from the controller manager's EndpointSlices).
		var dep, svc string
		for _, l := range strings.Split(out, "\n") {
			switch f := strings.Join(strings.Fields(l), " "); {
			case strings.HasPrefix(f, "Deployment shop/web "):
				dep = f
			case strings.HasPrefix(f, "Service shop/web "):
				svc = f
			}
		}
		if dep != "Deployment shop/web Ready 2/2 ready, rolled out" || !strings.HasPrefix(svc, "Service shop/web ") ||
			!strings.Contains(svc, " ClusterIP 10.43.") || !strings.Contains(svc, "80→8080/TCP, ") || !strings.Contains(svc, "/2 endpoints ready") {
			t.Fatalf("components in status after deploy:\n%s", out)
		}
	}

	// Upgrade: each node is sent the changed layer, v2's manifest and config, and tar framing; never the
	// two unchanged layers.
	out := run("upgrade v2", "upgrade", "--bundle", v2b, "--key", pub)
	if !strings.Contains(out, "shop is at 2.0.0") {
		t.Fatalf("upgrade output:\n%s", out)
	}
	sent := sentPerNode(t, out)
	if len(sent) != len(s.inv.Hosts) {
		t.Fatalf("upgrade reported bytes for %d nodes, want %d:\n%s", len(sent), len(s.inv.Hosts), out)
	}
	checkSent(t, "upgrade v2", sent, 3, newBlobBytes(t, img2, fresh))
	oneRevision("upgrade v2")

	out = run("rollback to v1", "rollback", "--to", "1.0.0")
	if !strings.Contains(out, "shop is at 1.0.0") {
		t.Fatalf("rollback output:\n%s", out)
	}
	oneRevision("rollback to v1")
	out = run("history", "history")
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^1 .*deploy\s+1\.0\.0\s+succeeded`),
		regexp.MustCompile(`(?m)^2 .*upgrade\s+2\.0\.0\s+succeeded`),
		regexp.MustCompile(`(?m)^3 .*rollback\s+1\.0\.0\s+succeeded`),
		regexp.MustCompile(`kept for rollback: \[1\.0\.0 2\.0\.0\]`),
	}
	for _, re := range want {
		if !re.MatchString(out) {
			t.Errorf("history lacks %s:\n%s", re, out)
		}
	}

	// Upgrade to v2 again keeping one version: every blob is already on the nodes (only an archive of
	// no blob travels, which re-names and re-pins the image), and v1's image is un-pinned and removed
	// from each node afterwards.
	out = run("upgrade v2 again, keep 1", "upgrade", "--bundle", v2b, "--key", pub, "--keep", "1")
	if !strings.Contains(out, "shop is at 2.0.0") {
		t.Fatalf("second upgrade output:\n%s", out)
	}
	checkSent(t, "upgrade v2 again", sentPerNode(t, out), 0, 0)
	oneRevision("upgrade v2 again")
	for _, h := range s.inv.Hosts {
		if want := fmt.Sprintf("pruned on %s: [%s:1.0.0]", h.Name, imageRef); !strings.Contains(out, want) {
			t.Errorf("second upgrade output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("MEASURE whole scenario: %s", time.Since(s.began).Round(time.Second))
}
