package appliance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func liveValues(t *testing.T, c *Cluster) string {
	t.Helper()
	hc, err := c.Helm.HelmV1().HelmCharts(DefaultNamespace).Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return hc.Spec.ValuesContent
}

// With KeepSiteValues, an upgrade given no values keeps the site's own (recorded with the running
// version) over the new version's defaults; values given replace them; without the option the new
// defaults alone apply. A rollback restores the site's values of the version it restores. Outside the
// cluster the recorded site values are redacted like the merged ones.
func TestUpgradeKeepsSiteValues(t *testing.T) {
	ctx := context.Background()
	c, o, _ := simCluster(t)
	v1 := bundle(t, "1.0.0", "ok")
	v1.Overrides = map[string]any{"site": "plant-7", "replicas": 3, "password": "hunter2"}
	if _, err := Deploy(ctx, c, v1, o); err != nil {
		t.Fatal(err)
	}

	keep := o
	keep.KeepSiteValues = true
	v2 := bundle(t, "2.0.0", "ok")
	v2.Overrides = nil
	if _, err := Upgrade(ctx, c, v2, keep); err != nil {
		t.Fatal(err)
	}
	vals := liveValues(t, c)
	for _, want := range []string{"site: plant-7", "replicas: 3", "image: registry.local/shop:2.0.0"} {
		if !strings.Contains(vals, want) {
			t.Errorf("after a keeping upgrade, values lack %q:\n%s", want, vals)
		}
	}

	// Values given replace the site's; the next keeping upgrade keeps those.
	v3 := bundle(t, "3.0.0", "ok")
	v3.Overrides = map[string]any{"site": "plant-8"}
	if _, err := Upgrade(ctx, c, v3, keep); err != nil {
		t.Fatal(err)
	}
	if vals := liveValues(t, c); !strings.Contains(vals, "site: plant-8") || strings.Contains(vals, "replicas: 3") {
		t.Errorf("values given did not replace the site's:\n%s", vals)
	}

	// Without the option, no values means the bundle's defaults alone.
	v4 := bundle(t, "4.0.0", "ok")
	v4.Overrides = nil
	if _, err := Upgrade(ctx, c, v4, o); err != nil {
		t.Fatal(err)
	}
	if vals := liveValues(t, c); strings.Contains(vals, "site:") {
		t.Errorf("an upgrade without KeepSiteValues kept the site's values:\n%s", vals)
	}

	// Rolling back to 2.0.0 brings its site values back, and a keeping upgrade after it keeps them.
	if _, err := Rollback(ctx, c, "shop", "2.0.0", o); err != nil {
		t.Fatal(err)
	}
	v5 := bundle(t, "5.0.0", "ok")
	v5.Overrides = nil
	if _, err := Upgrade(ctx, c, v5, keep); err != nil {
		t.Fatal(err)
	}
	if vals := liveValues(t, c); !strings.Contains(vals, "site: plant-7") || !strings.Contains(vals, "replicas: 3") {
		t.Errorf("after rollback to 2.0.0 and a keeping upgrade, values:\n%s", vals)
	}

	// The mirror on the laptop and History never hold the secret in plain text.
	err := filepath.Walk(o.RecordsDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("%s holds the site's secret in plain text", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := History(ctx, c, "shop", o)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, r := range h.Records {
		if strings.Contains(r.Overrides, "hunter2") {
			t.Errorf("history record %s %s: site values not redacted: %s", r.Version, r.Action, r.Overrides)
		}
		seen = seen || strings.Contains(r.Overrides, "site: plant-7")
	}
	if !seen {
		t.Error("no history record shows the site's values")
	}
}
