package gui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"sigs.k8s.io/yaml"

	"github.com/ferry-delivery/ferry/gui/engine"
)

// ConfigureVM is the Settings step: the generated form (when the chart has a usable schema) and the raw
// YAML editor, kept in step with each other.
type ConfigureVM struct {
	Form      *SchemaForm // nil: no usable schema, YAML only
	SchemaErr error
	YAML      binding.String
	// Errors maps field IDs to their validation message; "" is the YAML editor's own error.
	Errors map[string]binding.String
	// Summary says how many problems block going on.
	Summary binding.String
}

// NewConfigureVM builds the form from the bundle's schema and fills it with the chart's defaults, then the
// site's earlier values.
func NewConfigureVM(b engine.Bundle, previous []byte) *ConfigureVM {
	vm := &ConfigureVM{YAML: binding.NewString(), Errors: map[string]binding.String{"": binding.NewString()}, Summary: binding.NewString()}
	values := map[string]any{}
	_ = yaml.Unmarshal(b.DefaultValues, &values)
	if len(previous) > 0 {
		prev := map[string]any{}
		if yaml.Unmarshal(previous, &prev) == nil {
			values = mergeValues(values, prev)
		}
	}
	if len(b.ValuesSchema) > 0 {
		vm.Form, vm.SchemaErr = ParseSchema(b.ValuesSchema)
	}
	if vm.Form != nil {
		for _, l := range vm.Form.Leaves {
			vm.Errors[l.ID()] = binding.NewString()
		}
		vm.Form.SetValues(values)
		out, _, _ := vm.Form.YAML()
		_ = vm.YAML.Set(string(out))
	} else {
		out, _ := yaml.Marshal(values)
		_ = vm.YAML.Set(string(out))
	}
	return vm
}

