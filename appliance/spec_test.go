package appliance

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
)

const replicasSchema = `{"$schema":"https://json-schema.org/draft-07/schema#","type":"object",
"properties":{"replicas":{"type":"integer","minimum":1},"image":{"type":"string"}},"required":["replicas"]}`

func TestBuildSpec(t *testing.T) {
	small := testChart(t, "shop", "1.2.0", replicasSchema, 0)
	big := testChart(t, "shop", "1.2.0", "", 40*1024)
	retry := helmv1.FailurePolicyRetry
	tests := []struct {
		name    string
		in      SpecInput
		wantErr error
		check   func(t *testing.T, s Spec)
	}{
		{name: "inline chart and safe defaults", in: SpecInput{App: "shop", Version: "1.2.0", Chart: small, TargetNamespace: "shop", JobImage: "rancher/klipper-helm:v0.9.4-build20250113", RecordID: "r1",
			Defaults: map[string]any{"replicas": 2, "db": map[string]any{"size": "1Gi", "host": "db"}}, Overrides: map[string]any{"db": map[string]any{"size": "5Gi"}}},
			check: func(t *testing.T, s Spec) {
				hc := s.Chart
				if hc.Namespace != DefaultNamespace || hc.Name != "shop" || hc.Spec.TargetNamespace != "shop" || !hc.Spec.CreateNamespace {
					t.Errorf("placement: %+v %+v", hc.ObjectMeta, hc.Spec)
				}
				if hc.Spec.FailurePolicy != helmv1.FailurePolicyAbort || *hc.Spec.BackOffLimit != DefaultBackOffLimit || hc.Spec.Timeout.Duration != DefaultTimeout {
					t.Errorf("safety fields: %v %v %v", hc.Spec.FailurePolicy, *hc.Spec.BackOffLimit, hc.Spec.Timeout)
				}
				raw, _ := base64.StdEncoding.DecodeString(hc.Spec.ChartContent)
				if string(raw) != string(small) || hc.Spec.Chart != "" || s.StaticChart != "" {
					t.Errorf("chart should travel inline")
				}
				if want := "db:\n  host: db\n  size: 5Gi\nreplicas: 2\n"; hc.Spec.ValuesContent != want {
					t.Errorf("values:\n%s", cmp.Diff(want, hc.Spec.ValuesContent))
				}
				if hc.Annotations[AnnotationRecord] != "r1" || hc.Annotations[AnnotationSpecHash] != s.Hash || hc.Annotations[AnnotationVersion] != "1.2.0" {
					t.Errorf("annotations %v", hc.Annotations)
				}
				if hc.Spec.JobImage == "" || s.ChartName != "shop" || !strings.HasPrefix(s.ChartDigest, "sha256:") {
					t.Errorf("job image / chart identity: %q %q %q", hc.Spec.JobImage, s.ChartName, s.ChartDigest)
				}
			}},
		{name: "large chart goes to the static charts dir", in: SpecInput{App: "shop", Version: "1.2.0", Chart: big, TargetNamespace: "shop", InlineLimit: 32 * 1024},
			check: func(t *testing.T, s Spec) {
				if s.Chart.Spec.ChartContent != "" || s.Chart.Spec.Chart != "https://%{KUBERNETES_API}%/static/charts/shop-1.2.0.tgz" {
					t.Errorf("chart %q", s.Chart.Spec.Chart)
				}
				if s.StaticChart != "/var/lib/rancher/k3s/server/static/charts/shop-1.2.0.tgz" {
					t.Errorf("static chart path %q", s.StaticChart)
				}
			}},
		{name: "retry policy and explicit knobs", in: SpecInput{App: "shop", Version: "1.2.0", Chart: small, TargetNamespace: "shop", FailurePolicy: retry, Timeout: 3 * time.Minute, BackOffLimit: new(int32(0)), Defaults: map[string]any{"replicas": 1}},
			check: func(t *testing.T, s Spec) {
				if s.Chart.Spec.FailurePolicy != retry || *s.Chart.Spec.BackOffLimit != 0 || s.Chart.Spec.Timeout.Duration != 3*time.Minute {
					t.Errorf("%+v", s.Chart.Spec)
				}
			}},
		{name: "reinstall refused", in: SpecInput{App: "shop", Version: "1.2.0", Chart: small, TargetNamespace: "shop", FailurePolicy: helmv1.FailurePolicyReinstall}, wantErr: ErrInvalidInput},
		{name: "bad app name", in: SpecInput{App: "Shop_1", Version: "1.2.0", Chart: small, TargetNamespace: "shop"}, wantErr: ErrInvalidInput},
		{name: "bad version", in: SpecInput{App: "shop", Version: "../x", Chart: small, TargetNamespace: "shop"}, wantErr: ErrInvalidInput},
		{name: "no target namespace", in: SpecInput{App: "shop", Version: "1.2.0", Chart: small}, wantErr: ErrInvalidInput},
		{name: "not a chart", in: SpecInput{App: "shop", Version: "1.2.0", Chart: []byte("nope"), TargetNamespace: "shop"}, wantErr: ErrInvalidInput},
		{name: "schema rejects override", in: SpecInput{App: "shop", Version: "1.2.0", Chart: small, TargetNamespace: "shop", Overrides: map[string]any{"replicas": "three"}}, wantErr: ErrInvalidValues},
		{name: "schema rejects a value below its minimum", in: SpecInput{App: "shop", Version: "1.2.0", Chart: small, TargetNamespace: "shop", Defaults: map[string]any{"replicas": 0}}, wantErr: ErrInvalidValues},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := BuildSpec(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

// Rollback re-applies a recorded spec, so building twice from equal inputs must give the same bytes,
// whatever order the value maps were filled in.
func TestBuildSpecDeterministic(t *testing.T) {
	c := testChart(t, "shop", "1.0.0", "", 0)
	mk := func(order []string) SpecInput {
		d := map[string]any{}
		for i, k := range order {
			d[k] = map[string]any{"n": i % 1, "k": k}
		}
		return SpecInput{App: "shop", Version: "1.0.0", Chart: c, TargetNamespace: "shop", Defaults: d}
	}
	a, err := BuildSpec(mk([]string{"a", "b", "c", "d", "e", "f"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildSpec(mk([]string{"f", "e", "d", "c", "b", "a"}))
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a.Chart)
	jb, _ := json.Marshal(b.Chart)
	if string(ja) != string(jb) || a.Hash != b.Hash {
		t.Fatalf("same inputs, different specs:\n%s", cmp.Diff(string(ja), string(jb)))
	}
	other := mk([]string{"a"})
	other.Overrides = map[string]any{"a": map[string]any{"k": "z"}}
	o, err := BuildSpec(other)
	if err != nil {
		t.Fatal(err)
	}
	if o.Hash == a.Hash {
		t.Fatal("different values, same spec hash")
	}
}

func TestMergeValues(t *testing.T) {
	tests := []struct {
		name                string
		defaults, overrides map[string]any
		want                map[string]any
	}{
		{"nil both", nil, nil, map[string]any{}},
		{"override scalar", map[string]any{"a": 1}, map[string]any{"a": 2}, map[string]any{"a": float64(2)}},
		{"deep merge", map[string]any{"db": map[string]any{"host": "x", "port": 5432}}, map[string]any{"db": map[string]any{"host": "y"}},
			map[string]any{"db": map[string]any{"host": "y", "port": float64(5432)}}},
		{"null deletes", map[string]any{"a": 1, "b": 2}, map[string]any{"b": nil}, map[string]any{"a": float64(1)}},
		{"list replaced not merged", map[string]any{"l": []any{1, 2}}, map[string]any{"l": []any{3}}, map[string]any{"l": []any{float64(3)}}},
		{"nested null deletes, null under a new map dropped", map[string]any{"db": map[string]any{"host": "x", "tls": true}}, map[string]any{"db": map[string]any{"tls": nil}, "new": map[string]any{"a": nil, "b": 1}},
			map[string]any{"db": map[string]any{"host": "x"}, "new": map[string]any{"b": float64(1)}}},
		{"map replaces scalar", map[string]any{"a": 1}, map[string]any{"a": map[string]any{"b": true}}, map[string]any{"a": map[string]any{"b": true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := json.Marshal(tc.defaults)
			got, err := MergeValues(tc.defaults, tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Error(d)
			}
			after, _ := json.Marshal(tc.defaults)
			if string(before) != string(after) {
				t.Error("defaults were modified")
			}
		})
	}
}
