package appliance

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	"helm.sh/helm/v3/pkg/chart"
)

// Which values are secret, and how they are kept out of everything Ferry writes outside the cluster.
//
// A value is secret when the chart's values.schema.json (or a subchart's, for the values under the
// subchart's key) marks it with "writeOnly": true, "format": "password" or "x-ferry-secret": true, or when
// its key is named like one (secretKeyRE). The name rule applies even where a schema exists: a chart
// author who forgot to mark a field must not leak it, and redacting a harmless "tokenTTL" costs nothing
// because the marker still shows whether the value changed. Everything under a secret key is secret.
//
// The in-cluster record (a Secret) keeps the plaintext: rollback re-applies it. The laptop mirror and every
// Result replace each secret leaf with RedactedPrefix + a keyed hash + ">"; free text (progress events,
// errors, record reasons) has every secret string replaced by "<redacted>".

// RedactedPrefix starts the marker that replaces a secret value outside the cluster.
const RedactedPrefix = "<redacted:hmac-sha256:"

// redactionKeyFile holds the site's random HMAC key in the records directory (0600). It is kept apart from
// the records so that a record file copied elsewhere (a ticket, an e-mail) carries no way to test guesses
// against its markers.
const redactionKeyFile = ".redaction-key"

// minScrubLen is the shortest secret string scrubbed from free text: shorter ones ("no", "1") would mangle
// ordinary words, and carry next to no entropy anyway. They are still redacted from values.
const minScrubLen = 4

// secretKeyRE matches key names that hold secrets, after '-', '_' and '.' are removed and case folded.
var secretKeyRE = regexp.MustCompile(`password|passwd|secret|token|apikey|privatekey|credential`)

// IsSecretKey says whether a values key is named like a secret.
func IsSecretKey(key string) bool {
	k := strings.ToLower(strings.NewReplacer("-", "", "_", "", ".", "").Replace(key))
	return secretKeyRE.MatchString(k)
}

