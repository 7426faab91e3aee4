package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func TestSplitSecretValues(t *testing.T) {
	tests := []struct {
		name         string
		vals         map[string]any
		paths        []string
		public, secr map[string]any
	}{
		{"no secret", map[string]any{"a": 1.0, "b": map[string]any{"c": "x"}}, nil,
			map[string]any{"a": 1.0, "b": map[string]any{"c": "x"}}, map[string]any{}},
		{"schema path and name rule, maps above kept on both sides",
			map[string]any{"db": map[string]any{"host": "h", "pass": "p", "password": "q"}, "image": "i"}, []string{"/db/pass"},
			map[string]any{"db": map[string]any{"host": "h"}, "image": "i"},
			map[string]any{"db": map[string]any{"pass": "p", "password": "q"}}},
		{"a secret key's whole subtree moves",
			map[string]any{"credentials": map[string]any{"user": "u", "pw": "p"}, "x": 1.0}, nil,
			map[string]any{"x": 1.0}, map[string]any{"credentials": map[string]any{"user": "u", "pw": "p"}}},
		{"a list holding a secret moves whole (helm replaces lists)",
			map[string]any{"users": []any{map[string]any{"name": "ann", "pin": "1"}, map[string]any{"name": "bob"}}, "x": "y"}, []string{"/users/0/pin"},
			map[string]any{"x": "y"},
			map[string]any{"users": []any{map[string]any{"name": "ann", "pin": "1"}, map[string]any{"name": "bob"}}}},
		{"nested paths under a moved subtree find nothing more", map[string]any{"auth": map[string]any{"k": map[string]any{"v": "s"}}},
			[]string{"/auth", "/auth/k/v"}, map[string]any{}, map[string]any{"auth": map[string]any{"k": map[string]any{"v": "s"}}}},
		{"a path below a scalar or a missing key is ignored", map[string]any{"a": "s"}, []string{"/a/b", "/nope/x"},
			map[string]any{"a": "s"}, map[string]any{}},
		{"a null secret moves as null (helm reads it the same)", map[string]any{"apiKey": nil, "a": 1.0}, nil,
			map[string]any{"a": 1.0}, map[string]any{"apiKey": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := json.Marshal(tc.vals)
			pub, sec, err := splitSecretValues(tc.vals, tc.paths)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.public, pub); d != "" {
				t.Errorf("public (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.secr, sec); d != "" {
				t.Errorf("secret (-want +got):\n%s", d)
			}
			if after, _ := json.Marshal(tc.vals); string(after) != string(before) {
				t.Error("the values were modified")
			}
			if d := cmp.Diff(tc.vals, mergeValueFiles(pub, sec)); d != "" {
				t.Errorf("helm's merge of the two files does not give the values back:\n%s", d)
			}
		})
	}
}

