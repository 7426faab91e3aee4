package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStoreRecordsAndRestoresExactSpec(t *testing.T) {
	c, kube, _ := fakeCluster(t)
	ctx := context.Background()
	dir := t.TempDir()
	st := NewStore(c, "", dir)
	if err := st.EnsureNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	tgz := testChart(t, "shop", "1.0.0", "", 0)
	spec, err := BuildSpec(SpecInput{App: "shop", Version: "1.0.0", Chart: tgz, TargetNamespace: "shop", Overrides: map[string]any{"password": "hunter2"},
		ValuesKey: testValuesKey})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := st.PutChart(ctx, "shop", tgz)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := st.PutChart(ctx, "shop", tgz); err != nil || again != ref {
		t.Fatalf("storing the same chart twice: %v %q", err, again)
	}
	rec := &Record{App: "shop", Version: "1.0.0", ChartDigest: spec.ChartDigest, SpecHash: spec.Hash, ChartRef: ref, State: StateInProgress, Started: time.Unix(100, 0).UTC(),
		ValuesRef: spec.ValuesSecret, SecretValues: spec.SecretValues}
	if err := recordSpec(rec, spec.Chart); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	second := *rec
	if err := st.Create(ctx, &second); err != nil {
		t.Fatal(err)
	}
	if rec.ID != "ferry-record-shop-000001" || second.Seq != 2 {
		t.Fatalf("ids %s %d", rec.ID, second.Seq)
	}
	rec.State = StateSucceeded
	if err := st.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx, "shop")
	if err != nil || len(list) != 2 || list[0].State != StateSucceeded {
		t.Fatalf("list: %v %+v", err, list)
	}
	// Values may hold site secrets: records are Secrets in the cluster, 0600 files on the laptop.
	sec, err := kube.CoreV1().Secrets(DefaultNamespace).Get(ctx, rec.ID, metav1.GetOptions{})
	if err != nil || sec.Labels[labelState] != "succeeded" {
		t.Fatalf("record secret: %v %v", err, sec.Labels)
	}
	fi, err := os.Stat(filepath.Join(dir, "shop", rec.ID+".json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mirror: %v %v", err, fi)
	}
	var mirrored Record
	b, _ := os.ReadFile(filepath.Join(dir, "shop", rec.ID+".json"))
	if err := json.Unmarshal(b, &mirrored); err != nil || mirrored.State != StateSucceeded {
		t.Fatalf("mirrored record: %v %+v", err, mirrored)
	}

	hc, err := st.RestoreSpec(ctx, &list[0])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(spec.Chart.Spec, hc.Spec); d != "" {
		t.Fatalf("restored spec differs:\n%s", d)
	}

	if strings.Contains(string(b), "hunter2") || mirrored.SecretValues == "" || mirrored.ValuesRef != spec.ValuesSecret {
		t.Fatalf("the mirror must carry the values Secret's name and its values redacted:\n%s", b)
	}
	// A record whose spec names another values Secret than the one it can re-create is refused.
	wrong := list[0]
	wrong.ValuesRef = "ferry-values-shop-0000000000000000"
	if _, err := st.RestoreSpec(ctx, &wrong); !errors.Is(err, ErrRecordCorrupt) {
		t.Fatalf("mismatched values Secret: %v", err)
	}

	// A tampered chart blob is refused rather than re-applied.
	cs, _ := kube.CoreV1().Secrets(DefaultNamespace).Get(ctx, ref, metav1.GetOptions{})
	cs.Data[chartKey] = append(cs.Data[chartKey], 0)
	if _, err := kube.CoreV1().Secrets(DefaultNamespace).Update(ctx, cs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RestoreSpec(ctx, &list[0]); !errors.Is(err, ErrRecordCorrupt) {
		t.Fatalf("tampered chart: %v", err)
	}
}