func mergeValues(base, over map[string]any) map[string]any {
	out := deepCopy(base)
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// FormToYAML copies the form into the YAML editor (on switching to the YAML tab).
func (vm *ConfigureVM) FormToYAML() {
	if vm.Form == nil {
		return
	}
	out, _, err := vm.Form.YAML()
	if err == nil {
		_ = vm.YAML.Set(string(out))
	}
}

// YAMLToForm parses the editor into the form; false (with the error shown) if it is not valid YAML.
func (vm *ConfigureVM) YAMLToForm() bool {
	text, _ := vm.YAML.Get()
	if vm.Form == nil {
		var v map[string]any
		if err := yaml.Unmarshal([]byte(text), &v); err != nil {
			_ = vm.Errors[""].Set(lang.X("configure.badyaml", "The YAML is not valid: {{.Err}}", map[string]any{"Err": err.Error()}))
			return false
		}
		_ = vm.Errors[""].Set("")
		return true
	}
	if err := vm.Form.SetYAML([]byte(text)); err != nil {
		_ = vm.Errors[""].Set(lang.X("configure.badyaml", "The YAML is not valid: {{.Err}}", map[string]any{"Err": err.Error()}))
		return false
	}
	_ = vm.Errors[""].Set("")
	return true
}

// Validate checks everything and returns the values as YAML when they are valid.
func (vm *ConfigureVM) Validate(yamlTab bool) ([]byte, bool) {
	if yamlTab && !vm.YAMLToForm() {
		_ = vm.Summary.Set(lang.X("configure.fix", "Correct the settings marked in red."))
		return nil, false
	}
	if vm.Form == nil {
		text, _ := vm.YAML.Get()
		_ = vm.Summary.Set("")
		return []byte(text), true
	}
	values, errs := vm.Form.Values()
	for id, b := range vm.Errors {
		if id != "" {
			_ = b.Set(errs[id])
		}
	}
	if len(errs) > 0 {
		_ = vm.Summary.Set(lang.X("configure.fix", "Correct the settings marked in red."))
		return nil, false
	}
	_ = vm.Summary.Set("")
	out, err := yaml.Marshal(values)
	if err != nil {
		return nil, false
	}
	return out, true
}

// ShowConfigure shows the Settings step.
func (w *Wizard) ShowConfigure() {
	vm := NewConfigureVM(w.Site.Bundle, w.Site.Values)
	w.show(func() fyne.CanvasObject {
		body, yamlTab := w.configureStep(vm)
		next := widget.NewButtonWithIcon(lang.X("configure.install", "Install"), theme.NavigateNextIcon(), func() {
			if out, ok := vm.Validate(yamlTab()); ok {
				w.Site.Values = out
				w.StartInstall()
			}
		})
		next.Importance = widget.HighImportance
		back := widget.NewButtonWithIcon(lang.X("common.back", "Back"), theme.NavigateBackIcon(), w.ShowPreflight)
		return w.page(lang.X("configure.title", "Settings of {{.App}}", map[string]any{"App": w.Site.Bundle.App}), 3, body, back, next)
	})
}

// configureStep returns the tabs and a function telling whether the YAML tab is the open one.
func (w *Wizard) configureStep(vm *ConfigureVM) (fyne.CanvasObject, func() bool) {
	editor := widget.NewEntryWithData(vm.YAML)
	editor.MultiLine = true
	editor.TextStyle.Monospace = true
	yamlErr := widget.NewLabelWithData(vm.Errors[""])
	yamlErr.Importance = widget.DangerImportance
	yamlErr.Wrapping = fyne.TextWrapWord
	summary := widget.NewLabelWithData(vm.Summary)
	summary.Importance = widget.DangerImportance
	yamlPage := container.NewBorder(nil, yamlErr, nil, nil, editor)
	if vm.Form == nil {
		note := lang.X("configure.noschema", "This application has no settings form; edit its values as YAML.")
		if vm.SchemaErr != nil {
			note = lang.X("configure.badschema", "The application's settings form could not be read ({{.Err}}); edit its values as YAML.", map[string]any{"Err": vm.SchemaErr.Error()})
		}
		l := widget.NewLabel(note)
		l.Wrapping = fyne.TextWrapWord
		return container.NewBorder(l, summary, nil, nil, yamlPage), func() bool { return true }
	}
	formTab := container.NewTabItem(lang.X("configure.form", "Form"), container.NewVScroll(w.fieldsView(vm, vm.Form.Root)))
	yamlTabItem := container.NewTabItem(lang.X("configure.yaml", "YAML (advanced)"), yamlPage)
	tabs := container.NewAppTabs(formTab, yamlTabItem)
	tabs.OnSelected = func(t *container.TabItem) {
		if t == yamlTabItem {
			vm.FormToYAML()
		} else if !vm.YAMLToForm() {
			tabs.Select(yamlTabItem) // stay until the YAML parses
		}
	}
	return container.NewBorder(nil, summary, nil, nil, tabs), func() bool { return tabs.Selected() == yamlTabItem }
}

// fieldsView renders an object's fields as a form; nested objects become titled sub-forms.
func (w *Wizard) fieldsView(vm *ConfigureVM, obj *Field) fyne.CanvasObject {
	form := widget.NewForm()
	var nested []fyne.CanvasObject
	for _, f := range obj.Children {
		if f.Type == "object" {
			head := container.NewVBox(widget.NewSeparator(), bold(f.Title))
			if f.Description != "" {
				head.Add(widget.NewLabel(f.Description))
			}
			nested = append(nested, head, w.fieldsView(vm, f))
			continue
		}
		var input fyne.CanvasObject
		switch {
		case f.Bool != nil:
			input = widget.NewCheckWithData("", f.Bool)
		case len(f.Enum) > 0:
			sel := widget.NewSelect(f.Enum, func(s string) { _ = f.Text.Set(s) })
			f.Text.AddListener(binding.NewDataListener(func() { s, _ := f.Text.Get(); sel.SetSelected(s) }))
			input = sel
		default:
			e := widget.NewEntryWithData(f.Text)
			input = e
		}
		errB := vm.Errors[f.ID()]
		errLabel := widget.NewLabelWithData(errB)
		errLabel.Importance = widget.DangerImportance
		errLabel.Wrapping = fyne.TextWrapWord
		// An empty error label would still take a row; show it only with a message.
		errB.AddListener(binding.NewDataListener(func() {
			if s, _ := errB.Get(); s == "" {
				errLabel.Hide()
			} else {
				errLabel.Show()
			}
		}))
		title := f.Title
		if f.Required {
			title += " *"
		}
		item := widget.NewFormItem(title, container.NewVBox(input, errLabel))
		item.HintText = f.Description
		form.AppendItem(item)
	}
	return container.NewVBox(append([]fyne.CanvasObject{form}, nested...)...)
}