// The HelmChart names the values Secret by a keyed hash of the secrets: same inputs, same bytes; a changed
// secret, a new name (so a new spec and a helm run); another cluster's key, another name.
func TestBuildSpecValuesSecret(t *testing.T) {
	chart := secretChart(t, "1.0.0", secretSchema)
	mk := func(pass string, key []byte) SpecInput {
		return SpecInput{App: "shop", Version: "1.0.0", Chart: chart, TargetNamespace: "shop", ValuesKey: key,
			Overrides: map[string]any{"db": map[string]any{"host": "db.site", "pass": pass}, "license": "LIC-1234"}}
	}
	a, err := BuildSpec(mk("pass-aaaa", testValuesKey))
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a.Chart)
	leakFree(t, "the HelmChart", string(ja), []string{"pass-aaaa", "LIC-1234"})
	if want := "db:\n  host: db.site\n"; a.Chart.Spec.ValuesContent != want {
		t.Errorf("valuesContent:\n%s", cmp.Diff(want, a.Chart.Spec.ValuesContent))
	}
	if want := "db:\n  pass: pass-aaaa\nlicense: LIC-1234\n"; a.SecretValues != want {
		t.Errorf("secret values:\n%s", cmp.Diff(want, a.SecretValues))
	}
	if vs := a.Chart.Spec.ValuesSecrets; len(vs) != 1 || vs[0].Name != a.ValuesSecret || cmp.Diff([]string{ValuesSecretKey}, vs[0].Keys) != "" || vs[0].IgnoreUpdates ||
		!strings.HasPrefix(a.ValuesSecret, "ferry-values-shop-") {
		t.Errorf("valuesSecrets: %+v (%s)", vs, a.ValuesSecret)
	}
	if !strings.Contains(a.Values, "pass: pass-aaaa") {
		t.Error("Spec.Values must stay the whole merged values (the record keeps them)")
	}
	b, _ := BuildSpec(mk("pass-aaaa", testValuesKey))
	jb, _ := json.Marshal(b.Chart)
	if string(ja) != string(jb) {
		t.Fatalf("same inputs, different HelmCharts:\n%s", cmp.Diff(string(ja), string(jb)))
	}
	changed, _ := BuildSpec(mk("pass-bbbb", testValuesKey))
	if changed.ValuesSecret == a.ValuesSecret || changed.Hash == a.Hash || changed.Chart.Spec.ValuesContent != a.Chart.Spec.ValuesContent {
		t.Error("a changed secret must change the values Secret's name and so the spec, and nothing else")
	}
	other, _ := BuildSpec(mk("pass-aaaa", []byte("another cluster's key, 32 bytes!")))
	if other.ValuesSecret == a.ValuesSecret {
		t.Error("the name must depend on the cluster's key, or anyone reading HelmCharts can test guesses")
	}
	if _, err := BuildSpec(mk("pass-aaaa", nil)); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("secrets without a values key: %v", err)
	}
}

func TestRetainPrunesValuesOfDroppedVersionsOnly(t *testing.T) {
	r := func(seq int, v, ref string, s RecordState) Record {
		return Record{Seq: seq, Version: v, State: s, ValuesRef: ref}
	}
	records := []Record{
		r(1, "1.0.0", "vals-a", StateSucceeded), r(2, "2.0.0", "vals-b", StateSucceeded), r(3, "3.0.0", "vals-c", StateRolledBack),
		r(4, "4.0.0", "vals-b", StateSucceeded), // same secrets as 2.0.0: one Secret
		r(5, "5.0.0", "", StateSucceeded),
	}
	p := Retain(records, 2) // keeps 5.0.0 and 4.0.0
	if d := cmp.Diff([]string{"vals-a", "vals-c"}, p.PrunableValues); d != "" {
		t.Errorf("prunable values (a Secret a kept version shares must stay):\n%s", d)
	}
	running := append(records, r(6, "1.0.0", "vals-a", StateInProgress))
	if p := Retain(running, 2); cmp.Diff([]string{"vals-c"}, p.PrunableValues) != "" {
		t.Errorf("the values of a change in progress must stay: %v", p.PrunableValues)
	}
}

