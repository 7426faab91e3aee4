package payload

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// chartFacts is what the writer needs from a chart archive: its identity and its own default values and
// schema (used when the Source does not give separate files). Linting and rendering are the builder's job;
// this only reads the top-level files.
type chartFacts struct {
	Name, Version, AppVersion string
	Values, Schema            []byte // nil when the chart has none
}

const maxChartFile = 16 << 20

func readChart(path string) (*chartFacts, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("chart %s is not a gzipped tar (.tgz): %w", path, err)
	}
	tr := tar.NewReader(gz)
	var facts chartFacts
	var chartYAML []byte
	top := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading chart %s: %w", path, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		dir, rest, ok := strings.Cut(name, "/")
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		if top == "" {
			top = dir
		}
		if dir != top {
			continue
		}
		var dst *[]byte
		switch rest {
		case "Chart.yaml":
			dst = &chartYAML
		case "values.yaml":
			dst = &facts.Values
		case "values.schema.json":
			dst = &facts.Schema
		default:
			continue
		}
		if h.Size > maxChartFile {
			return nil, fmt.Errorf("chart %s: %s is larger than %d bytes", path, name, maxChartFile)
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxChartFile))
		if err != nil {
			return nil, fmt.Errorf("reading chart %s: %w", path, err)
		}
		*dst = b
	}
	if chartYAML == nil {
		return nil, errors.New("chart " + path + " has no top-level Chart.yaml")
	}
	var meta struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(chartYAML, &meta); err != nil {
		return nil, fmt.Errorf("chart %s: parsing Chart.yaml: %w", path, err)
	}
	if meta.Name == "" || meta.Version == "" {
		return nil, fmt.Errorf("chart %s: Chart.yaml must set name and version", path)
	}
	facts.Name, facts.Version, facts.AppVersion = meta.Name, meta.Version, meta.AppVersion
	return &facts, nil
}
