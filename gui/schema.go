package gui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"sigs.k8s.io/yaml"
)

// jsonSchema is the subset of JSON Schema the settings form understands. Anything else (arrays, $ref,
// oneOf) is left to the raw YAML editor and passed through untouched.
type jsonSchema struct {
	Type        any          `json:"type"`
	Title       string       `json:"title"`
	Description string       `json:"description"`
	Default     any          `json:"default"`
	Enum        []any        `json:"enum"`
	Properties  orderedProps `json:"properties"`
	Required    []string     `json:"required"`
	Minimum     *float64     `json:"minimum"`
	Maximum     *float64     `json:"maximum"`
	MinLength   *int         `json:"minLength"`
	MaxLength   *int         `json:"maxLength"`
	Pattern     string       `json:"pattern"`
}

// orderedProps keeps the properties in the order the chart author wrote them: that is the form's order.
type orderedProps struct {
	keys []string
	m    map[string]*jsonSchema
}

func (o *orderedProps) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, &o.m); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		o.keys = append(o.keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

func (s *jsonSchema) typ() string {
	switch t := s.Type.(type) {
	case string:
		return t
	case []any: // e.g. ["string","null"]: the first non-null type
		for _, x := range t {
			if str, ok := x.(string); ok && str != "null" {
				return str
			}
		}
	}
	if s.Properties.m != nil {
		return "object"
	}
	return ""
}

// Field is one setting in the generated form. Leaves bind Text (string, integer, number, enum) or Bool.
type Field struct {
	Key         string
	Path        []string
	Title       string
	Description string
	Type        string // string, integer, number, boolean, object
	Enum        []string
	Required    bool
	Default     any
	Children    []*Field

	min, max       *float64
	minLen, maxLen *int
	pattern        *regexp.Regexp
	Text           binding.String
	Bool           binding.Bool
}

// ID is the dotted path, used in error messages and tests.
func (f *Field) ID() string { return strings.Join(f.Path, ".") }

// SchemaForm is the view-model of the settings form generated from a chart's values.schema.json.
type SchemaForm struct {
	Root   *Field
	Leaves []*Field
	base   map[string]any // the last full values, so keys the form does not show survive
}

// ParseSchema builds the form model from a values.schema.json.
func ParseSchema(data []byte) (*SchemaForm, error) {
	var s jsonSchema
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading values.schema.json: %w", err)
	}
	if s.typ() != "object" {
		return nil, fmt.Errorf("reading values.schema.json: the top level must be an object, not %q", s.typ())
	}
	f := &SchemaForm{base: map[string]any{}}
	root, err := f.build(&s, nil, false)
	if err != nil {
		return nil, err
	}
	f.Root = root
	f.SetValues(nil)
	return f, nil
}

func (f *SchemaForm) build(s *jsonSchema, path []string, required bool) (*Field, error) {
	fd := &Field{Path: path, Title: s.Title, Description: s.Description, Type: s.typ(), Required: required,
		Default: s.Default, min: s.Minimum, max: s.Maximum, minLen: s.MinLength, maxLen: s.MaxLength}
	if len(path) > 0 {
		fd.Key = path[len(path)-1]
	}
	if fd.Title == "" {
		fd.Title = fd.Key
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil, fmt.Errorf("reading values.schema.json: %s: bad pattern: %w", fd.ID(), err)
		}
		fd.pattern = re
	}
	for _, e := range s.Enum {
		fd.Enum = append(fd.Enum, fmt.Sprint(e))
	}
	switch fd.Type {
	case "object":
		req := map[string]bool{}
		for _, r := range s.Required {
			req[r] = true
		}
		for _, k := range s.Properties.keys {
			c, err := f.build(s.Properties.m[k], append(append([]string(nil), path...), k), req[k])
			if err != nil {
				return nil, err
			}
			if c != nil {
				fd.Children = append(fd.Children, c)
			}
		}
	case "string", "integer", "number":
		fd.Text = binding.NewString()
		f.Leaves = append(f.Leaves, fd)
	case "boolean":
		fd.Bool = binding.NewBool()
		f.Leaves = append(f.Leaves, fd)
	default:
		return nil, nil // arrays and untyped values: YAML editor only
	}
	return fd, nil
}

