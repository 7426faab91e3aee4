package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/appliancetest"
	"github.com/ferry-delivery/ferry/internal/testappliance"
)

// leakyChart fails helm's templating with a message quoting the password when values ask for it (as a
// chart's "fail" or "required" can), and marks the password secret in its schema.
func leakyChart(t *testing.T, version string) []byte {
	return appliancetest.ChartArchive(t, &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version},
		Schema:   []byte(`{"properties": {"db": {"properties": {"pass": {"type": "string", "writeOnly": true}}}}}`),
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte(`{{ if .Values.leak }}{{ fail (printf "database refused password %s" .Values.db.pass) }}{{ end -}}
apiVersion: v1
kind: ConfigMap
metadata: {name: shop}
data: {image: {{ .Values.image | quote }}}
`)}},
	})
}

// history, status and rollback print reasons and events that came from the cluster; a helm error that
// quotes a secret must reach the engineer's terminal scrubbed.
func TestCommandsPrintNoSecrets(t *testing.T) {
	c := testappliance.Cluster(t)
	kc := useCluster(t, c)
	records := t.TempDir()
	o := testappliance.Options()
	o.RecordsDir = records
	secrets := []string{"pass-one-1111", "pass-two-2222", "pass-three-3333", "tok-abcdef12"}
	for i, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		b := testappliance.Bundle(v, leakyChart(t, v))
		b.Defaults["leak"] = v == "3.0.0"
		b.Overrides = map[string]any{"db": map[string]any{"pass": secrets[i]}, "apiToken": secrets[3]}
		verb := appliance.Deploy
		if i > 0 {
			verb = appliance.Upgrade
		}
		_, err := verb(context.Background(), c, b, o)
		if v == "3.0.0" {
			if !errors.Is(err, appliance.ErrUnhealthy) {
				t.Fatalf("the leaking v3 must fail: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ferryctl := func(args ...string) string {
		stdout, stderr, err := run(t, append(args, "--kubeconfig", kc, "--app", "shop", "--records", records)...)
		text := stdout + stderr
		if err != nil {
			text += "\nerror: " + err.Error()
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("ferryctl %v printed secret %q:\n%s", args, s, text)
			}
		}
		return text
	}
	hist := ferryctl("history")
	if !strings.Contains(hist, "database refused password <redacted>") {
		t.Errorf("history should still tell the (scrubbed) cause of the failed upgrade:\n%s", hist)
	}
	ferryctl("status")
	if out := ferryctl("rollback", "--to", "1.0.0"); !strings.Contains(out, "shop is at 1.0.0") {
		t.Errorf("rollback:\n%s", out)
	}
	ferryctl("history")
	ferryctl("status")
}