// The HelmChart never carries a secret value, in any version Ferry writes: they travel in immutable values
// Secrets, which helm still gets (the rendered release has them), which rollback re-creates from the record
// when they are gone, and which retention prunes only when no kept version uses them.
func TestValuesSecretLifecycle(t *testing.T) {
	c, kube, h := fakeCluster(t)
	var mu sync.Mutex
	var written []string
	h.PrependReactor("*", "helmcharts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if o, ok := a.(interface{ GetObject() runtime.Object }); ok && (a.GetVerb() == "create" || a.GetVerb() == "update") {
			b, err := json.Marshal(o.GetObject())
			if err != nil {
				t.Errorf("serializing a HelmChart: %v", err)
			}
			mu.Lock()
			written = append(written, string(b))
			mu.Unlock()
		}
		return false, nil, nil
	})
	startSim(t, c)
	o := testOptions(t, &eventLog{})
	o.Keep = 2
	ctx := context.Background()
	const lic, key, pin = "LIC-ABCD-EFGH", "key-9f8e7d6c", "pin-4242"
	all := []string{lic, key, pin}
	mk := func(version, pass, mode string) Bundle {
		all = append(all, pass)
		return Bundle{SpecInput: SpecInput{App: "shop", Version: version, Chart: secretChart(t, version, secretSchema), TargetNamespace: "shop",
			Defaults: map[string]any{"image": "registry.local/shop:" + version, "sim": map[string]any{"mode": mode}},
			Overrides: map[string]any{"db": map[string]any{"pass": pass, "host": "db.site"}, "license": lic, "apiKey": key,
				"users": []any{map[string]any{"name": "ann", "pin": pin}}}}}
	}
	secrets := kube.CoreV1().Secrets(DefaultNamespace)
	liveRef := func() string {
		hc, err := h.HelmV1().HelmCharts(DefaultNamespace).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil || len(hc.Spec.ValuesSecrets) != 1 {
			t.Fatalf("live HelmChart: %v %+v", err, hc)
		}
		return hc.Spec.ValuesSecrets[0].Name
	}
	exists := func(name string) bool {
		_, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	// rendered is the manifest of the newest helm release: what helm made of valuesContent + valuesSecrets.
	rendered := func() string {
		list, err := kube.CoreV1().Secrets("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rels, err := decodeReleases("shop", list.Items)
		if err != nil || len(rels) == 0 {
			t.Fatalf("releases: %v", err)
		}
		return rels[0].Manifest
	}
	wantRendered := func(pass string) {
		t.Helper()
		m := rendered()
		for _, s := range []string{`pass: "` + pass + `"`, `license: "` + lic + `"`, `pin-ann: "` + pin + `"`} {
			if !strings.Contains(m, s) {
				t.Errorf("the rendered release lacks %s: helm did not get the values Secret:\n%s", s, m)
			}
		}
	}

	v1 := mk("1.0.0", "pass-one-1111", "ok")
	dry := o
	dry.DryRun = true
	if _, err := Deploy(ctx, c, v1, dry); err != nil {
		t.Fatal(err)
	}
	if exists(valuesKeyName) {
		t.Fatal("a dry run stored the values key")
	}
	if res, err := Deploy(ctx, c, v1, o); err != nil || res.State != StateSucceeded {
		t.Fatalf("deploy: %v %+v", err, res.Health)
	}
	ref1 := liveRef()
	s1, err := secrets.Get(ctx, ref1, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc1 := string(s1.Data[ValuesSecretKey])
	if s1.Immutable == nil || !*s1.Immutable || s1.Labels[LabelManaged] != "true" || s1.Labels[LabelApp] != "shop" || s1.Labels[labelKind] != "values" {
		t.Errorf("values Secret metadata: immutable=%v labels=%v", s1.Immutable, s1.Labels)
	}
	for _, s := range []string{"pass-one-1111", lic, key, pin, "name: ann"} {
		if !strings.Contains(doc1, s) {
			t.Errorf("the values Secret lacks %q:\n%s", s, doc1)
		}
	}
	if strings.Contains(doc1, "db.site") {
		t.Errorf("non-secret values belong in valuesContent, not the Secret:\n%s", doc1)
	}
	wantRendered("pass-one-1111")
	if liveSpecJSON(t, c) != specJSON(t, c, v1) {
		t.Fatal("live spec is not the spec built with the cluster's values key")
	}

	v2 := mk("2.0.0", "pass-two-2222", "ok")
	if _, err := Upgrade(ctx, c, v2, o); err != nil {
		t.Fatalf("upgrade v2: %v", err)
	}
	ref2 := liveRef()
	if ref2 == ref1 {
		t.Fatal("a changed password must reference a new values Secret")
	}
	wantRendered("pass-two-2222")
	v2Spec := liveSpecJSON(t, c)

	// A failed upgrade rolls back to v2's exact spec; its own values Secret, used by no kept version, goes.
	failing := o
	failing.Timeout = neverReadyTimeout
	res, err := Upgrade(ctx, c, mk("3.0.0", "pass-three-3333", "neverReady"), failing)
	if !errors.Is(err, ErrUnhealthy) || !res.RolledBack {
		t.Fatalf("failed upgrade: %v %+v", err, res)
	}
	if liveSpecJSON(t, c) != v2Spec {
		t.Fatal("automatic rollback did not restore v2's exact spec")
	}
	wantRendered("pass-two-2222")
	recs, _ := NewStore(c, "", "").List(ctx, "shop")
	var ref3 string
	for _, r := range recs {
		if r.Version == "3.0.0" {
			ref3 = r.ValuesRef
		}
	}
	if ref3 == "" || exists(ref3) || !exists(ref1) || !exists(ref2) {
		t.Fatalf("after the failed v3: v3's values Secret %q must be pruned, v1's and v2's kept (%v %v %v)", ref3, exists(ref3), exists(ref1), exists(ref2))
	}

	// Rollback to v1 after its Secret was removed: re-created from the record, byte for byte.
	if err := secrets.Delete(ctx, ref1, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := Rollback(ctx, c, "shop", "1.0.0", o); err != nil || res.State != StateSucceeded {
		t.Fatalf("rollback to v1: %v %+v", err, res)
	}
	if liveSpecJSON(t, c) != specJSON(t, c, v1) {
		t.Fatal("rollback did not restore v1's exact spec")
	}
	if back, err := secrets.Get(ctx, ref1, metav1.GetOptions{}); err != nil || string(back.Data[ValuesSecretKey]) != doc1 {
		t.Fatalf("v1's values Secret was not re-created exactly: %v", err)
	}
	wantRendered("pass-one-1111")

	// v4 has v2's secrets: one Secret for both, kept while v4 is, although v2 is pruned.
	if _, err := Upgrade(ctx, c, mk("4.0.0", "pass-two-2222", "ok"), o); err != nil {
		t.Fatalf("upgrade v4: %v", err)
	}
	if liveRef() != ref2 || !exists(ref2) || !exists(ref1) {
		t.Fatalf("v4 must share v2's values Secret: %s %s", liveRef(), ref2)
	}
	if _, err := Upgrade(ctx, c, mk("5.0.0", "pass-five-5555", "ok"), o); err != nil {
		t.Fatalf("upgrade v5: %v", err)
	}
	if exists(ref1) || !exists(ref2) {
		t.Fatalf("keep 2 (v5, v4): v1's values Secret must be pruned (%v), v4's kept (%v)", exists(ref1), exists(ref2))
	}
	wantRendered("pass-five-5555")

	// A values Secret replaced outside Ferry is not applied: the rollback stops with what to do.
	before := liveSpecJSON(t, c)
	if err := secrets.Delete(ctx, ref2, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ref2, Namespace: DefaultNamespace,
		Labels: map[string]string{LabelManaged: "true", LabelApp: "shop", labelKind: "values"}},
		Data: map[string][]byte{ValuesSecretKey: []byte("db:\n  pass: planted\n")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(ctx, c, "shop", "4.0.0", o); !errors.Is(err, ErrRecordCorrupt) || !strings.Contains(err.Error(), "delete it and re-run") {
		t.Fatalf("rollback onto a replaced values Secret: %v", err)
	}
	if liveSpecJSON(t, c) != before {
		t.Fatal("the refused rollback changed the live spec")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(written) < 6 {
		t.Fatalf("only %d HelmChart writes seen: the capture is broken", len(written))
	}
	for i, w := range written {
		leakFree(t, "a HelmChart Ferry wrote", w, all)
		if !strings.Contains(w, "db.site") || !strings.Contains(w, "valuesSecrets") {
			t.Errorf("HelmChart write %d lacks the public values or the Secret reference:\n%s", i, w)
		}
	}
	noDataLoss(t, c)
}