// SecretPaths lists, as JSON pointers (RFC 6901), the values in vals that are secret for chart c: marked in
// its values.schema.json or a subchart's, or named like a secret. A path covers its whole subtree. c may be
// nil (the name rule alone).
func SecretPaths(c *chart.Chart, vals map[string]any) []string {
	set := map[string]bool{}
	secretPaths(c, vals, "", set)
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func secretPaths(c *chart.Chart, vals map[string]any, prefix string, set map[string]bool) {
	var roots []schemaRef
	if c != nil && len(c.Schema) > 0 {
		var root map[string]any
		if json.Unmarshal(c.Schema, &root) == nil {
			roots = []schemaRef{{node: root, root: root}}
		}
	}
	walkSecrets(vals, roots, prefix, false, set)
	if c == nil || c.Metadata == nil {
		return
	}
	// A subchart's values live under its alias or name, and its own schema describes them.
	subs := map[string]*chart.Chart{}
	for _, s := range c.Dependencies() {
		if s.Metadata != nil {
			subs[s.Metadata.Name] = s
		}
	}
	for _, d := range c.Metadata.Dependencies {
		key := d.Name
		if d.Alias != "" {
			key = d.Alias
		}
		sub, ok := subs[d.Name]
		sv, _ := vals[key].(map[string]any)
		if ok && sv != nil {
			secretPaths(sub, sv, prefix+"/"+escapePointer(key), set)
		}
	}
}

// schemaRef is a schema node with the document it came from, for local $refs.
type schemaRef struct {
	node map[string]any
	root map[string]any
}

// expand follows $ref and the allOf/anyOf/oneOf combinators: any branch that marks a value secret counts.
func expand(refs []schemaRef) []schemaRef {
	var out []schemaRef
	var visit func(s schemaRef, depth int)
	visit = func(s schemaRef, depth int) {
		if s.node == nil || depth > 16 {
			return
		}
		out = append(out, s)
		if ref, ok := s.node["$ref"].(string); ok && strings.HasPrefix(ref, "#") {
			if n := resolvePointer(s.root, strings.TrimPrefix(ref, "#")); n != nil {
				visit(schemaRef{node: n, root: s.root}, depth+1)
			}
		}
		for _, comb := range []string{"allOf", "anyOf", "oneOf"} {
			list, _ := s.node[comb].([]any)
			for _, b := range list {
				if m, ok := b.(map[string]any); ok {
					visit(schemaRef{node: m, root: s.root}, depth+1)
				}
			}
		}
	}
	for _, r := range refs {
		visit(r, 0)
	}
	return out
}

func resolvePointer(root map[string]any, ptr string) map[string]any {
	var cur any = root
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if seg == "" {
			continue
		}
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	m, _ := cur.(map[string]any)
	return m
}

func marksSecret(refs []schemaRef) bool {
	for _, r := range refs {
		if b, _ := r.node["writeOnly"].(bool); b {
			return true
		}
		if f, _ := r.node["format"].(string); f == "password" {
			return true
		}
		if b, _ := r.node["x-ferry-secret"].(bool); b {
			return true
		}
	}
	return false
}

// propertySchemas returns the schemas that describe key k of an object described by refs.
func propertySchemas(refs []schemaRef, k string) []schemaRef {
	var out []schemaRef
	for _, r := range refs {
		if props, ok := r.node["properties"].(map[string]any); ok {
			if p, ok := props[k].(map[string]any); ok {
				out = append(out, schemaRef{node: p, root: r.root})
				continue
			}
		}
		matched := false
		if pats, ok := r.node["patternProperties"].(map[string]any); ok {
			for pat, s := range pats {
				re, err := regexp.Compile(pat)
				m, ok := s.(map[string]any)
				if err == nil && ok && re.MatchString(k) {
					out = append(out, schemaRef{node: m, root: r.root})
					matched = true
				}
			}
		}
		if !matched {
			if a, ok := r.node["additionalProperties"].(map[string]any); ok {
				out = append(out, schemaRef{node: a, root: r.root})
			}
		}
	}
	return out
}

// itemSchemas returns the schemas that describe element i of an array described by refs.
func itemSchemas(refs []schemaRef, i int) []schemaRef {
	var out []schemaRef
	for _, r := range refs {
		if prefix, ok := r.node["prefixItems"].([]any); ok && i < len(prefix) {
			if m, ok := prefix[i].(map[string]any); ok {
				out = append(out, schemaRef{node: m, root: r.root})
			}
			continue
		}
		switch it := r.node["items"].(type) {
		case map[string]any:
			out = append(out, schemaRef{node: it, root: r.root})
		case []any: // draft-07 tuple form
			if i < len(it) {
				if m, ok := it[i].(map[string]any); ok {
					out = append(out, schemaRef{node: m, root: r.root})
				}
			}
		}
	}
	return out
}

func walkSecrets(v any, refs []schemaRef, path string, named bool, set map[string]bool) {
	refs = expand(refs)
	if named || marksSecret(refs) {
		set[path] = true
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, cv := range x {
			walkSecrets(cv, propertySchemas(refs, k), path+"/"+escapePointer(k), IsSecretKey(k), set)
		}
	case []any:
		for i, cv := range x {
			walkSecrets(cv, itemSchemas(refs, i), path+"/"+strconv.Itoa(i), false, set)
		}
	}
}

func escapePointer(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// splitPointer turns a JSON pointer into its unescaped segments.
func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		segs[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return segs
}

// visitSecrets calls fn for every secret leaf of vals (under paths, or named like a secret) with a setter
// that replaces it.
func visitSecrets(vals map[string]any, paths []string, fn func(leaf any) any) {
	all := append(SecretPaths(nil, vals), paths...)
	for _, p := range all {
		segs := splitPointer(p)
		if len(segs) == 0 {
			continue
		}
		replaceAt(vals, segs, fn)
	}
}

func replaceAt(cur any, segs []string, fn func(any) any) {
	switch x := cur.(type) {
	case map[string]any:
		v, ok := x[segs[0]]
		if !ok {
			return
		}
		if len(segs) == 1 {
			x[segs[0]] = mapLeaves(v, fn)
			return
		}
		replaceAt(v, segs[1:], fn)
	case []any:
		i, err := strconv.Atoi(segs[0])
		if err != nil || i < 0 || i >= len(x) {
			return
		}
		if len(segs) == 1 {
			x[i] = mapLeaves(x[i], fn)
			return
		}
		replaceAt(x[i], segs[1:], fn)
	}
}

// mapLeaves applies fn to every non-null leaf of v (a secret map keeps its shape, each leaf its own marker).
func mapLeaves(v any, fn func(any) any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		for k, c := range x {
			x[k] = mapLeaves(c, fn)
		}
		return x
	case []any:
		for i, c := range x {
			x[i] = mapLeaves(c, fn)
		}
		return x
	default:
		return fn(v)
	}
}

// Redactor replaces secret values by a marker carrying an HMAC-SHA256 of the value under a per-site key:
// two versions with the same secret show the same marker, a changed secret a different one, and the value
// cannot be recovered (nor guessed at) from a record without the key.
type Redactor struct{ key []byte }

// LoadRedactor reads the site's redaction key from dir, creating it (32 random bytes, 0600) on first use.
// dir "" gives a key for this process only: markers are then comparable within one run.
func LoadRedactor(dir string) (*Redactor, error) {
	if dir == "" {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("creating redaction key: %w", err)
		}
		return &Redactor{key: k}, nil
	}
	path := filepath.Join(dir, redactionKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		k, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(k) < 32 {
			return nil, fmt.Errorf("reading redaction key %s: not 32 hex-encoded bytes; restore it from the site backup or delete it (markers of older records then no longer compare)", path)
		}
		return &Redactor{key: k}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading redaction key %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating redaction key in %s: %w", dir, err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("creating redaction key: %w", err)
	}
	// Temp file then link: two Ferry processes racing here agree on one key (the loser reads the winner's).
	f, err := os.CreateTemp(dir, ".tmp-redaction-key-*")
	if err != nil {
		return nil, fmt.Errorf("creating redaction key in %s: %w", dir, err)
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(hex.EncodeToString(k) + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, fmt.Errorf("creating redaction key in %s: %w", dir, err)
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadRedactor(dir)
		}
		return nil, fmt.Errorf("creating redaction key in %s: %w", dir, err)
	}
	return &Redactor{key: k}, nil
}