func lookup(m map[string]any, path []string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = mm[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func deletePath(m map[string]any, path []string) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, path[len(path)-1])
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// SetValues fills the form from values (e.g. the chart's values.yaml merged with the site's), falling back
// to each field's schema default.
func (f *SchemaForm) SetValues(values map[string]any) {
	if values == nil {
		values = map[string]any{}
	}
	f.base = values
	for _, l := range f.Leaves {
		v, ok := lookup(values, l.Path)
		if !ok {
			v = l.Default
		}
		if l.Bool != nil {
			b, _ := v.(bool)
			_ = l.Bool.Set(b)
			continue
		}
		_ = l.Text.Set(formatValue(v))
	}
}

// Values returns the form's values over the base ones, and the validation errors by field ID.
func (f *SchemaForm) Values() (map[string]any, map[string]string) {
	out := deepCopy(f.base)
	errs := map[string]string{}
	for _, l := range f.Leaves {
		if l.Bool != nil {
			b, _ := l.Bool.Get()
			setPath(out, l.Path, b)
			continue
		}
		s, _ := l.Text.Get()
		s = strings.TrimSpace(s)
		if s == "" {
			if l.Required {
				errs[l.ID()] = lang.X("schema.required", "{{.Field}} is required.", map[string]any{"Field": l.Title})
			}
			deletePath(out, l.Path)
			continue
		}
		v, msg := l.parse(s)
		if msg != "" {
			errs[l.ID()] = msg
			continue
		}
		setPath(out, l.Path, v)
	}
	return out, errs
}

func (l *Field) parse(s string) (any, string) {
	data := map[string]any{"Field": l.Title}
	if len(l.Enum) > 0 {
		for _, e := range l.Enum {
			if e == s {
				if l.Type == "integer" || l.Type == "number" {
					n, _ := strconv.ParseFloat(s, 64)
					return n, ""
				}
				return s, ""
			}
		}
		data["Choices"] = strings.Join(l.Enum, ", ")
		return nil, lang.X("schema.enum", "{{.Field}} must be one of: {{.Choices}}.", data)
	}
	switch l.Type {
	case "integer", "number":
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || l.Type == "integer" && n != math.Trunc(n) {
			if l.Type == "integer" {
				return nil, lang.X("schema.integer", "{{.Field}} must be a whole number.", data)
			}
			return nil, lang.X("schema.number", "{{.Field}} must be a number.", data)
		}
		if l.min != nil && n < *l.min {
			data["Min"] = formatValue(*l.min)
			return nil, lang.X("schema.min", "{{.Field}} must be at least {{.Min}}.", data)
		}
		if l.max != nil && n > *l.max {
			data["Max"] = formatValue(*l.max)
			return nil, lang.X("schema.max", "{{.Field}} must be at most {{.Max}}.", data)
		}
		if l.Type == "integer" {
			return int64(n), ""
		}
		return n, ""
	}
	if l.minLen != nil && len([]rune(s)) < *l.minLen || l.maxLen != nil && len([]rune(s)) > *l.maxLen {
		return nil, lang.X("schema.length", "{{.Field}} has the wrong length.", data)
	}
	if l.pattern != nil && !l.pattern.MatchString(s) {
		data["Pattern"] = l.pattern.String()
		return nil, lang.X("schema.pattern", "{{.Field}} must match {{.Pattern}}.", data)
	}
	return s, ""
}

// YAML renders the current values (valid or not) for the raw editor.
func (f *SchemaForm) YAML() ([]byte, map[string]string, error) {
	v, errs := f.Values()
	out, err := yaml.Marshal(v)
	return out, errs, err
}

// SetYAML parses values edited as YAML back into the form.
func (f *SchemaForm) SetYAML(data []byte) error {
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("reading the settings YAML: %w", err)
	}
	f.SetValues(v)
	return nil
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if mm, ok := v.(map[string]any); ok {
			v = deepCopy(mm)
		}
		out[k] = v
	}
	return out
}
