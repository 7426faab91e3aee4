package gui

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/gui/realengine"
)

// usedKeys parses the package's non-test sources and returns every lang.X key with its English fallback.
// A call whose key is not a string literal fails the test: such a key could not be checked.
func usedKeys(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	keys := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "lang" {
				return true
			}
			switch sel.Sel.Name {
			case "X", "L":
			default:
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				// engineText is the one sanctioned dynamic key: engine ids with an English fallback.
				if fset.Position(call.Pos()).Filename == "i18n.go" {
					return true
				}
				t.Errorf("%s: lang.%s with a non-literal key", fset.Position(call.Pos()), sel.Sel.Name)
				return true
			}
			key, _ := strconv.Unquote(lit.Value)
			fallback := key
			if sel.Sel.Name == "X" {
				if fl, ok := call.Args[1].(*ast.BasicLit); ok {
					fallback, _ = strconv.Unquote(fl.Value)
				}
			}
			if prev, dup := keys[key]; dup && prev != fallback {
				t.Errorf("%s: key %q used with two English texts: %q and %q", fset.Position(call.Pos()), key, prev, fallback)
			}
			keys[key] = fallback
			return true
		})
	}
	return keys
}

var templateVar = regexp.MustCompile(`{{\s*\.(\w+)\s*}}`)

func vars(s string) []string {
	var out []string
	for _, m := range templateVar.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

func TestEveryKeyIsTranslatedInBothLanguages(t *testing.T) {
	used := usedKeys(t)
	if len(used) < 50 {
		t.Fatalf("found only %d keys: the source scan is broken", len(used))
	}
	en, zh := bothTranslations(t)
	for key, fallback := range used {
		if en[key] != fallback {
			t.Errorf("en.json[%q] = %q, want the code's English %q", key, en[key], fallback)
		}
		z, ok := zh[key]
		switch {
		case !ok || strings.TrimSpace(z) == "":
			t.Errorf("zh-Hans.json lacks %q (%q)", key, fallback)
		case z == fallback && regexp.MustCompile(`[A-Za-z]{3}`).MatchString(templateVar.ReplaceAllString(fallback, "")):
			t.Errorf("zh-Hans.json[%q] is the English text, not a translation", key)
		}
		if d := cmp.Diff(vars(fallback), vars(z)); ok && d != "" {
			t.Errorf("zh-Hans.json[%q] template variables differ (-en +zh):\n%s", key, d)
		}
	}
	// Keys in the files that no code uses are stale, except the engine-id keys engineText builds: those
	// must name a step or check an engine (the real one, or the demo's fake) reports.
	engineKeys := map[string]bool{}
	for _, steps := range realengine.PhaseLists() {
		for _, p := range steps {
			engineKeys["phase."+p.ID] = true
		}
	}
	for _, p := range fakeSteps(t) {
		engineKeys["phase."+p.ID] = true
	}
	for id := range realengine.CheckTitles() {
		engineKeys["check."+id] = true
	}
	for _, file := range []map[string]string{en, zh} {
		for key := range file {
			if _, ok := used[key]; !ok && !engineKeys[key] {
				t.Errorf("translation key %q is not used by the code, nor an engine's step or check", key)
			}
		}
	}
	for key := range en {
		if _, ok := zh[key]; !ok {
			t.Errorf("zh-Hans.json lacks engine key %q", key)
		}
	}
}

// bothTranslations loads the English and Chinese translation files' keys, failing the test if either
// cannot be read.
func bothTranslations(t *testing.T) (en, zh map[string]string) {
	t.Helper()
	var err error
	if en, err = translationKeys(LangEN); err != nil {
		t.Fatal(err)
	}
	if zh, err = translationKeys(LangZH); err != nil {
		t.Fatal(err)
	}
	return en, zh
}
