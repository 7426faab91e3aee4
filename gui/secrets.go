package gui

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

// SecretKind is one kind of secret a host may need to log in.
type SecretKind int

const (
	SecretPassword SecretKind = iota
	SecretPassphrase
	SecretSudo
)

// SecretPrompt is one secret a reopened site needs before the engine can log in: the record keeps which
// secrets a host needs, never the secrets.
type SecretPrompt struct {
	Host int // index in the site's hosts
	Kind SecretKind
}

// NeededSecrets lists the secrets hosts need and do not hold in memory, host by host.
func NeededSecrets(hosts []engine.Host) []SecretPrompt {
	var out []SecretPrompt
	for i, h := range hosts {
		if h.PasswordAuth && h.Password == "" {
			out = append(out, SecretPrompt{Host: i, Kind: SecretPassword})
		}
		if h.KeyEncrypted && h.KeyPassphrase == "" {
			out = append(out, SecretPrompt{Host: i, Kind: SecretPassphrase})
		}
		if h.SudoAsks && h.SudoPassword == "" {
			out = append(out, SecretPrompt{Host: i, Kind: SecretSudo})
		}
	}
	return out
}

// SecretsVM is the "Log in" step shown before a reopened site is managed: one password entry per secret
// the hosts need. The answers live in memory only (the wizard's site model), like the ones typed on the
// Hosts step during an install.
type SecretsVM struct {
	Prompts []SecretPrompt
	Answers []binding.String
}

// NewSecretsVM asks for the secrets hosts need.
func NewSecretsVM(hosts []engine.Host) *SecretsVM {
	vm := &SecretsVM{Prompts: NeededSecrets(hosts)}
	for range vm.Prompts {
		vm.Answers = append(vm.Answers, binding.NewString())
	}
	return vm
}

var errSecretMissing = errors.New("a secret is missing")

// Apply returns hosts with the answers filled in, or errSecretMissing while one is empty.
func (vm *SecretsVM) Apply(hosts []engine.Host) ([]engine.Host, error) {
	out := append([]engine.Host(nil), hosts...)
	for i, p := range vm.Prompts {
		v, _ := vm.Answers[i].Get()
		if v == "" || p.Host >= len(out) {
			return hosts, errSecretMissing
		}
		h := &out[p.Host]
		switch p.Kind {
		case SecretPassword:
			h.Password = v
		case SecretPassphrase:
			h.KeyPassphrase = v
		case SecretSudo:
			h.SudoPassword = v
		}
	}
	return out, nil
}

// secretLabel says which secret of which machine a prompt asks for.
func secretLabel(h engine.Host, k SecretKind) string {
	port := h.Port
	if port == 0 {
		port = 22
	}
	at := fmt.Sprintf("%s@%s", h.User, net.JoinHostPort(h.Address, strconv.Itoa(port)))
	switch k {
	case SecretPassphrase:
		return lang.X("secrets.passphrase", "Passphrase of the key {{.Key}} ({{.Host}})", map[string]any{"Key": h.KeyPath, "Host": h.Name})
	case SecretSudo:
		return lang.X("secrets.sudo", "sudo password of {{.Login}} ({{.Host}})", map[string]any{"Login": at, "Host": h.Name})
	}
	return lang.X("secrets.password", "Password of {{.Login}} ({{.Host}})", map[string]any{"Login": at, "Host": h.Name})
}

// OpenSite switches to managing the site r, asking first for the secrets its hosts need.
func (w *Wizard) OpenSite(r siterecord.Record) {
	w.Site = FromRecord(r)
	w.ensureSecrets(w.ShowManage)
}

// ensureSecrets runs next once every host holds the secrets it needs, asking for them first if not.
func (w *Wizard) ensureSecrets(next func()) {
	vm := NewSecretsVM(w.Site.Hosts)
	if len(vm.Prompts) == 0 {
		next()
		return
	}
	w.show(func() fyne.CanvasObject { return w.secretsStep(vm, next) })
}

func (w *Wizard) secretsStep(vm *SecretsVM, next func()) fyne.CanvasObject {
	intro := widget.NewLabel(lang.X("secrets.intro", "Ferry never stores passwords or passphrases. Enter them to manage this site: they stay in memory until Ferry closes."))
	intro.Wrapping = fyne.TextWrapWord
	cont := widget.NewButtonWithIcon(lang.X("secrets.continue", "Continue"), theme.NavigateNextIcon(), nil)
	cont.Importance = widget.HighImportance
	form := container.NewVBox()
	check := func() {
		if _, err := vm.Apply(w.Site.Hosts); err != nil {
			cont.Disable()
		} else {
			cont.Enable()
		}
	}
	for i, p := range vm.Prompts {
		e := widget.NewPasswordEntry()
		e.Bind(vm.Answers[i])
		l := widget.NewLabelWithStyle(secretLabel(w.Site.Hosts[p.Host], p.Kind), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		l.Wrapping = fyne.TextWrapWord
		form.Add(l)
		form.Add(e)
		vm.Answers[i].AddListener(binding.NewDataListener(check))
	}
	cont.OnTapped = func() {
		hosts, err := vm.Apply(w.Site.Hosts)
		if err != nil {
			return
		}
		w.Site.Hosts = hosts
		next()
	}
	back := widget.NewButtonWithIcon(lang.X("done.start", "Back to start"), theme.HomeIcon(), w.ShowStart)
	body := container.NewVScroll(container.NewVBox(intro, form))
	return w.page(lang.X("secrets.title", "Log in to {{.Site}}", map[string]any{"Site": w.Site.Name}), -1, body, back, cont)
}
