package gui

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
)

// ManageVM is the Manage site screen: status, components, history and rollback.
type ManageVM struct {
	Status  binding.Untyped // engine.Status
	History binding.Untyped // []engine.Release
	Busy    binding.Bool
	Message binding.String
	Problem ProblemBinding
	// Relogin is set when a host refused the login and the site's hosts need secrets typed in: the wizard
	// offers to enter them again.
	Relogin binding.Bool
}

// NewManageVM returns an empty model; Refresh fills it.
func NewManageVM() *ManageVM {
	return &ManageVM{Status: binding.NewUntyped(), History: binding.NewUntyped(), Busy: binding.NewBool(),
		Message: binding.NewString(), Problem: newProblemBinding(), Relogin: binding.NewBool()}
}

func (vm *ManageVM) status() (engine.Status, bool) {
	return held[engine.Status](vm.Status)
}

func (vm *ManageVM) history() []engine.Release {
	h, _ := held[[]engine.Release](vm.History)
	return h
}

// RollbackTargets are the kept versions other than the running one, newest first, each listed once.
func RollbackTargets(current string, history []engine.Release) []string {
	seen := map[string]bool{current: true}
	var out []string
	for _, r := range history {
		if r.Kept && !seen[r.Version] {
			seen[r.Version] = true
			out = append(out, r.Version)
		}
	}
	return out
}

// Refresh reads status and history on a goroutine.
func (vm *ManageVM) Refresh(w *Wizard) {
	site := w.engineSite()
	_ = vm.Busy.Set(true)
	setProblem(vm.Problem, nil)
	w.Run(func() func() { return vm.fetch(w, site) })
}

// fetch reads status and history (engine goroutine) and returns the UI update showing them.
func (vm *ManageVM) fetch(w *Wizard, site engine.Site) func() {
	st, err := w.Eng.Status(w.ctx(), site)
	var h []engine.Release
	if err == nil {
		h, err = w.Eng.History(w.ctx(), site)
	}
	return func() {
		_ = vm.Busy.Set(false)
		_ = vm.Relogin.Set(errors.Is(err, engine.ErrAuth) && needsSecrets(site.Hosts))
		if err != nil {
			setProblem(vm.Problem, err)
			return
		}
		_ = vm.Status.Set(&st)
		_ = vm.History.Set(&h)
	}
}

// Rollback restores version on a goroutine, then refreshes and saves the site record.
func (vm *ManageVM) Rollback(w *Wizard, version string) {
	site := w.engineSite()
	rec := w.Site.Record()
	_ = vm.Busy.Set(true)
	_ = vm.Message.Set(lang.X("manage.rollingback", "Rolling back to {{.Version}}…", map[string]any{"Version": version}))
	setProblem(vm.Problem, nil)
	w.Run(func() func() {
		_ = w.Store.Audit(rec.Name, w.Now(), "rollback to "+version+" started")
		_, err := w.Eng.Rollback(w.ctx(), site, version, nil)
		if err != nil {
			_ = w.Store.Audit(rec.Name, w.Now(), "rollback to "+version+" failed: "+err.Error())
			return func() {
				_ = vm.Message.Set("")
				_ = vm.Busy.Set(false)
				setProblem(vm.Problem, err)
			}
		}
		_ = w.Store.Audit(rec.Name, w.Now(), "rollback to "+version+" succeeded")
		show := vm.fetch(w, site)
		saveErr := error(nil)
		if h, herr := w.Eng.History(w.ctx(), site); herr == nil {
			rec.Version, rec.History, rec.Updated = version, h, w.Now()
			saveErr = w.Store.Save(rec)
		}
		return func() {
			show()
			_ = vm.Message.Set(lang.X("manage.rolledback", "The site now runs {{.Version}}.", map[string]any{"Version": version}))
			if saveErr != nil {
				setProblem(vm.Problem, saveErr)
			}
			w.Site.Version, w.Site.History = rec.Version, rec.History
		}
	})
}

