package gui

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/fakeengine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

// fixedNow makes records, history and goldens deterministic.
var fixedNow = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// goldenStore gives each test its own site folder, so concurrent runs of this package (two worktrees, CI
// beside a developer) cannot delete each other's records. The folder's path appears on the Done screen;
// golden shows it as sitesPlaceholder.
func goldenStore(t *testing.T) siterecord.Store {
	return siterecord.Store{Root: t.TempDir()}
}

// sitesPlaceholder stands for the test's site folder in goldens.
const sitesPlaceholder = "$SITES"

func newTestWizard(t *testing.T) (*Wizard, *fakeengine.Fake) {
	t.Helper()
	a := test.NewTempApp(t)
	a.Preferences().SetString(prefLang, LangEN)
	f := fakeengine.New()
	f.Clock = func() time.Time { return fixedNow }
	w := New(a, Options{Engine: f, Store: goldenStore(t), Now: func() time.Time { return fixedNow }, Flush: 10 * time.Millisecond, QueueUI: true})
	w.Win.Resize(fyne.NewSize(1000, 700))
	t.Cleanup(func() {
		w.Wait()
		_ = SetLanguage(LangEN)
	})
	return w, f
}

// objects lists everything drawn in the window, dialogs (overlays) first.
func objects(w *Wizard) []fyne.CanvasObject {
	var out []fyne.CanvasObject
	c := w.Win.Canvas()
	for _, o := range c.Overlays().List() {
		out = append(out, test.LaidOutObjects(o)...)
	}
	return append(out, test.LaidOutObjects(c.Content())...)
}

func button(t *testing.T, w *Wizard, text string) *widget.Button {
	t.Helper()
	for _, o := range objects(w) {
		if b, ok := o.(*widget.Button); ok && b.Text == text && b.Visible() {
			return b
		}
	}
	t.Fatalf("no button %q on screen; buttons: %v", text, buttonTexts(w))
	return nil
}

// buttons returns the visible buttons labelled text, in drawing order.
func buttons(w *Wizard, text string) []*widget.Button {
	var out []*widget.Button
	for _, o := range objects(w) {
		if b, ok := o.(*widget.Button); ok && b.Text == text && b.Visible() {
			out = append(out, b)
		}
	}
	return out
}

func buttonTexts(w *Wizard) []string {
	var s []string
	for _, o := range objects(w) {
		if b, ok := o.(*widget.Button); ok {
			s = append(s, b.Text)
		}
	}
	return s
}

// tap taps an enabled button and waits for the engine work it started.
func tap(t *testing.T, w *Wizard, text string) {
	t.Helper()
	b := button(t, w, text)
	if b.Disabled() {
		t.Fatalf("button %q is disabled", text)
	}
	test.Tap(b)
	w.Wait()
}

func entry(t *testing.T, w *Wizard, placeholder string) *widget.Entry {
	t.Helper()
	for _, o := range objects(w) {
		if e, ok := o.(*widget.Entry); ok && e.PlaceHolder == placeholder && e.Visible() {
			return e
		}
	}
	t.Fatalf("no entry with placeholder %q", placeholder)
	return nil
}

// formEntry finds the entry in the form row labelled label.
func formEntry(t *testing.T, w *Wizard, label string) *widget.Entry {
	t.Helper()
	for _, o := range objects(w) {
		f, ok := o.(*widget.Form)
		if !ok {
			continue
		}
		for _, it := range f.Items {
			if it.Text != label {
				continue
			}
			for _, c := range test.LaidOutObjects(it.Widget) {
				if e, ok := c.(*widget.Entry); ok && e.Visible() {
					return e
				}
			}
		}
	}
	t.Fatalf("no form entry %q", label)
	return nil
}

func setText(e *widget.Entry, s string) { e.SetText(s) }

// screenText joins every label on screen, for assertions on what the user reads.
func screenText(w *Wizard) string {
	var b strings.Builder
	for _, o := range objects(w) {
		switch x := o.(type) {
		case *widget.Label:
			b.WriteString(x.Text + "\n")
		case *widget.Hyperlink:
			b.WriteString(x.Text + "\n")
		case *widget.Form:
			for _, it := range x.Items {
				b.WriteString(it.Text + "\n")
			}
		case *widget.Card:
			b.WriteString(x.Title + "\n")
		}
	}
	return b.String()
}

