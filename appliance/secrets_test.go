package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-delivery/ferry/appliance/appliancetest"
)

// secretSchema marks secrets the three ways a chart author can, one through a $ref.
const secretSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "definitions": {"hidden": {"type": "string", "writeOnly": true}},
  "properties": {
    "db": {"type": "object", "properties": {
      "host": {"type": "string"},
      "pass": {"$ref": "#/definitions/hidden"},
      "dsn": {"type": "string", "format": "password"}
    }},
    "license": {"type": "string", "x-ferry-secret": true},
    "users": {"type": "array", "items": {"type": "object", "properties": {
      "name": {"type": "string"}, "pin": {"type": "string", "writeOnly": true}}}},
    "extra": {"type": "object", "additionalProperties": {"allOf": [{"type": "string"}, {"x-ferry-secret": true}]}},
    "env": {"type": "object", "patternProperties": {"^SIGNING_": {"x-ferry-secret": true}}}
  }
}`

// leakTemplate fails helm's templating with a message quoting a secret, as a careless chart's "fail" or
// "required" can: the text comes back through the release description and the job's termination message.
const leakTemplate = `{{- if .Values.sim }}{{ if eq (toString .Values.sim.mode) "leak" }}{{ fail (printf "database refused password %s" .Values.db.pass) }}{{ end }}{{ end -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: leak
data: {host: {{ .Values.db.host | quote }}}
`

// credsTemplate renders the secret values into the release, as a real chart's Secret would: the rendered
// release shows what helm got from valuesContent and the values Secret together.
const credsTemplate = `{{- if .Values.db.pass }}
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
stringData:
  pass: {{ .Values.db.pass | quote }}
  license: {{ .Values.license | quote }}
  {{- range .Values.users }}
  pin-{{ .name }}: {{ .pin | quote }}
  {{- end }}
{{- end }}
`

// secretChart is the test app (web, db, svc) plus leakTemplate, with schema (may be "").
func secretChart(t *testing.T, version, schema string) []byte {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version, AppVersion: version},
		Templates: []*chart.File{
			{Name: "templates/web.yaml", Data: []byte(webTemplate)},
			{Name: "templates/db.yaml", Data: []byte(dbTemplate)},
			{Name: "templates/leak.yaml", Data: []byte(leakTemplate)},
			{Name: "templates/creds.yaml", Data: []byte(credsTemplate)},
		},
		Raw: []*chart.File{{Name: "values.yaml", Data: []byte("replicas: 1\nimage: registry.local/app:" + version + "\ndb: {host: db.local}\n")}},
	}
	if schema != "" {
		c.Schema = []byte(schema)
	}
	return appliancetest.ChartArchive(t, c)
}

func TestSecretPaths(t *testing.T) {
	vals := map[string]any{
		"db":      map[string]any{"host": "db.local", "pass": "p", "dsn": "d"},
		"license": "l",
		"users":   []any{map[string]any{"name": "ann", "pin": "1"}, map[string]any{"name": "bob"}},
		"extra":   map[string]any{"anything": "x"},
		"env":     map[string]any{"SIGNING_A": "a", "PLAIN": "b"},
		"apiKey":  "k",
		"auth":    map[string]any{"Private-Key": map[string]any{"pem": "x"}, "oauthToken": "t", "user": "u"},
		"image":   "registry.local/app:1",
	}
	named := []string{"/apiKey", "/auth/Private-Key", "/auth/oauthToken"}
	schemaMarked := []string{"/db/dsn", "/db/pass", "/env/SIGNING_A", "/extra/anything", "/license", "/users/0/pin"}
	for _, tc := range []struct {
		name   string
		schema string
		want   []string
	}{
		{"name rule only without a schema", "", named},
		{"schema marks plus the name rule", secretSchema, append(append([]string{}, named...), schemaMarked...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadChart(secretChart(t, "1.0.0", tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{}, tc.want...)
			sortStrings(want)
			if d := cmp.Diff(want, SecretPaths(c, vals)); d != "" {
				t.Errorf("secret paths (-want +got):\n%s", d)
			}
		})
	}
}

// A subchart's schema speaks for the values under its alias.
func TestSecretPathsSubchart(t *testing.T) {
	sub := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "postgres", Version: "1.0.0"},
		Schema: []byte(`{"properties": {"auth": {"properties": {"rootPw": {"type": "string", "format": "password"}}}}}`)}
	parent := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: "1.0.0",
		Dependencies: []*chart.Dependency{{Name: "postgres", Alias: "pg", Version: "1.0.0"}}}}
	parent.AddDependency(sub)
	vals := map[string]any{"pg": map[string]any{"auth": map[string]any{"rootPw": "x", "user": "u"}}, "auth": map[string]any{"rootPw": "not the subchart's"}}
	if d := cmp.Diff([]string{"/pg/auth/rootPw"}, SecretPaths(parent, vals)); d != "" {
		t.Error(d)
	}
}

func TestIsSecretKey(t *testing.T) {
	for k, want := range map[string]bool{
		"password": true, "DB_PASSWORD": true, "passwd": true, "clientSecret": true, "existingSecret": true,
		"token": true, "api_key": true, "api-key": true, "APIKey": true, "private_key": true, "privateKey": true,
		"credentials": true, "host": false, "image": false, "passengers": false, "keyring": false, "tokens": true,
	} {
		if got := IsSecretKey(k); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestRedactorMarkers(t *testing.T) {
	dir := t.TempDir()
	r, err := LoadRedactor(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, redactionKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, fi)
	}
	doc := "db:\n  host: db.local\n  password: hunter2hunter2\napiKey: 12345678\n"
	red, err := r.Values(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(red, "hunter2") || strings.Contains(red, "12345678") || !strings.Contains(red, "host: db.local") {
		t.Fatalf("redacted values:\n%s", red)
	}
	again, err := LoadRedactor(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Marker("hunter2hunter2") != r.Marker("hunter2hunter2") {
		t.Error("the site key must give the same marker in a later run")
	}
	if r.Marker("hunter2hunter2") == r.Marker("hunter3hunter3") || r.Marker("123") == r.Marker(123) {
		t.Error("different secrets must give different markers")
	}
	other, err := LoadRedactor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other.Marker("hunter2hunter2") == r.Marker("hunter2hunter2") {
		t.Error("another site's key must give another marker (no precomputed guesses)")
	}
	if twice, _ := r.Values(red, nil); twice != red {
		t.Errorf("redacting a redacted document must not change it:\n%s\n%s", red, twice)
	}
	os.WriteFile(filepath.Join(dir, redactionKeyFile), []byte("short\n"), 0o600)
	if _, err := LoadRedactor(dir); err == nil {
		t.Error("a damaged key must be reported, not replaced silently")
	}
}

// The schema validator quotes offending values; a secret one must not reach the error.
func TestValidateValuesScrubsSecrets(t *testing.T) {
	schema := `{"properties": {"db": {"properties": {"pass": {"type": "string", "writeOnly": true, "pattern": "^[a-z]+$"}}}}}`
	c, err := LoadChart(secretChart(t, "1.0.0", schema))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{"db": map[string]any{"pass": "Wr0ng-Secret!"}}
	all, _ := chartutil.CoalesceValues(c, vals)
	if raw := chartutil.ValidateAgainstSchema(c, all); raw == nil || !strings.Contains(raw.Error(), "Wr0ng-Secret!") {
		t.Fatalf("helm's own error no longer quotes the value, so this test proves nothing: %v", raw)
	}
	err = ValidateValues(c, vals)
	if !errors.Is(err, ErrInvalidValues) || strings.Contains(err.Error(), "Wr0ng-Secret!") || !strings.Contains(err.Error(), "<redacted>") {
		t.Fatalf("validation error: %v", err)
	}
}

func TestScrubber(t *testing.T) {
	s := &Scrubber{}
	s.Add("abc", "secret-one", "secret-one-longer")
	got := s.String("abc secret-one-longer and secret-one")
	if got != "abc <redacted> and <redacted>" {
		t.Fatalf("scrubbed: %q", got)
	}
	base := errors.New("boom secret-one")
	wrapped := s.Err(base)
	if wrapped.Error() != "boom <redacted>" || !errors.Is(wrapped, base) {
		t.Fatalf("err: %v", wrapped)
	}
	var nilScrub *Scrubber
	if nilScrub.String("x") != "x" {
		t.Fatal("nil scrubber")
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// leakFree fails when text holds any of the secrets.
func leakFree(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("secret %q leaked into %s:\n%s", s, where, text)
		}
	}
}

// The whole life with secrets: deploy, an upgrade whose chart quotes the new password in its helm error
// (auto-rolled back), a good upgrade, a manual rollback. The secrets stay in the cluster records (rollback
// re-applies them byte for byte) and appear nowhere else: mirror files, events, errors, Results.
func TestSecretsStayInTheCluster(t *testing.T) {
	c, kube, _ := fakeCluster(t)
	startSim(t, c)
	log := &eventLog{}
	o := testOptions(t, log)
	ctx := context.Background()
	const pass1, pass2, lic, key = "pass-one-1111", "pass-two-2222", "LIC-ABCD-EFGH", "key-9f8e7d6c"
	secrets := []string{pass1, pass2, lic, key}
	mk := func(version, pass, mode string) Bundle {
		return Bundle{SpecInput: SpecInput{App: "shop", Version: version, Chart: secretChart(t, version, secretSchema), TargetNamespace: "shop",
			Defaults:  map[string]any{"image": "registry.local/shop:" + version, "sim": map[string]any{"mode": mode}},
			Overrides: map[string]any{"db": map[string]any{"pass": pass, "host": "db.site"}, "license": lic, "apiKey": key}}}
	}
	var results []Result
	v1 := mk("1.0.0", pass1, "ok")
	res, err := Deploy(ctx, c, v1, o)
	if err != nil || res.State != StateSucceeded {
		t.Fatalf("deploy: %v %+v", err, res.Health)
	}
	results = append(results, res)

	res, err = Upgrade(ctx, c, mk("2.0.0", pass2, "leak"), o)
	if !errors.Is(err, ErrUnhealthy) || !res.RolledBack {
		t.Fatalf("leaking upgrade must fail and roll back: %v %+v", err, res)
	}
	leakFree(t, "the upgrade error", err.Error(), secrets)
	if !strings.Contains(err.Error(), "database refused password <redacted>") {
		t.Errorf("the cause must still be told, scrubbed: %v", err)
	}
	results = append(results, res)
	// The leak is real: the helm job's own termination message quotes the password.
	pods, _ := kube.CoreV1().Pods(DefaultNamespace).List(ctx, metav1.ListOptions{})
	quoted := false
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Terminated != nil && strings.Contains(cs.State.Terminated.Message, pass2) {
				quoted = true
			}
		}
	}
	if !quoted {
		t.Fatal("the simulated helm job did not quote the secret: this test would prove nothing")
	}

	v3 := mk("3.0.0", pass2, "ok")
	if res, err = Upgrade(ctx, c, v3, o); err != nil {
		t.Fatalf("upgrade v3: %v", err)
	}
	results = append(results, res)
	if res, err = Rollback(ctx, c, "shop", "1.0.0", o); err != nil || res.State != StateSucceeded {
		t.Fatalf("rollback to v1: %v %+v", err, res)
	}
	results = append(results, res)
	// Rollback re-applied v1's exact spec, plaintext secrets included, from the cluster record alone.
	if liveSpecJSON(t, c) != specJSON(t, c, v1) {
		t.Fatal("rollback did not restore v1's exact spec")
	}
	if res, err = Status(ctx, c, "shop", o); err != nil {
		t.Fatal(err)
	}
	results = append(results, res)
	if res, err = History(ctx, c, "shop", o); err != nil {
		t.Fatal(err)
	}
	results = append(results, res)

	// The cluster records keep the plaintext (rollback needs it).
	recs, _ := kube.CoreV1().Secrets(DefaultNamespace).List(ctx, metav1.ListOptions{LabelSelector: labelKind + "=record"})
	inCluster := ""
	for _, s := range recs.Items {
		inCluster += string(s.Data[recordKey])
	}
	if !strings.Contains(inCluster, pass1) || !strings.Contains(inCluster, pass2) {
		t.Fatal("the cluster records must keep the secret values")
	}
	leakFree(t, "the cluster records' reasons", reasons(t, recs.Items), secrets)

	// Results: redacted, and markers tell which secret changed.
	for i, r := range results {
		b, _ := json.Marshal(r)
		leakFree(t, "a Result", string(b), secrets)
		if i == 0 && !strings.Contains(string(b), "redacted:hmac-sha256:") {
			t.Errorf("Result records must carry markers:\n%s", b)
		}
	}
	// Progress events.
	redactedSeen := false
	for _, e := range log.ev {
		text := e.Msg
		if e.Err != nil {
			text += " " + e.Err.Error()
		}
		leakFree(t, "a progress event", text, secrets)
		redactedSeen = redactedSeen || strings.Contains(text, "<redacted>")
	}
	if !redactedSeen {
		t.Error("no progress event carried the scrubbed helm error: the leak path was not exercised")
	}

	// The laptop mirror: nothing in the records dir holds a secret; the values carry comparable markers.
	var mirrors []Record
	filepath.WalkDir(o.RecordsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		leakFree(t, p, string(b), secrets)
		if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", p, fi.Mode().Perm())
		}
		if strings.HasSuffix(p, ".json") {
			var r Record
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			mirrors = append(mirrors, r)
		}
		return nil
	})
	if len(mirrors) != 5 { // deploy, failed upgrade, auto-rollback, upgrade, rollback
		t.Fatalf("%d mirror files", len(mirrors))
	}
	marks := func(r Record) map[string]any {
		v, err := ParseValues([]byte(r.Values))
		// The spec's valuesContent has no secret left to redact: they sit in the values Secret, whose
		// content the record keeps (SecretValues) and the mirror shows as markers.
		if err != nil || !r.Redacted || strings.Contains(string(r.Spec), "redacted:") || !strings.Contains(string(r.Spec), r.ValuesRef) ||
			r.ValuesRef == "" || !strings.Contains(r.SecretValues, "pass: "+RedactedPrefix) {
			t.Fatalf("mirror %s: %v redacted=%v values Secret %s %q spec=%s", r.ID, err, r.Redacted, r.ValuesRef, r.SecretValues, r.Spec)
		}
		db := v["db"].(map[string]any)
		return map[string]any{"pass": db["pass"], "host": db["host"], "license": v["license"], "apiKey": v["apiKey"]}
	}
	first, failed := marks(mirrors[0]), marks(mirrors[1])
	if first["pass"] == failed["pass"] || first["license"] != failed["license"] || first["apiKey"] != failed["apiKey"] {
		t.Errorf("markers must show the changed password and the unchanged license/key:\n%v\n%v", first, failed)
	}
	if first["host"] != "db.site" || !strings.HasPrefix(first["pass"].(string), RedactedPrefix) {
		t.Errorf("only secrets are redacted: %v", first)
	}
	if d := cmp.Diff([]string{"/apiKey", "/db/pass", "/license"}, mirrors[0].SecretPaths); d != "" {
		t.Errorf("recorded secret paths:\n%s", d)
	}
	if !strings.Contains(mirrors[1].Reason, "<redacted>") {
		t.Errorf("the failed record's reason should keep the scrubbed cause: %q", mirrors[1].Reason)
	}
}

func reasons(t *testing.T, secs []corev1.Secret) string {
	var out []string
	for _, s := range secs {
		var r Record
		if err := json.Unmarshal(s.Data[recordKey], &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Reason)
	}
	return strings.Join(out, "\n")
}

// Records written before Ferry tracked secrets (no secretPaths, no redacted flag) still load, and what
// leaves the cluster about them is redacted by the name rule; rollback to them still works.
func TestOldRecordsLoadAndAreRedacted(t *testing.T) {
	c, kube, _ := fakeCluster(t)
	startSim(t, c)
	ctx := context.Background()
	o := testOptions(t, &eventLog{})
	b := bundle(t, "1.0.0", "ok")
	b.Overrides = map[string]any{"site": "lab", "adminPassword": "old-secret-42"}
	b.Namespace = DefaultNamespace
	b.ValuesKey = testValuesKey
	spec, err := BuildSpec(b.SpecInput)
	if err != nil {
		t.Fatal(err)
	}
	// The previous Ferry kept every value in valuesContent.
	spec.Chart.Spec.ValuesContent, spec.Chart.Spec.ValuesSecrets = spec.Values, nil
	spec.Hash = SpecHash(spec.Chart.Spec)
	spec.Chart.Annotations[AnnotationSpecHash] = spec.Hash
	legacySpec, _ := json.Marshal(spec.Chart.Spec)
	st := NewStore(c, "", "")
	if err := st.EnsureNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	ref, err := st.PutChart(ctx, "shop", b.Chart)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{App: "shop", Version: "1.0.0", Action: ActionDeploy, ChartName: spec.ChartName, ChartDigest: spec.ChartDigest,
		Values: spec.Values, SpecHash: spec.Hash, ChartRef: ref, State: StateSucceeded, Started: time.Unix(100, 0).UTC(),
		Reason: "helm said old-secret-42 was wrong"}
	if err := recordSpec(rec, spec.Chart); err != nil {
		t.Fatal(err)
	}
	// The JSON exactly as the previous Ferry wrote it: no secretPaths, no redacted field.
	old, _ := json.Marshal(rec)
	if strings.Contains(string(old), "secretPaths") || strings.Contains(string(old), "redacted") {
		t.Fatalf("not an old-format record: %s", old)
	}
	rec.ID, rec.Seq = recordName("shop", 1), 1
	old, _ = json.Marshal(rec)
	_, err = kube.CoreV1().Secrets(DefaultNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: rec.ID, Namespace: DefaultNamespace, Labels: map[string]string{
			LabelManaged: "true", LabelApp: "shop", labelKind: "record", labelState: "succeeded"}},
		Data: map[string][]byte{recordKey: old}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Helm.HelmV1().HelmCharts(DefaultNamespace).Create(ctx, spec.Chart, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h, err := History(ctx, c, "shop", o)
	if err != nil || len(h.Records) != 1 {
		t.Fatalf("history of an old record: %v %+v", err, h)
	}
	out, _ := json.Marshal(h)
	leakFree(t, "the history Result", string(out), []string{"old-secret-42"})
	if !strings.Contains(h.Records[0].Values, "adminPassword: "+RedactedPrefix) {
		t.Errorf("values: %s", h.Records[0].Values)
	}
	// Upgrade, then roll back to the old record: its plaintext spec comes back exactly.
	v2 := bundle(t, "2.0.0", "ok")
	v2.Overrides = b.Overrides
	if _, err := Upgrade(ctx, c, v2, o); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(ctx, c, "shop", "1.0.0", o); err != nil {
		t.Fatal(err)
	}
	if liveSpecJSON(t, c) != string(legacySpec) {
		t.Fatal("rollback to an old-format record did not restore its spec")
	}
	filepath.WalkDir(o.RecordsDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			bb, _ := os.ReadFile(p)
			leakFree(t, p, string(bb), []string{"old-secret-42"})
		}
		return err
	})
}

// A damaged redaction key stops a deploy before anything reaches the cluster, with what to do.
func TestDamagedKeyChangesNothing(t *testing.T) {
	c, o, _ := simCluster(t)
	os.WriteFile(filepath.Join(o.RecordsDir, redactionKeyFile), []byte("not a key\n"), 0o600)
	_, err := Deploy(context.Background(), c, bundle(t, "1.0.0", "ok"), o)
	if err == nil || !strings.Contains(err.Error(), "restore it from the site backup or delete it") {
		t.Fatalf("deploy with a damaged key: %v", err)
	}
	if recs, _ := NewStore(c, "", "").List(context.Background(), "shop"); len(recs) != 0 {
		t.Fatalf("records were created: %+v", recs)
	}
	if _, err := c.Helm.HelmV1().HelmCharts(DefaultNamespace).Get(context.Background(), "shop", metav1.GetOptions{}); err == nil {
		t.Fatal("a HelmChart was applied")
	}
}
