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
	// The jump host's own login (engine.Host.JumpLogin) needs its password or its key's passphrase.
	SecretJumpPassword
	SecretJumpPassphrase
)

// SecretPrompt is one secret a reopened site needs before the engine can log in: the record keeps which
// secrets a host needs, never the secrets.
type SecretPrompt struct {
	Host int // index in the site's hosts
	Kind SecretKind
	// Also lists the other hosts whose jump host logs in with the same login (the same bastion, user and
	// key file): one answer serves them all, as the bastion is one machine.
	Also []int
}

// NeededSecrets lists the secrets hosts need and do not hold in memory, host by host; a bastion's
// secret once for all the hosts behind it.
func NeededSecrets(hosts []engine.Host) []SecretPrompt {
	var out []SecretPrompt
	shared := map[string]int{} // bastion login + kind -> index in out
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
		l := h.JumpLogin
		if l == nil || h.JumpHost == "" {
			continue
		}
		for _, k := range []struct {
			kind SecretKind
			need bool
		}{{SecretJumpPassword, l.PasswordAuth && l.Password == ""}, {SecretJumpPassphrase, l.KeyEncrypted && l.KeyPassphrase == ""}} {
			if !k.need {
				continue
			}
			id := fmt.Sprintf("%d\x00%s\x00%s\x00%s", k.kind, jumpText(h), l.KeyPath, jumpPortless(h.JumpHost))
			if j, ok := shared[id]; ok {
				out[j].Also = append(out[j].Also, i)
				continue
			}
			shared[id] = len(out)
			out = append(out, SecretPrompt{Host: i, Kind: k.kind})
		}
	}
	return out
}

// jumpPortless is a jump host address with the default port written out, so bastion:22 and bastion name
// the same machine.
func jumpPortless(s string) string {
	h, p, err := jumpEndpoint(s)
	if err != nil {
		return s
	}
	return net.JoinHostPort(h, strconv.Itoa(p))
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
		if v == "" {
			return hosts, errSecretMissing
		}
		for _, hi := range append([]int{p.Host}, p.Also...) {
			if hi >= len(out) {
				return hosts, errSecretMissing
			}
			h := &out[hi]
			switch p.Kind {
			case SecretPassword:
				h.Password = v
			case SecretPassphrase:
				h.KeyPassphrase = v
			case SecretSudo:
				h.SudoPassword = v
			case SecretJumpPassword, SecretJumpPassphrase:
				if h.JumpLogin == nil {
					return hosts, errSecretMissing
				}
				l := *h.JumpLogin // a copy: the hosts given share their JumpLogin with the caller's
				if p.Kind == SecretJumpPassword {
					l.Password = v
				} else {
					l.KeyPassphrase = v
				}
				h.JumpLogin = &l
			}
		}
	}
	return out, nil
}

// secretLabel says which secret of which machine a prompt asks for.
func secretLabel(hosts []engine.Host, p SecretPrompt) string {
	h, k := hosts[p.Host], p.Kind
	names := h.Name
	for _, i := range p.Also {
		if i < len(hosts) {
			names += ", " + hosts[i].Name
		}
	}
	port := h.Port
	if port == 0 {
		port = 22
	}
	at := fmt.Sprintf("%s@%s", h.User, net.JoinHostPort(h.Address, strconv.Itoa(port)))
	switch k {
	case SecretJumpPassword:
		return lang.X("secrets.jump.password", "Password of the jump host {{.Login}} ({{.Host}})", map[string]any{"Login": jumpText(h), "Host": names})
	case SecretJumpPassphrase:
		return lang.X("secrets.jump.passphrase", "Passphrase of the jump host's key {{.Key}} ({{.Login}}, {{.Host}})", map[string]any{"Key": h.JumpLogin.KeyPath, "Login": jumpText(h), "Host": names})
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
		l := widget.NewLabelWithStyle(secretLabel(w.Site.Hosts, p), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
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