// needsSecrets reports whether any host logs in with a secret typed by the user.
func needsSecrets(hosts []engine.Host) bool {
	for _, h := range hosts {
		if h.PasswordAuth || h.KeyEncrypted || h.SudoAsks {
			return true
		}
	}
	return false
}

// Relogin forgets the secrets typed for the site and asks for them again, then shows the site.
func (w *Wizard) Relogin() {
	for i := range w.Site.Hosts {
		h := &w.Site.Hosts[i]
		h.Password, h.KeyPassphrase, h.SudoPassword = "", "", ""
	}
	w.ensureSecrets(w.ShowManage)
}

func healthText(h engine.Health) (string, widget.Importance) {
	switch h {
	case engine.Healthy:
		return lang.X("health.healthy", "healthy"), widget.SuccessImportance
	case engine.Degraded:
		return lang.X("health.degraded", "degraded"), widget.WarningImportance
	case engine.Progressing:
		return lang.X("health.progressing", "starting"), widget.MediumImportance
	}
	return lang.X("health.down", "down"), widget.DangerImportance
}

func actionText(a string) string {
	switch a {
	case engine.ActionInstall:
		return lang.X("history.install", "installed")
	case engine.ActionUpgrade:
		return lang.X("history.upgrade", "upgraded")
	case engine.ActionRollback:
		return lang.X("history.rollback", "rolled back")
	case engine.ActionAutoRollback:
		return lang.X("history.autorollback", "rolled back automatically")
	}
	return a
}

func resultText(r string) string {
	switch r {
	case engine.ResultSucceeded:
		return lang.X("history.succeeded", "succeeded")
	case engine.ResultFailed:
		return lang.X("history.failed", "failed")
	case engine.ResultRolledBack:
		return lang.X("history.rolledback", "failed, rolled back")
	case engine.ResultInProgress:
		return lang.X("history.inprogress", "in progress or interrupted")
	}
	return r
}

// ShowManage shows the Manage site screen for w.Site.
func (w *Wizard) ShowManage() {
	vm := NewManageVM()
	vm.Refresh(w)
	w.show(func() fyne.CanvasObject { return w.manageStep(vm) })
}

