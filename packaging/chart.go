package packaging

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// ErrChartInvalid is returned when the chart does not load, lint or render.
var ErrChartInvalid = errors.New("chart is invalid")

// loadedChart is the chart as it will ship: packaged, linted, with the values it is rendered with.
type loadedChart struct {
	chart  *chart.Chart
	values chartutil.Values // the spec's override values (nil when none)
}

// loadChart loads the chart (directory or .tgz) and lints it with the override values, as `helm lint
// --values` would. Lint errors fail the build; warnings do not.
func loadChart(path, valuesPath string) (*loadedChart, error) {
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w: %w", path, ErrChartInvalid, err)
	}
	var vals chartutil.Values
	if valuesPath != "" {
		if vals, err = chartutil.ReadValuesFile(valuesPath); err != nil {
			return nil, fmt.Errorf("reading values %s: %w", valuesPath, err)
		}
	}
	if err := lintChart(path, vals); err != nil {
		return nil, fmt.Errorf("linting chart %s: %w: %w", path, ErrChartInvalid, err)
	}
	return &loadedChart{chart: ch, values: vals}, nil
}

// lintChart runs helm's linters (as `helm lint --values`) and fails on error-level findings. Helm lints
// directories, so a .tgz is expanded into a temporary one first. (helm's action package would do the
// same but pulls in the whole Kubernetes client stack.)
func lintChart(path string, vals chartutil.Values) error {
	dir := path
	if fi, err := os.Stat(path); err != nil {
		return err
	} else if !fi.IsDir() {
		tmp, err := os.MkdirTemp("", "ferry-lint-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := chartutil.Expand(tmp, f); err != nil {
			return fmt.Errorf("expanding chart archive: %w", err)
		}
		entries, err := os.ReadDir(tmp)
		if err != nil {
			return err
		}
		if len(entries) != 1 || !entries[0].IsDir() {
			return errors.New("the chart archive must hold exactly one top-level directory")
		}
		dir = filepath.Join(tmp, entries[0].Name())
	}
	linter := lint.All(dir, vals, "default", false)
	var errs []error
	for _, m := range linter.Messages {
		if m.Severity >= support.ErrorSev {
			errs = append(errs, m.Err)
		}
	}
	return errors.Join(errs...)
}

// packageChart writes the chart as a .tgz into dir (helm package); a .tgz source is still re-saved so
// what ships is exactly what was loaded and linted.
func (c *loadedChart) packageChart(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("packaging chart: %w", err)
	}
	p, err := chartutil.Save(c.chart, dir)
	if err != nil {
		return "", fmt.Errorf("packaging chart: %w", err)
	}
	if err := stripTimes(p); err != nil {
		return "", fmt.Errorf("packaging chart: %w", err)
	}
	return p, nil
}

// chartTime stamps every entry of a packaged chart: helm stamps them with the time of packaging, which
// would make two builds of the same inputs differ.
var chartTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// stripTimes rewrites the .tgz at p with fixed timestamps in its tar and gzip headers; names, modes and
// content stay as helm wrote them.
func stripTimes(p string) error {
	raw, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Header = gzip.Header{Comment: zr.Header.Comment, Extra: zr.Header.Extra, Name: zr.Header.Name, OS: zr.Header.OS}
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		h.ModTime, h.AccessTime, h.ChangeTime = chartTime, time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(p, out.Bytes(), 0o644)
}

// writeSchema writes the chart's values.schema.json into dir, or returns "" when the chart has none.
func (c *loadedChart) writeSchema(dir string) (string, error) {
	if len(c.chart.Schema) == 0 {
		return "", nil
	}
	p := filepath.Join(dir, "values.schema.json")
	if err := os.WriteFile(p, c.chart.Schema, 0o644); err != nil {
		return "", fmt.Errorf("writing values schema: %w", err)
	}
	return p, nil
}

// render renders the chart's templates with its default values plus the overrides, as an install of
// release releaseName would.
func (c *loadedChart) render(releaseName string) (map[string]string, error) {
	vals, err := chartutil.ToRenderValues(c.chart, c.values, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: "default", IsInstall: true, Revision: 1,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("rendering chart: %w: %w", ErrChartInvalid, err)
	}
	out, err := engine.Render(c.chart, vals)
	if err != nil {
		return nil, fmt.Errorf("rendering chart: %w: %w", ErrChartInvalid, err)
	}
	return out, nil
}

// discoverImages renders the chart and returns every container image its workloads run, deduplicated and
// sorted as written (normalisation happens later, together with the spec's explicit list).
func (c *loadedChart) discoverImages(releaseName string) ([]string, error) {
	rendered, err := c.render(releaseName)
	if err != nil {
		return nil, err
	}
	return imagesInManifests(rendered)
}

// podSpecPaths says where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// imagesInManifests parses rendered templates (file name -> YAML, possibly multi-document) and collects
// the images of containers, initContainers and ephemeralContainers of every workload.
func imagesInManifests(rendered map[string]string) ([]string, error) {
	files := make([]string, 0, len(rendered))
	for f := range rendered {
		files = append(files, f)
	}
	sort.Strings(files)
	set := map[string]bool{}
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") || strings.HasSuffix(base, ".txt") {
			continue // helpers and NOTES.txt are not manifests
		}
		for _, doc := range releaseutil.SplitManifests(rendered[f]) {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				return nil, fmt.Errorf("parsing rendered %s: %w: %w", f, ErrChartInvalid, err)
			}
			kind, _ := obj["kind"].(string)
			path, ok := podSpecPaths[kind]
			if !ok {
				continue
			}
			spec := dig(obj, path)
			for _, field := range []string{"initContainers", "containers", "ephemeralContainers"} {
				list, _ := spec[field].([]any)
				for i, item := range list {
					ctr, _ := item.(map[string]any)
					img, _ := ctr["image"].(string)
					if img == "" {
						return nil, fmt.Errorf("reading rendered %s: %w: %s %s has no image in %s[%d]",
							f, ErrChartInvalid, kind, objName(obj), field, i)
					}
					set[img] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for img := range set {
		out = append(out, img)
	}
	sort.Strings(out)
	return out, nil
}

func dig(obj map[string]any, path []string) map[string]any {
	cur := obj
	for _, p := range path {
		next, _ := cur[p].(map[string]any)
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}

func objName(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	n, _ := md["name"].(string)
	return n
}