func TestPlanImages(t *testing.T) {
	prev := VersionImages{Images: map[string][]string{"linux/amd64": {"app:1", "db:15"}, "linux/arm64": {"app:1", "db:15"}}}
	next := VersionImages{
		Images: map[string][]string{"linux/amd64": {"app:2", "db:15"}, "linux/arm64": {"app:2", "db:15"}},
		Blobs: map[string][]Blob{
			"linux/amd64": {{"sha256:base-amd", 1000}, {"sha256:app2-amd", 70}, {"sha256:db-amd", 500}},
			"linux/arm64": {{"sha256:base-arm", 900}, {"sha256:app2-arm", 60}, {"sha256:db-arm", 400}},
		},
	}
	nodes := []Node{{"s1", "linux/amd64"}, {"a1", "linux/arm64"}, {"fresh", "linux/amd64"}}
	present := map[string]BlobSet{
		"s1": {"sha256:base-amd": true, "sha256:db-amd": true},
		"a1": {"sha256:base-arm": true, "sha256:db-arm": true, "sha256:app2-arm": true},
	}
	p := PlanImages(prev, next, nodes, present)
	if d := cmp.Diff([]string{"app:2"}, p.ImagesAdded); d != "" {
		t.Error(d)
	}
	if d := cmp.Diff([]string{"app:1"}, p.ImagesRemoved); d != "" {
		t.Error(d)
	}
	got := map[string]int64{}
	for _, n := range p.Nodes {
		got[n.Node.Name] = n.Bytes
	}
	if d := cmp.Diff(map[string]int64{"s1": 70, "a1": 0, "fresh": 1570}, got); d != "" {
		t.Errorf("bytes per node:\n%s", d)
	}
	if p.TotalBytes != 1640 {
		t.Errorf("total %d", p.TotalBytes)
	}
}

func TestRetain(t *testing.T) {
	imgs := func(v string) VersionImages {
		return VersionImages{Blobs: map[string][]Blob{"linux/amd64": {{"sha256:base", 1}, {"sha256:app-" + v, 1}}}}
	}
	r := func(seq int, v string, s RecordState) Record {
		return Record{Seq: seq, Version: v, State: s, Images: imgs(v), ChartRef: "chart-" + v}
	}
	records := []Record{
		r(1, "1.0.0", StateSucceeded), r(2, "2.0.0", StateSucceeded), r(3, "3.0.0", StateRolledBack),
		r(4, "2.0.0", StateSucceeded), r(5, "4.0.0", StateSucceeded), r(6, "5.0.0", StateSucceeded),
	}
	p := Retain(records, 3)
	if d := cmp.Diff([]string{"5.0.0", "4.0.0", "2.0.0"}, p.Keep); d != "" {
		t.Errorf("keep:\n%s", d)
	}
	if d := cmp.Diff([]string{"1.0.0"}, p.Prune); d != "" {
		t.Errorf("prune:\n%s", d)
	}
	amd := p.Pinned["linux/amd64"]
	for _, b := range []string{"sha256:base", "sha256:app-5.0.0", "sha256:app-4.0.0", "sha256:app-2.0.0"} {
		if !amd[b] {
			t.Errorf("%s not pinned", b)
		}
	}
	if d := cmp.Diff(BlobSet{"sha256:app-1.0.0": true, "sha256:app-3.0.0": true}, p.Prunable["linux/amd64"]); d != "" {
		t.Errorf("prunable (a shared base layer must never be):\n%s", d)
	}
	if d := cmp.Diff([]string{"chart-1.0.0", "chart-3.0.0"}, p.PrunableCharts); d != "" {
		t.Errorf("charts:\n%s", d)
	}
	running := append(records, Record{Seq: 7, Version: "1.0.0", State: StateInProgress, Images: imgs("1.0.0")})
	if p := Retain(running, 3); !p.Pinned["linux/amd64"]["sha256:app-1.0.0"] || p.Prunable["linux/amd64"]["sha256:app-1.0.0"] {
		t.Error("the images of a change in progress must stay pinned")
	}
	if got := Retain(records, 0).Keep; len(got) != DefaultKeep {
		t.Errorf("default keep %v", got)
	}
}

// The namespace comes from the newest succeeded record's spec: failed and in-progress records, and
// records without a spec or a target namespace, are passed over.
func TestTargetNamespace(t *testing.T) {
	spec := func(ns string) json.RawMessage {
		return json.RawMessage(`{"metadata":{"name":"shop"},"spec":{"targetNamespace":"` + ns + `"}}`)
	}
	records := []Record{
		{ID: "1", State: StateSucceeded, Spec: spec("shop-old")},
		{ID: "2", State: StateSucceeded, Spec: spec("shop")},
		{ID: "3", State: StateSucceeded},
		{ID: "4", State: StateSucceeded, Spec: spec("")},
		{ID: "5", State: StateFailed, Spec: spec("elsewhere")},
		{ID: "6", State: StateInProgress, Spec: spec("elsewhere")},
	}
	for _, tc := range []struct {
		name    string
		records []Record
		want    string
	}{
		{"newest succeeded with a namespace", records, "shop"},
		{"older when the newer lack one", records[:1], "shop-old"},
		{"fallback without a succeeded record", records[4:], "fallback"},
		{"fallback without records", nil, "fallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TargetNamespace(tc.records, "fallback"); got != tc.want {
				t.Fatalf("TargetNamespace = %q, want %q", got, tc.want)
			}
		})
	}
}
