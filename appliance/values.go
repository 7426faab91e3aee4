package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// ErrInvalidValues marks values that the chart's values.schema.json rejects, or that are not a YAML map.
var ErrInvalidValues = errors.New("invalid values")

// MergeValues deep-merges site overrides over bundle defaults with helm's rules for user values (maps
// merge key by key, anything else in overrides replaces, a null in overrides deletes the key), so what the
// site sees is what helm would compute from two --values files. Neither input is modified. (helm's own
// chartutil.CoalesceTables does the same but logs to the global logger; an engine stays silent.)
func MergeValues(defaults, overrides map[string]any) (map[string]any, error) {
	d, err := copyValues(defaults)
	if err != nil {
		return nil, err
	}
	o, err := copyValues(overrides)
	if err != nil {
		return nil, err
	}
	return mergeInto(d, o), nil
}

func mergeInto(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			dst[k] = mergeInto(dm, sm)
			continue
		}
		if sok {
			v = dropNulls(sm)
		}
		dst[k] = v
	}
	return dst
}

// dropNulls removes null leaves of a map that lands where nothing was: there is nothing for them to delete.
func dropNulls(m map[string]any) map[string]any {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNulls(x)
		}
	}
	return m
}

// ParseValues reads a YAML values document; an empty document is an empty map.
func ParseValues(doc []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return map[string]any{}, nil
	}
	v := map[string]any{}
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidValues, err)
	}
	return v, nil
}

// copyValues deep-copies through JSON so the result holds only JSON types (what helm sees after it reads
// valuesContent back) and so the caller's maps are never aliased.
func copyValues(v map[string]any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidValues, err)
	}
	return ParseValues(b)
}

// ValuesYAML renders values canonically: keys sorted, so the same values always give the same bytes (the
// HelmChart spec must be byte-identical for identical inputs).
func ValuesYAML(v map[string]any) (string, error) {
	if len(v) == 0 {
		return "", nil
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("rendering values: %w", err)
	}
	return string(b), nil
}

// LoadChart reads a chart archive (.tgz) with helm's loader.
func LoadChart(tgz []byte) (*chart.Chart, error) {
	c, err := loader.LoadArchive(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("loading chart archive: %w", err)
	}
	return c, nil
}

// ValidateValues checks vals the way helm install will: the chart's own defaults coalesced with vals, then
// validated against values.schema.json of the chart and of every subchart. A chart without a schema
// accepts anything. The schema validator quotes offending values ("'x' does not match pattern ..."), so
// secret values are scrubbed from the error.
func ValidateValues(c *chart.Chart, vals map[string]any) error {
	all, err := chartutil.CoalesceValues(c, vals)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidValues, scrubValues(c, vals, err.Error()))
	}
	if err := chartutil.ValidateAgainstSchema(c, all); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidValues, scrubValues(c, vals, err.Error()))
	}
	return nil
}

func scrubValues(c *chart.Chart, vals map[string]any, msg string) string {
	doc, err := ValuesYAML(vals)
	if err != nil {
		return "values could not be rendered to report the error safely"
	}
	sc := &Scrubber{}
	sc.AddValues(doc, SecretPaths(c, vals))
	return sc.String(msg)
}

// splitSecretValues splits merged values into what may sit in the HelmChart's valuesContent and what must
// go to the values Secret: every value under a secret path (paths, plus the name rule) moves to secret,
// with the maps above it. A list cannot be split, because helm replaces lists whole when it merges values
// files: a secret inside a list moves the whole list (its harmless elements then sit in the Secret too).
// helm merging public and then secret (mergeValueFiles) gives back vals exactly. vals is not modified.
func splitSecretValues(vals map[string]any, paths []string) (public, secret map[string]any, err error) {
	public, err = copyValues(vals)
	if err != nil {
		return nil, nil, err
	}
	all := append(SecretPaths(nil, public), paths...)
	segs := make([][]string, 0, len(all))
	for _, p := range all {
		if s := splitPointer(p); len(s) > 0 {
			segs = append(segs, s)
		}
	}
	// Shorter paths first: a subtree already moved whole makes the paths below it find nothing left.
	sort.SliceStable(segs, func(i, j int) bool { return len(segs[i]) < len(segs[j]) })
	secret = map[string]any{}
	for _, s := range segs {
		cur, dst := public, secret
		for i, k := range s {
			v, ok := cur[k]
			if !ok {
				break
			}
			_, isList := v.([]any)
			if i == len(s)-1 || isList {
				dst[k] = v
				delete(cur, k)
				break
			}
			m, isMap := v.(map[string]any)
			if !isMap {
				break // the path goes below a scalar: nothing there
			}
			next, _ := dst[k].(map[string]any)
			if next == nil {
				next = map[string]any{}
				dst[k] = next
			}
			cur, dst = m, next
		}
	}
	return public, secret, nil
}

// mergeValueFiles merges values files the way helm does for repeated --values (helm's
// pkg/cli/values.mergeMaps): later files win, maps merge key by key, anything else (lists included)
// replaces. klipper-helm passes valuesContent first, then each valuesSecrets key in order.
func mergeValueFiles(files ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range files {
		out = mergeMaps(out, f)
	}
	return out
}

func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