// Marker is the redacted form of one secret value.
func (r *Redactor) Marker(v any) string {
	b, _ := json.Marshal(v) // the JSON form, so "123" and 123 differ
	m := hmac.New(sha256.New, r.key)
	m.Write(b)
	return RedactedPrefix + hex.EncodeToString(m.Sum(nil))[:32] + ">"
}

// Values returns a values document with every secret leaf (under paths, or named like a secret) replaced
// by its marker, rendered canonically.
func (r *Redactor) Values(doc string, paths []string) (string, error) {
	vals, err := ParseValues([]byte(doc))
	if err != nil {
		return "", err
	}
	visitSecrets(vals, paths, func(v any) any {
		if s, ok := v.(string); ok && strings.HasPrefix(s, RedactedPrefix) {
			return s // already a marker (a record mirrored before)
		}
		return r.Marker(v)
	})
	return ValuesYAML(vals)
}

// secretStrings returns the secret string leaves of a values document, for scrubbing free text.
func secretStrings(doc string, paths []string) []string {
	vals, err := ParseValues([]byte(doc))
	if err != nil {
		return nil
	}
	var out []string
	visitSecrets(vals, paths, func(v any) any {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64) // 12345678901, not 1.2345678901e+10
		case int64, int:
			s = fmt.Sprint(x)
		}
		if len(s) >= minScrubLen && !strings.HasPrefix(s, RedactedPrefix) {
			out = append(out, s)
		}
		return v
	})
	return out
}

// Scrubber replaces known secret strings in free text (progress messages, errors, reasons read back from
// the cluster: a helm error or a termination message may quote a value). It is safe for concurrent use.
type Scrubber struct {
	mu      sync.RWMutex
	secrets map[string]bool
	repl    *strings.Replacer
}