func mustContain(t *testing.T, w *Wizard, want ...string) {
	t.Helper()
	s := screenText(w)
	for _, x := range want {
		if !strings.Contains(s, x) {
			t.Errorf("screen lacks %q; it shows:\n%s", x, s)
		}
	}
}

// golden compares the window with testdata/<name>.
func golden(t *testing.T, w *Wizard, name string) {
	t.Helper()
	w.Wait()
	// A window grows when a transient state needs more room and never shrinks back; pin it. The test
	// canvas lays out only on resize (a real window lays out every frame), so a list that grew from empty
	// would still show no rows: resize through another size to lay everything out, as a frame would.
	relayout := func() {
		w.Win.Resize(fyne.NewSize(999, 699))
		w.Win.Resize(fyne.NewSize(1000, 700))
	}
	relayout()
	// Each test has its own site folder (goldenStore) and the Done screen names it: draw it as
	// sitesPlaceholder, in the widget rather than in the markup, so that the measured text and the layout
	// do not depend on the temp dir either. Walking the widgets creates renderers, which changes what a
	// log list shows; so walk only after the layout above, and lay out again only if a label changed.
	restore, masked := maskText(w, w.Store.Root, sitesPlaceholder)
	defer restore()
	if masked > 0 {
		relayout()
	}
	if !test.AssertRendersToMarkup(t, name, w.Win.Canvas()) {
		return
	}
	if m := test.RenderToMarkup(w.Win.Canvas()); strings.Contains(m, w.Store.Root) {
		t.Errorf("golden %s: the site folder %s is drawn by a widget maskText does not handle", name, w.Store.Root)
	}
	// FERRY_CAPTURE=dir also saves each screen as a PNG (test theme), for a human to look at.
	if dir := os.Getenv("FERRY_CAPTURE"); dir != "" {
		p := filepath.Join(dir, strings.TrimSuffix(name, ".xml")+".png")
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if f, err := os.Create(p); err == nil {
			_ = png.Encode(f, w.Win.Canvas().Capture())
			f.Close()
		}
	}
}

// maskText replaces old with repl in every label on screen; restore puts the texts back, masked counts
// the labels changed. Labels are the only widgets that show the site folder today; golden fails if
// another one starts to.
func maskText(w *Wizard, old, repl string) (restore func(), masked int) {
	if old == "" {
		return func() {}, 0
	}
	type saved struct {
		l    *widget.Label
		text string
	}
	var undo []saved
	for _, o := range objects(w) {
		if l, ok := o.(*widget.Label); ok && strings.Contains(l.Text, old) {
			undo = append(undo, saved{l, l.Text})
			l.SetText(strings.ReplaceAll(l.Text, old, repl))
		}
	}
	return func() {
		for _, u := range undo {
			u.l.SetText(u.text)
		}
	}, len(undo)
}

// visibleObjects lists what is drawn in the window, dialogs first, leaving out whatever is hidden itself
// or inside something hidden (objects keeps the children of a hidden container).
func visibleObjects(w *Wizard) []fyne.CanvasObject {
	var out []fyne.CanvasObject
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || !o.Visible() {
			return
		}
		out = append(out, o)
		switch x := o.(type) {
		case *fyne.Container:
			for _, c := range x.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(x).Objects() {
				walk(c)
			}
		}
	}
	c := w.Win.Canvas()
	for _, o := range c.Overlays().List() {
		walk(o)
	}
	walk(c.Content())
	return out
}

// checkBox finds the visible check box whose text starts with prefix.
func checkBox(t *testing.T, w *Wizard, prefix string) *widget.Check {
	t.Helper()
	for _, o := range visibleObjects(w) {
		if c, ok := o.(*widget.Check); ok && strings.HasPrefix(c.Text, prefix) {
			return c
		}
	}
	t.Fatalf("no check box %q on screen", prefix)
	return nil
}

// shown reports whether an entry with this placeholder is on screen and visible.
func shown(w *Wizard, placeholder string) bool {
	for _, o := range visibleObjects(w) {
		if e, ok := o.(*widget.Entry); ok && e.PlaceHolder == placeholder {
			return true
		}
	}
	return false
}