func (w *Wizard) manageStep(vm *ManageVM) fyne.CanvasObject {
	summary := container.NewVBox()
	components := container.NewVBox()
	history := container.NewVBox()
	upgrade := widget.NewButtonWithIcon(lang.X("manage.upgrade", "Upgrade…"), theme.UploadIcon(), func() { w.ShowUpgrade() })
	upgrade.Importance = widget.HighImportance
	refresh := widget.NewButtonWithIcon(lang.X("manage.refresh", "Refresh"), theme.ViewRefreshIcon(), func() { vm.Refresh(w) })
	start := widget.NewButtonWithIcon(lang.X("done.start", "Back to start"), theme.HomeIcon(), w.ShowStart)
	busy := widget.NewProgressBarInfinite()
	busy.Stop()
	busy.Hide()
	msg := widget.NewLabelWithData(vm.Message)
	msg.Wrapping = fyne.TextWrapWord
	relogin := widget.NewButtonWithIcon(lang.X("manage.relogin", "Enter the passwords again"), theme.LoginIcon(), w.Relogin)
	relogin.Hide()
	vm.Relogin.AddListener(binding.NewDataListener(func() {
		if on, _ := vm.Relogin.Get(); on {
			relogin.Show()
		} else {
			relogin.Hide()
		}
	}))

	redraw := func() {
		summary.RemoveAll()
		components.RemoveAll()
		history.RemoveAll()
		st, ok := vm.status()
		if !ok {
			return
		}
		ht, imp := healthText(st.Health)
		hl := widget.NewLabelWithStyle(ht, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		hl.Importance = imp
		summary.Add(widget.NewForm(
			widget.NewFormItem(lang.X("bundle.app", "Application"), widget.NewLabel(st.App)),
			widget.NewFormItem(lang.X("bundle.version", "Version"), widget.NewLabel(st.Version)),
			widget.NewFormItem(lang.X("bundle.k3s", "k3s version"), k3sView(st)),
			widget.NewFormItem(lang.X("manage.health", "Health"), hl),
			widget.NewFormItem(lang.X("done.address", "Application address"), widget.NewLabel(st.AppURL)),
		))
		components.Add(componentsTable(st.Components))
		targets := map[string]bool{}
		for _, v := range RollbackTargets(st.Version, vm.history()) {
			targets[v] = true
		}
		offered := map[string]bool{}
		for _, r := range vm.history() {
			line := widget.NewLabel(fmt.Sprintf("%s  %s  %s — %s", r.Time.UTC().Format("2006-01-02 15:04"), r.Version, actionText(r.Action), resultText(r.Result)))
			line.Wrapping = fyne.TextWrapWord
			var right fyne.CanvasObject
			if targets[r.Version] && !offered[r.Version] {
				offered[r.Version] = true
				v := r.Version
				b := widget.NewButtonWithIcon(lang.X("manage.rollback", "Roll back to this version"), theme.MediaReplayIcon(), func() {
					dialog.ShowConfirm(lang.X("manage.rollback.title", "Roll back?"),
						lang.X("manage.rollback.confirm", "Roll the site back from {{.From}} to {{.To}}? The application restarts with the older version and its settings.", map[string]any{"From": st.Version, "To": v}),
						func(ok bool) {
							if ok {
								vm.Rollback(w, v)
							}
						}, w.Win)
				})
				right = b
			}
			if right != nil {
				history.Add(container.NewBorder(nil, nil, nil, right, line))
			} else {
				history.Add(line)
			}
		}
	}
	vm.Status.AddListener(binding.NewDataListener(redraw))
	vm.History.AddListener(binding.NewDataListener(redraw))
	vm.Busy.AddListener(binding.NewDataListener(func() {
		b, _ := vm.Busy.Get()
		enable(upgrade, !b)
		enable(refresh, !b)
		if b {
			busy.Show()
			busy.Start()
		} else {
			busy.Stop()
			busy.Hide()
		}
	}))
	left := container.NewVBox(bold(lang.X("manage.status", "Status")), summary)
	right := container.NewVBox(bold(lang.X("manage.history", "History")), history)
	// The components get the full width: their details (why a part is not ready) are what an engineer
	// reads first when the app is unwell.
	body := container.NewBorder(container.NewVBox(busy, msg, w.problemView(vm.Problem), container.NewHBox(relogin)), nil, nil, nil,
		container.NewVScroll(container.NewVBox(container.NewGridWithColumns(2, left, right),
			bold(lang.X("manage.components", "Components")), components)))
	return w.page(lang.X("manage.title", "Site {{.Site}}", map[string]any{"Site": w.Site.Name}), -1, body, start, refresh, upgrade)
}

// K3sNote is what the Manage screen says under the k3s version: nothing while the servers agree; while
// they run different versions, that a k3s upgrade is going through them or stopped halfway.
func K3sNote(st engine.Status) string {
	if !st.K3sMixed {
		return ""
	}
	return lang.X("manage.k3smixed", "The servers run different k3s versions: a k3s upgrade is under way or stopped halfway.")
}

// k3sView is the k3s version, with K3sNote in orange below it when the servers differ.
func k3sView(st engine.Status) fyne.CanvasObject {
	v := widget.NewLabel(st.K3sVersion)
	v.Wrapping = fyne.TextWrapWord
	note := K3sNote(st)
	if note == "" {
		return v
	}
	v.Importance = widget.WarningImportance
	n := widget.NewLabel(note)
	n.Wrapping = fyne.TextWrapWord
	n.Importance = widget.WarningImportance
	return container.NewVBox(v, n)
}

// SortComponents puts workloads first, then the services that expose them, keeping the engine's order
// within each: the app reads as one system.
func SortComponents(cs []engine.Component) []engine.Component {
	out := append([]engine.Component(nil), cs...)
	rank := func(c engine.Component) int {
		if c.Kind == "Service" {
			return 1
		}
		return 0
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// ComponentFigures is the Detail column's figures: replicas and rollout for a workload, address, ports and
// endpoints for a service.
func ComponentFigures(c engine.Component) string {
	switch {
	case c.Kind == "Service":
		parts := []string{}
		if c.Address != "" {
			parts = append(parts, c.Address)
		}
		if len(c.Ports) > 0 {
			parts = append(parts, strings.Join(c.Ports, " "))
		}
		if c.Ready != "" {
			parts = append(parts, lang.X("component.endpoints", "{{.Ready}} endpoints ready", map[string]any{"Ready": c.Ready}))
		}
		return strings.Join(parts, " · ")
	case c.Ready == "":
		return lang.X("component.missing", "not in the cluster")
	case c.Kind == "Job":
		return lang.X("component.job", "{{.Ready}} completed", map[string]any{"Ready": c.Ready})
	case c.RolledOut:
		return lang.X("component.rolledout", "{{.Ready}} ready, rolled out", map[string]any{"Ready": c.Ready})
	}
	return lang.X("component.rolling", "{{.Ready}} ready, rolling out", map[string]any{"Ready": c.Ready})
}

// componentsTable draws the components as a table (component, kind, state, detail); a component that is
// not healthy gets the engine's reason on a wrapped line below its row.
func componentsTable(cs []engine.Component) fyne.CanvasObject {
	cols := &columns{}
	head := []fyne.CanvasObject{bold(lang.X("manage.col.part", "Component")), bold(lang.X("manage.col.kind", "Kind")),
		bold(lang.X("manage.col.state", "State")), bold(lang.X("manage.col.detail", "Detail"))}
	rows := []fyne.CanvasObject{container.New(cols, head...)}
	cells := [][]fyne.CanvasObject{head}
	for _, c := range SortComponents(cs) {
		t, imp := healthText(c.State)
		state := widget.NewLabel(t)
		state.Importance = imp
		fig := widget.NewLabel(ComponentFigures(c))
		fig.Truncation = fyne.TextTruncateEllipsis
		row := []fyne.CanvasObject{widget.NewLabel(c.Name), widget.NewLabel(c.Kind), state, fig}
		cells = append(cells, row)
		rows = append(rows, container.New(cols, row...))
		if c.Detail != "" && c.State != engine.Healthy {
			// The engine's reason (English, naming images, nodes and pods) under a heading in the user's language.
			why := widget.NewLabel(lang.X("component.why", "Why: {{.Reason}}", map[string]any{"Reason": c.Detail}))
			why.Wrapping = fyne.TextWrapWord
			why.Importance = imp
			rows = append(rows, why)
		}
	}
	if len(cs) == 0 {
		rows = append(rows, widget.NewLabel(lang.X("manage.nocomponents", "The engine reported no components.")))
	}
	cols.fit(cells)
	return container.NewVBox(rows...)
}

// columns lays out one table row: the leading columns as wide as their widest cell in the whole table,
// the last one takes the rest of the width.
type columns struct{ w []float32 }

func (c *columns) fit(rows [][]fyne.CanvasObject) {
	for _, r := range rows {
		for i, o := range r[:len(r)-1] {
			if i >= len(c.w) {
				c.w = append(c.w, 0)
			}
			c.w[i] = max(c.w[i], o.MinSize().Width)
		}
	}
}

func (c *columns) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for i, o := range objs {
		m := o.MinSize()
		if i < len(c.w) {
			s.Width += c.w[i]
		} else {
			s.Width += m.Width
		}
		s.Height = max(s.Height, m.Height)
	}
	return s
}

func (c *columns) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	x := float32(0)
	for i, o := range objs {
		w := size.Width - x
		if i < len(c.w) && i < len(objs)-1 {
			w = c.w[i]
		}
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(w, size.Height))
		x += w
	}
}