// Add registers secret strings (shorter than 4 bytes are ignored).
func (s *Scrubber) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		if len(v) < minScrubLen || s.secrets[v] {
			continue
		}
		if s.secrets == nil {
			s.secrets = map[string]bool{}
		}
		s.secrets[v] = true
		s.repl = nil
	}
}

// AddValues registers the secret strings of a values document.
func (s *Scrubber) AddValues(doc string, paths []string) { s.Add(secretStrings(doc, paths)...) }

// String returns text with every registered secret replaced by "<redacted>".
func (s *Scrubber) String(text string) string {
	if s == nil || text == "" {
		return text
	}
	s.mu.RLock()
	repl, n := s.repl, len(s.secrets)
	s.mu.RUnlock()
	if n == 0 {
		return text
	}
	if repl == nil {
		s.mu.Lock()
		// Longest first, so a secret that contains another is replaced whole.
		list := make([]string, 0, len(s.secrets))
		for v := range s.secrets {
			list = append(list, v)
		}
		sort.Slice(list, func(i, j int) bool {
			if len(list[i]) != len(list[j]) {
				return len(list[i]) > len(list[j])
			}
			return list[i] < list[j]
		})
		args := make([]string, 0, 2*len(list))
		for _, v := range list {
			args = append(args, v, "<redacted>")
		}
		s.repl = strings.NewReplacer(args...)
		repl = s.repl
		s.mu.Unlock()
	}
	return repl.Replace(text)
}

// Err returns err with a scrubbed message; errors.Is and errors.As still see the original chain.
func (s *Scrubber) Err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := s.String(msg); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// redactRecord returns a copy of r safe to leave the cluster: values and the spec's valuesContent with
// secret leaves replaced by markers, and the reason scrubbed of r's own secrets and those of sc.
func redactRecord(r Record, red *Redactor, sc *Scrubber) (Record, error) {
	own := &Scrubber{}
	own.AddValues(r.Values, r.SecretPaths)
	r.Reason = sc.String(own.String(r.Reason))
	if r.Values != "" {
		v, err := red.Values(r.Values, r.SecretPaths)
		if err != nil {
			return Record{}, fmt.Errorf("redacting values of %s: %w", r.ID, err)
		}
		r.Values = v
	}
	if r.Overrides != "" {
		v, err := red.Values(r.Overrides, r.SecretPaths)
		if err != nil {
			return Record{}, fmt.Errorf("redacting the site's values of %s: %w", r.ID, err)
		}
		r.Overrides = v
	}
	if r.SecretValues != "" {
		v, err := red.Values(r.SecretValues, r.SecretPaths)
		if err != nil {
			return Record{}, fmt.Errorf("redacting secret values of %s: %w", r.ID, err)
		}
		r.SecretValues = v
	}
	if len(r.Spec) > 0 {
		var spec map[string]any
		if err := json.Unmarshal(r.Spec, &spec); err != nil {
			return Record{}, fmt.Errorf("redacting spec of %s: %w", r.ID, err)
		}
		if inner, ok := spec["spec"].(map[string]any); ok {
			if vc, ok := inner["valuesContent"].(string); ok && vc != "" {
				red, err := red.Values(vc, r.SecretPaths)
				if err != nil {
					return Record{}, fmt.Errorf("redacting spec of %s: %w", r.ID, err)
				}
				inner["valuesContent"] = red
			}
		}
		b, err := json.Marshal(spec)
		if err != nil {
			return Record{}, fmt.Errorf("redacting spec of %s: %w", r.ID, err)
		}
		r.Spec = b
	}
	r.Redacted = true
	return r, nil
}

// specSecretPaths finds the secret paths of a recorded spec whose chart is inline (records written before
// SecretPaths existed); without the chart it falls back to the name rule (nil).
func specSecretPaths(hc *helmv1.HelmChart, values string) []string {
	if hc.Spec.ChartContent == "" {
		return nil
	}
	tgz, err := base64.StdEncoding.DecodeString(hc.Spec.ChartContent)
	if err != nil {
		return nil
	}
	c, err := LoadChart(tgz)
	if err != nil {
		return nil
	}
	vals, err := ParseValues([]byte(values))
	if err != nil {
		return nil
	}
	return SecretPaths(c, vals)
}
