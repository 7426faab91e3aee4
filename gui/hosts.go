package gui

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

// ConnState is what the wizard knows about a host's connection.
type ConnState int

const (
	ConnUntested ConnState = iota
	ConnTesting
	ConnOK
	ConnNewKey // first contact: the key waits for the user's acceptance
	ConnKeyChanged
	ConnFailed
)

// HostEntry is one host in the list with its last connection test.
type HostEntry struct {
	Host  engine.Host
	State ConnState
	Conn  engine.Connection
	Err   error
}

// HostsVM is the Hosts step: the site's name, its hosts and the host being edited.
type HostsVM struct {
	SiteName binding.String
	// Edit form of the selected host.
	Name, Address, Port, User, KeyPath, Password, JumpHost binding.String
	// KeyPassphrase is for an encrypted key file, SudoPassword for a sudo that asks for one; both optional.
	KeyPassphrase, SudoPassword binding.String
	Role, Auth                  binding.String // Auth: "key" or "password"
	Sudo                        binding.Bool
	// The jump host's own login (JumpOwnLogin set; JumpHost holds its address, host[:port]). Unset, the
	// jump host is logged into with this host's user and credentials.
	JumpOwnLogin                                                     binding.Bool
	JumpUser, JumpAuth, JumpKeyPath, JumpKeyPassphrase, JumpPassword binding.String
	// Changed ticks whenever the list or a host's state changes, so views refresh.
	Changed binding.Int

	mu       sync.Mutex
	hosts    []HostEntry
	selected int
}

// Auth methods in the host form.
const (
	AuthKey      = "key"
	AuthPassword = "password"
)

// NewHostsVM starts from the site's current hosts (tested state is not remembered: each session retests).
func NewHostsVM(site string, hosts []engine.Host) *HostsVM {
	vm := &HostsVM{SiteName: binding.NewString(), Name: binding.NewString(), Address: binding.NewString(),
		Port: binding.NewString(), User: binding.NewString(), KeyPath: binding.NewString(),
		Password: binding.NewString(), JumpHost: binding.NewString(), Role: binding.NewString(),
		Auth: binding.NewString(), Sudo: binding.NewBool(), Changed: binding.NewInt(), selected: -1,
		KeyPassphrase: binding.NewString(), SudoPassword: binding.NewString(),
		JumpOwnLogin: binding.NewBool(), JumpUser: binding.NewString(), JumpAuth: binding.NewString(),
		JumpKeyPath: binding.NewString(), JumpKeyPassphrase: binding.NewString(), JumpPassword: binding.NewString()}
	_ = vm.SiteName.Set(site)
	for _, h := range hosts {
		vm.hosts = append(vm.hosts, HostEntry{Host: h})
	}
	if len(vm.hosts) > 0 {
		vm.Select(0)
	} else {
		vm.clearForm()
	}
	return vm
}

func (vm *HostsVM) tick() {
	n, _ := vm.Changed.Get()
	_ = vm.Changed.Set(n + 1)
}

// Entries returns a copy of the host list.
func (vm *HostsVM) Entries() []HostEntry {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return append([]HostEntry(nil), vm.hosts...)
}

// Selected is the index of the host in the form, -1 for a new one.
func (vm *HostsVM) Selected() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.selected
}

func (vm *HostsVM) clearForm() {
	for _, b := range []binding.String{vm.Name, vm.Address, vm.KeyPath, vm.Password, vm.JumpHost, vm.KeyPassphrase, vm.SudoPassword,
		vm.JumpUser, vm.JumpKeyPath, vm.JumpKeyPassphrase, vm.JumpPassword} {
		_ = b.Set("")
	}
	_ = vm.Port.Set("22")
	_ = vm.User.Set("root")
	_ = vm.Auth.Set(AuthKey)
	_ = vm.Sudo.Set(false)
	_ = vm.JumpOwnLogin.Set(false)
	_ = vm.JumpAuth.Set(AuthKey)
	role := engine.RoleServer
	if len(vm.hosts) > 0 {
		role = engine.RoleAgent
	}
	_ = vm.Role.Set(string(role))
}

// New starts a new host in the form.
func (vm *HostsVM) New() {
	vm.mu.Lock()
	vm.selected = -1
	vm.clearForm()
	vm.mu.Unlock()
	vm.tick()
}

// Select loads host i into the form.
func (vm *HostsVM) Select(i int) {
	vm.mu.Lock()
	if i < 0 || i >= len(vm.hosts) {
		vm.mu.Unlock()
		return
	}
	vm.selected = i
	h := vm.hosts[i].Host
	vm.mu.Unlock()
	_ = vm.Name.Set(h.Name)
	_ = vm.Address.Set(h.Address)
	port := h.Port
	if port == 0 {
		port = 22
	}
	_ = vm.Port.Set(strconv.Itoa(port))
	_ = vm.User.Set(h.User)
	_ = vm.KeyPath.Set(h.KeyPath)
	_ = vm.Password.Set(h.Password)
	_ = vm.KeyPassphrase.Set(h.KeyPassphrase)
	_ = vm.SudoPassword.Set(h.SudoPassword)
	vm.setJumpForm(h)
	_ = vm.Role.Set(string(h.Role))
	_ = vm.Sudo.Set(h.Sudo)
	auth := AuthKey
	if h.PasswordAuth || h.KeyPath == "" && h.Password != "" {
		auth = AuthPassword
	}
	_ = vm.Auth.Set(auth)
	vm.tick()
}

// setJumpForm loads h's jump host into the form. A record from before bastions had logins of their own
// may name the bastion's user in its address (user@host:port, the host's credentials): the form shows
// that as an own login with that user and the host's credentials, which is what it meant.
func (vm *HostsVM) setJumpForm(h engine.Host) {
	addr, user := h.JumpHost, ""
	if u, rest, ok := strings.Cut(addr, "@"); ok {
		addr, user = rest, u
	}
	l := h.JumpLogin
	if l == nil && user != "" && user != h.User {
		l = &engine.Login{User: user, KeyPath: h.KeyPath, Password: h.Password, KeyPassphrase: h.KeyPassphrase,
			PasswordAuth: h.PasswordAuth, KeyEncrypted: h.KeyEncrypted}
	}
	_ = vm.JumpHost.Set(addr)
	_ = vm.JumpOwnLogin.Set(l != nil)
	if l == nil {
		l = &engine.Login{}
	}
	_ = vm.JumpUser.Set(l.User)
	_ = vm.JumpKeyPath.Set(l.KeyPath)
	_ = vm.JumpKeyPassphrase.Set(l.KeyPassphrase)
	_ = vm.JumpPassword.Set(l.Password)
	auth := AuthKey
	if l.PasswordAuth || l.KeyPath == "" && l.Password != "" {
		auth = AuthPassword
	}
	_ = vm.JumpAuth.Set(auth)
}

func get(b binding.String) string { s, _ := b.Get(); return strings.TrimSpace(s) }

// Validation errors of the host form.
var (
	errHostName    = errors.New("host name")
	errHostAddress = errors.New("host address")
	errHostPort    = errors.New("host port")
	errHostUser    = errors.New("host user")
	errHostAuth    = errors.New("host auth")
	errHostDup     = errors.New("host duplicate")
	errJumpAddress = errors.New("jump host address")
	errJumpPort    = errors.New("jump host port")
	errJumpSelf    = errors.New("jump host is the host")
	errJumpUser    = errors.New("jump host user")
	errJumpAuth    = errors.New("jump host auth")
)

// jumpEndpoint reads a jump host address, host[:port] (an older record's user@ dropped), as host and port.
func jumpEndpoint(s string) (host string, port int, err error) {
	if _, rest, ok := strings.Cut(s, "@"); ok {
		s = rest
	}
	host, port = s, 22
	if h, p, e := net.SplitHostPort(s); e == nil {
		host = h
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return host, 0, errJumpPort
		}
	}
	if host == "" || strings.ContainsAny(host, " \t/") {
		return host, port, errJumpAddress
	}
	return host, port, nil
}

// formJump reads the jump host part of the form into h: its address and, when it has one, its own login.
func (vm *HostsVM) formJump(h *engine.Host) error {
	h.JumpHost = get(vm.JumpHost)
	if h.JumpHost == "" {
		return nil // no bastion; an own login left in the hidden fields means nothing
	}
	if strings.Contains(h.JumpHost, "@") {
		return errJumpAddress // the user goes in the jump host's own login
	}
	jh, jp, err := jumpEndpoint(h.JumpHost)
	if err != nil {
		return err
	}
	if sameEndpoint(*h, engine.Host{Address: jh, Port: jp}) {
		return errJumpSelf
	}
	if own, _ := vm.JumpOwnLogin.Get(); !own {
		return nil
	}
	l := &engine.Login{User: get(vm.JumpUser)}
	if l.User == "" {
		return errJumpUser
	}
	if get(vm.JumpAuth) == AuthPassword {
		l.Password, _ = vm.JumpPassword.Get()
		l.PasswordAuth = true
		if l.Password == "" {
			return errJumpAuth
		}
	} else {
		l.KeyPath = get(vm.JumpKeyPath)
		if l.KeyPath == "" {
			return errJumpAuth
		}
		l.KeyPassphrase, _ = vm.JumpKeyPassphrase.Get()
		l.KeyEncrypted = l.KeyPassphrase != ""
	}
	h.JumpLogin = l
	return nil
}

// jumpUser is the user h logs into its jump host as.
func jumpUser(h engine.Host) string {
	if h.JumpLogin != nil {
		return h.JumpLogin.User
	}
	if u, _, ok := strings.Cut(h.JumpHost, "@"); ok {
		return u
	}
	return h.User
}

// jumpText is h's jump host as the user reads it: who logs in where, user@host:port.
func jumpText(h engine.Host) string {
	addr := h.JumpHost
	if _, rest, ok := strings.Cut(addr, "@"); ok {
		addr = rest
	}
	return jumpUser(h) + "@" + addr
}

// formHost builds the host from the form and validates it.
func (vm *HostsVM) formHost() (engine.Host, error) {
	h := engine.Host{Name: get(vm.Name), Address: get(vm.Address), User: get(vm.User), Role: engine.Role(get(vm.Role))}
	h.Sudo, _ = vm.Sudo.Get()
	if h.Name == "" {
		h.Name = h.Address
	}
	if h.Address == "" {
		return h, errHostAddress
	}
	if siterecord.ValidName(h.Name) != nil {
		return h, errHostName
	}
	p, err := strconv.Atoi(get(vm.Port))
	if err != nil || p < 1 || p > 65535 {
		return h, errHostPort
	}
	h.Port = p
	if h.User == "" {
		return h, errHostUser
	}
	if get(vm.Auth) == AuthPassword {
		h.Password, _ = vm.Password.Get()
		h.PasswordAuth = true
		if h.Password == "" {
			return h, errHostAuth
		}
	} else {
		h.KeyPath = get(vm.KeyPath)
		if h.KeyPath == "" {
			return h, errHostAuth
		}
		h.KeyPassphrase, _ = vm.KeyPassphrase.Get()
		h.KeyEncrypted = h.KeyPassphrase != ""
	}
	if h.Sudo {
		h.SudoPassword, _ = vm.SudoPassword.Get()
		h.SudoAsks = h.SudoPassword != ""
	}
	if err := vm.formJump(&h); err != nil {
		return h, err
	}
	if h.Role != engine.RoleAgent {
		h.Role = engine.RoleServer
	}
	return h, nil
}

// Save validates the form and stores it as the selected host (or a new one). A changed address or user
// forgets the accepted key and the last test, since they no longer describe this host.
func (vm *HostsVM) Save() error {
	h, err := vm.formHost()
	if err != nil {
		return err
	}
	vm.mu.Lock()
	for i, e := range vm.hosts {
		if i != vm.selected && (e.Host.Name == h.Name || sameEndpoint(e.Host, h)) {
			vm.mu.Unlock()
			return errHostDup
		}
	}
	if vm.selected < 0 {
		vm.hosts = append(vm.hosts, HostEntry{Host: h})
		vm.selected = len(vm.hosts) - 1
	} else {
		old := vm.hosts[vm.selected]
		if sameEndpoint(old.Host, h) {
			h.HostKey = old.Host.HostKey
		}
		sameJump := sameJumpEndpoint(old.Host, h)
		if sameJump {
			h.JumpHostKey = old.Host.JumpHostKey
		}
		if sameEndpoint(old.Host, h) && old.Host.User == h.User && sameJump && jumpUser(old.Host) == jumpUser(h) {
			vm.hosts[vm.selected] = HostEntry{Host: h, State: old.State, Conn: old.Conn, Err: old.Err}
		} else {
			vm.hosts[vm.selected] = HostEntry{Host: h}
		}
	}
	vm.mu.Unlock()
	vm.tick()
	return nil
}

// sameEndpoint: the same SSH server, so the accepted key still applies (port 0 means 22).
func sameEndpoint(a, b engine.Host) bool {
	port := func(p int) int {
		if p == 0 {
			return 22
		}
		return p
	}
	return a.Address == b.Address && port(a.Port) == port(b.Port)
}

// sameJumpEndpoint: the same bastion (or none), so its accepted key still applies.
func sameJumpEndpoint(a, b engine.Host) bool {
	if a.JumpHost == "" || b.JumpHost == "" {
		return a.JumpHost == b.JumpHost
	}
	ah, ap, aerr := jumpEndpoint(a.JumpHost)
	bh, bp, berr := jumpEndpoint(b.JumpHost)
	return aerr == nil && berr == nil && ah == bh && ap == bp
}

// Remove deletes the selected host.
func (vm *HostsVM) Remove() {
	vm.mu.Lock()
	if vm.selected >= 0 && vm.selected < len(vm.hosts) {
		vm.hosts = append(vm.hosts[:vm.selected], vm.hosts[vm.selected+1:]...)
	}
	vm.selected = -1
	n := len(vm.hosts)
	vm.mu.Unlock()
	if n > 0 {
		vm.Select(0)
	} else {
		vm.New()
	}
}

// Test saves the form and tests the selected host's connection on a goroutine.
func (vm *HostsVM) Test(w *Wizard) error {
	if err := vm.Save(); err != nil {
		return err
	}
	vm.mu.Lock()
	i := vm.selected
	h := vm.hosts[i].Host
	vm.hosts[i].State, vm.hosts[i].Err = ConnTesting, nil
	vm.mu.Unlock()
	vm.tick()
	w.Run(func() func() {
		c, err := w.Eng.TestConnection(w.ctx(), h)
		vm.mu.Lock()
		if i < len(vm.hosts) && vm.hosts[i].Host.Address == h.Address {
			e := &vm.hosts[i]
			e.Conn, e.Err = c, err
			e.State = connState(c, err)
		}
		vm.mu.Unlock()
		return vm.tick
	})
	return nil
}

// connState decides a host's state from a connection test. A changed key on the host or on its jump host
// is a stop; a new key on either waits for the user.
func connState(c engine.Connection, err error) ConnState {
	jumpNew := c.Jump != nil && c.Jump.Status == engine.KeyNew
	switch {
	case c.KeyStatus == engine.KeyChanged || c.Jump != nil && c.Jump.Status == engine.KeyChanged || errors.Is(err, engine.ErrHostKeyMismatch):
		return ConnKeyChanged
	case err != nil:
		return ConnFailed
	case jumpNew || c.KeyStatus == engine.KeyNew:
		return ConnNewKey
	case c.KeyStatus == engine.KeyUnchecked:
		return ConnUntested
	}
	return ConnOK
}

// JumpKeyPending reports whether host i waits for its jump host's key to be accepted (the host itself was
// not reached yet).
func (e HostEntry) JumpKeyPending() bool {
	return e.State == ConnNewKey && e.Conn.Jump != nil && e.Conn.Jump.Status == engine.KeyNew
}

// AcceptKey records the key host i presented on first contact as the trusted one. Accepting a jump host's
// key returns true: the host behind it must be tested again to show its own key.
func (vm *HostsVM) AcceptKey(i int) (retest bool) {
	vm.mu.Lock()
	if i >= 0 && i < len(vm.hosts) && vm.hosts[i].State == ConnNewKey {
		e := &vm.hosts[i]
		if e.JumpKeyPending() {
			e.Host.JumpHostKey = e.Conn.Jump.KeyLine
			e.State, retest = ConnUntested, true
		} else {
			e.Host.HostKey = e.Conn.KeyLine
			e.State = ConnOK
		}
	}
	vm.mu.Unlock()
	vm.tick()
	return retest
}

// RejectKey drops a first-contact key: the host stays untrusted.
func (vm *HostsVM) RejectKey(i int) {
	vm.mu.Lock()
	if i >= 0 && i < len(vm.hosts) && vm.hosts[i].State == ConnNewKey {
		vm.hosts[i].State = ConnUntested
	}
	vm.mu.Unlock()
	vm.tick()
}

// CanContinue: a valid site name, at least one server, every host tested with an accepted key.
func (vm *HostsVM) CanContinue() (bool, string) {
	if siterecord.ValidName(get(vm.SiteName)) != nil {
		return false, lang.X("hosts.need.name", "Give the site a name (letters, digits, dot, dash, underscore).")
	}
	es := vm.Entries()
	servers := 0
	for _, e := range es {
		if e.Host.Role == engine.RoleServer {
			servers++
		}
		if e.State == ConnKeyChanged {
			return false, lang.X("hosts.need.samekey", "The key of {{.Host}} changed: do not continue until the site's administrator explains why.", map[string]any{"Host": e.Host.Name})
		}
		if e.State != ConnOK || e.Host.HostKey == "" || e.Host.JumpHost != "" && e.Host.JumpHostKey == "" {
			return false, lang.X("hosts.need.tested", "Test the connection to {{.Host}} and accept its key.", map[string]any{"Host": e.Host.Name})
		}
	}
	if servers == 0 {
		return false, lang.X("hosts.need.server", "Add at least one host with the server role.")
	}
	return true, ""
}

// Hosts returns the hosts to install on.
func (vm *HostsVM) Hosts() []engine.Host {
	var out []engine.Host
	for _, e := range vm.Entries() {
		out = append(out, e.Host)
	}
	return out
}

func formError(err error) string {
	switch {
	case errors.Is(err, errHostAddress):
		return lang.X("hosts.err.address", "Enter the host's address (IP or name).")
	case errors.Is(err, errHostName):
		return lang.X("hosts.err.name", "The name may use letters, digits, dot, dash and underscore.")
	case errors.Is(err, errHostPort):
		return lang.X("hosts.err.port", "The SSH port must be a number from 1 to 65535.")
	case errors.Is(err, errHostUser):
		return lang.X("hosts.err.user", "Enter the user name to log in with.")
	case errors.Is(err, errHostAuth):
		return lang.X("hosts.err.auth", "Choose a key file or enter a password.")
	case errors.Is(err, errHostDup):
		return lang.X("hosts.err.dup", "Another host already has this name or address.")
	case errors.Is(err, errJumpAddress):
		return lang.X("hosts.err.jump.address", "Write the jump host as host or host:port. Its user goes under \"Own login on the jump host\".")
	case errors.Is(err, errJumpPort):
		return lang.X("hosts.err.jump.port", "The jump host's port must be a number from 1 to 65535.")
	case errors.Is(err, errJumpSelf):
		return lang.X("hosts.err.jump.self", "The jump host cannot be this machine itself: leave it empty to connect directly.")
	case errors.Is(err, errJumpUser):
		return lang.X("hosts.err.jump.user", "Enter the user name to log into the jump host with.")
	case errors.Is(err, errJumpAuth):
		return lang.X("hosts.err.jump.auth", "Choose a key file or enter a password for the jump host.")
	}
	return err.Error()
}

func stateText(s ConnState) (string, widget.Importance) {
	switch s {
	case ConnTesting:
		return lang.X("hosts.state.testing", "testing…"), widget.MediumImportance
	case ConnOK:
		return lang.X("hosts.state.ok", "connected"), widget.SuccessImportance
	case ConnNewKey:
		return lang.X("hosts.state.newkey", "accept key?"), widget.WarningImportance
	case ConnKeyChanged:
		return lang.X("hosts.state.changed", "KEY CHANGED"), widget.DangerImportance
	case ConnFailed:
		return lang.X("hosts.state.failed", "failed"), widget.DangerImportance
	}
	return lang.X("hosts.state.untested", "not tested"), widget.LowImportance
}

// ShowHosts shows the Hosts step.
func (w *Wizard) ShowHosts() {
	vm := NewHostsVM(w.Site.Name, w.Site.Hosts)
	w.show(func() fyne.CanvasObject {
		next := widget.NewButtonWithIcon(lang.X("common.next", "Next"), theme.NavigateNextIcon(), func() {
			if ok, _ := vm.CanContinue(); ok {
				w.Site.Name = get(vm.SiteName)
				w.Site.Hosts = vm.Hosts()
				w.ShowPreflight()
			}
		})
		next.Importance = widget.HighImportance
		back := widget.NewButtonWithIcon(lang.X("common.back", "Back"), theme.NavigateBackIcon(), func() {
			w.Site.Name, w.Site.Hosts = get(vm.SiteName), vm.Hosts()
			w.ShowBundle()
		})
		return w.page(lang.X("hosts.title", "Add the site's machines"), 1, w.hostsStep(vm, next), back, next)
	})
}

func (w *Wizard) hostsStep(vm *HostsVM, next *widget.Button) fyne.CanvasObject {
	site := widget.NewEntryWithData(vm.SiteName)
	site.SetPlaceHolder(lang.X("hosts.sitename.hint", "e.g. plant-7"))

	list := widget.NewList(func() int { return len(vm.Entries()) },
		func() fyne.CanvasObject {
			main := widget.NewLabel("")
			main.Truncation = fyne.TextTruncateEllipsis
			// The state goes on its own line so a long host name can never hide it.
			return container.NewBorder(nil, nil, widget.NewIcon(theme.ComputerIcon()), nil,
				container.NewVBox(main, widget.NewLabel("")))
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			es := vm.Entries()
			if id >= len(es) {
				return
			}
			rows := o.(*fyne.Container).Objects[0].(*fyne.Container)
			e := es[id]
			rows.Objects[0].(*widget.Label).SetText(fmt.Sprintf("%s (%s) %s", e.Host.Name, e.Host.Address, roleText(e.Host.Role)))
			st, imp := stateText(e.State)
			l := rows.Objects[1].(*widget.Label)
			l.Importance = imp
			l.SetText(st)
		})
	list.OnSelected = func(id widget.ListItemID) { vm.Select(id) }

	roleSel := widget.NewSelect([]string{roleText(engine.RoleServer), roleText(engine.RoleAgent)}, nil)
	roleSel.OnChanged = func(s string) {
		r := engine.RoleServer
		if s == roleText(engine.RoleAgent) {
			r = engine.RoleAgent
		}
		_ = vm.Role.Set(string(r))
	}
	vm.Role.AddListener(binding.NewDataListener(func() {
		r, _ := vm.Role.Get()
		roleSel.SetSelected(roleText(engine.Role(r)))
	}))
	authRadio := widget.NewRadioGroup([]string{lang.X("hosts.auth.key", "Key file"), lang.X("hosts.auth.password", "Password")}, nil)
	authRadio.Horizontal = true
	keyEntry := widget.NewEntryWithData(vm.KeyPath)
	keyEntry.SetPlaceHolder("~/.ssh/id_ed25519")
	pwEntry := widget.NewPasswordEntry()
	pwEntry.Bind(vm.Password)
	passEntry := widget.NewPasswordEntry()
	passEntry.Bind(vm.KeyPassphrase)
	passEntry.SetPlaceHolder(lang.X("hosts.passphrase.hint", "key passphrase, if the key has one"))
	sudoEntry := widget.NewPasswordEntry()
	sudoEntry.Bind(vm.SudoPassword)
	sudoEntry.SetPlaceHolder(lang.X("hosts.sudopw.hint", "sudo password, if sudo asks for one"))
	vm.Sudo.AddListener(binding.NewDataListener(func() {
		if on, _ := vm.Sudo.Get(); on {
			sudoEntry.Show()
		} else {
			sudoEntry.Hide()
		}
	}))
	authRadio.OnChanged = func(s string) {
		if s == lang.X("hosts.auth.password", "Password") {
			_ = vm.Auth.Set(AuthPassword)
		} else if s != "" {
			_ = vm.Auth.Set(AuthKey)
		}
	}
	vm.Auth.AddListener(binding.NewDataListener(func() {
		a, _ := vm.Auth.Get()
		if a == AuthPassword {
			authRadio.SetSelected(lang.X("hosts.auth.password", "Password"))
			keyEntry.Hide()
			passEntry.Hide()
			pwEntry.Show()
		} else {
			authRadio.SetSelected(lang.X("hosts.auth.key", "Key file"))
			pwEntry.Hide()
			keyEntry.Show()
			passEntry.Show()
		}
	}))
	jump := widget.NewEntryWithData(vm.JumpHost)
	jump.SetPlaceHolder(lang.X("hosts.jump.hint", "optional: bastion or bastion:2222"))
	jumpBox := w.jumpLoginForm(vm)
	form := widget.NewForm(
		widget.NewFormItem(lang.X("hosts.name", "Name"), widget.NewEntryWithData(vm.Name)),
		widget.NewFormItem(lang.X("hosts.address", "Address"), widget.NewEntryWithData(vm.Address)),
		widget.NewFormItem(lang.X("hosts.port", "SSH port"), widget.NewEntryWithData(vm.Port)),
		widget.NewFormItem(lang.X("hosts.user", "User"), widget.NewEntryWithData(vm.User)),
		widget.NewFormItem(lang.X("hosts.auth", "Log in with"), container.NewVBox(authRadio, keyEntry, passEntry, pwEntry)),
		widget.NewFormItem(lang.X("hosts.sudo", "Privileges"), container.NewVBox(widget.NewCheckWithData(lang.X("hosts.sudo.check", "Use sudo (the user is not root)"), vm.Sudo), sudoEntry)),
		widget.NewFormItem(lang.X("hosts.jump", "Jump host"), container.NewVBox(jump, jumpBox)),
		widget.NewFormItem(lang.X("hosts.role", "Role"), roleSel),
	)
	formErr := widget.NewLabel("")
	formErr.Importance = widget.DangerImportance
	formErr.Wrapping = fyne.TextWrapWord
	report := func(err error) {
		if err != nil {
			formErr.SetText(formError(err))
		} else {
			formErr.SetText("")
		}
	}
	save := widget.NewButtonWithIcon(lang.X("hosts.save", "Save host"), theme.DocumentSaveIcon(), func() { report(vm.Save()) })
	test := widget.NewButtonWithIcon(lang.X("hosts.test", "Test connection"), theme.MediaPlayIcon(), func() { report(vm.Test(w)) })
	test.Importance = widget.HighImportance
	add := widget.NewButtonWithIcon(lang.X("hosts.add", "Add host"), theme.ContentAddIcon(), func() { list.UnselectAll(); vm.New(); report(nil) })
	remove := widget.NewButtonWithIcon(lang.X("hosts.remove", "Remove"), theme.DeleteIcon(), func() { list.UnselectAll(); vm.Remove() })

	status := container.NewVBox()
	why := widget.NewLabel("")
	why.Importance = widget.LowImportance
	why.Wrapping = fyne.TextWrapWord
	vm.Changed.AddListener(binding.NewDataListener(func() {
		list.Refresh()
		status.RemoveAll()
		i := vm.Selected()
		es := vm.Entries()
		if i >= 0 && i < len(es) {
			if c := w.hostStatusCard(vm, i, es[i]); c != nil {
				status.Add(c)
			}
		}
		ok, reason := vm.CanContinue()
		if ok {
			next.Enable()
		} else {
			next.Disable()
		}
		why.SetText(reason)
	}))
	vm.SiteName.AddListener(binding.NewDataListener(func() { vm.tick() }))

	left := container.NewBorder(
		widget.NewForm(widget.NewFormItem(lang.X("hosts.sitename", "Site name"), site)),
		container.NewHBox(add, remove), nil, nil, list)
	// The connection status (fingerprint to accept, red stop) goes first: it is what the user must act on.
	// Save and Test stay in view below the scrolling form, however long it grows.
	right := container.NewBorder(nil, container.NewHBox(save, test), nil, nil, container.NewVScroll(container.NewVBox(status, form, formErr)))
	split := container.NewHSplit(left, right)
	split.Offset = 0.38
	return container.NewBorder(nil, why, nil, nil, split)
}

// jumpLoginForm is the jump host's own login: a check box, shown once a jump host is given, and when it
// is ticked the bastion's user and key file (+ passphrase) or password. Unticked, the bastion is logged
// into with the host's user and credentials.
func (w *Wizard) jumpLoginForm(vm *HostsVM) fyne.CanvasObject {
	own := widget.NewCheckWithData(lang.X("hosts.jump.own", "Own login on the jump host"), vm.JumpOwnLogin)
	same := widget.NewLabel(lang.X("hosts.jump.same", "Unticked, Ferry logs into the jump host as this machine's user, with its key or password."))
	same.Wrapping = fyne.TextWrapWord
	same.Importance = widget.LowImportance
	user := widget.NewEntryWithData(vm.JumpUser)
	user.SetPlaceHolder(lang.X("hosts.jump.user.hint", "user on the jump host"))
	keyLabel, pwLabel := lang.X("hosts.auth.key", "Key file"), lang.X("hosts.auth.password", "Password")
	auth := widget.NewRadioGroup([]string{keyLabel, pwLabel}, nil)
	auth.Horizontal = true
	key := widget.NewEntryWithData(vm.JumpKeyPath)
	key.SetPlaceHolder(lang.X("hosts.jump.key.hint", "key file for the jump host, e.g. ~/.ssh/bastion"))
	pass := widget.NewPasswordEntry()
	pass.Bind(vm.JumpKeyPassphrase)
	pass.SetPlaceHolder(lang.X("hosts.jump.passphrase.hint", "passphrase of that key, if it has one"))
	pw := widget.NewPasswordEntry()
	pw.Bind(vm.JumpPassword)
	pw.SetPlaceHolder(lang.X("hosts.jump.password.hint", "password on the jump host"))
	auth.OnChanged = func(s string) {
		if s == pwLabel {
			_ = vm.JumpAuth.Set(AuthPassword)
		} else if s != "" {
			_ = vm.JumpAuth.Set(AuthKey)
		}
	}
	login := container.NewVBox(user, auth, key, pass, pw)
	box := container.NewVBox(own, same, login)
	update := func() {
		hasJump := get(vm.JumpHost) != ""
		ownOn, _ := vm.JumpOwnLogin.Get()
		viaPassword := get(vm.JumpAuth) == AuthPassword
		if viaPassword {
			auth.SetSelected(pwLabel)
		} else {
			auth.SetSelected(keyLabel)
		}
		for _, x := range []struct {
			o    fyne.CanvasObject
			show bool
		}{{box, hasJump}, {same, !ownOn}, {login, ownOn}, {key, !viaPassword}, {pass, !viaPassword}, {pw, viaPassword}} {
			if x.show {
				x.o.Show()
			} else {
				x.o.Hide()
			}
		}
	}
	for _, b := range []binding.DataItem{vm.JumpHost, vm.JumpOwnLogin, vm.JumpAuth} {
		b.AddListener(binding.NewDataListener(update))
	}
	return box
}

func roleText(r engine.Role) string {
	if r == engine.RoleAgent {
		return lang.X("hosts.role.agent", "agent (runs workloads)")
	}
	return lang.X("hosts.role.server", "server (control plane)")
}

// hostStatusCard explains the selected host's last test: the fingerprint to accept on first contact, a red
// stop for a changed key, or the error.
func (w *Wizard) hostStatusCard(vm *HostsVM, i int, e HostEntry) fyne.CanvasObject {
	jumpAddr := ""
	if e.Conn.Jump != nil {
		jumpAddr = jumpText(e.Host)
	}
	switch {
	case e.JumpKeyPending():
		msg := widget.NewLabel(lang.X("hosts.jump.newkey", "First connection to the jump host {{.Jump}}, through which Ferry reaches {{.Host}}. Compare this key fingerprint with the one the site's administrator gives you. Accept it only if they match: Ferry then logs into the jump host and shows the key of {{.Host}}. No password goes to a machine whose key you have not accepted.", map[string]any{"Jump": jumpAddr, "Host": e.Host.Name}))
		msg.Wrapping = fyne.TextWrapWord
		fp := widget.NewLabelWithStyle(e.Conn.Jump.Fingerprint, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		accept := widget.NewButtonWithIcon(lang.X("hosts.accept", "The fingerprints match: trust this host"), theme.ConfirmIcon(), func() {
			if vm.AcceptKey(i) {
				_ = vm.Test(w)
			}
		})
		accept.Importance = widget.HighImportance
		reject := widget.NewButtonWithIcon(lang.X("hosts.reject", "They differ: do not trust"), theme.CancelIcon(), func() { vm.RejectKey(i) })
		return container.NewVBox(msg, fp, container.NewHBox(accept, reject), widget.NewSeparator())
	case e.State == ConnNewKey:
		msg := widget.NewLabel(lang.X("hosts.newkey", "First connection to {{.Host}}. Compare this key fingerprint with the one the site's administrator gives you (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub). Accept it only if they match.", map[string]any{"Host": e.Host.Name}))
		msg.Wrapping = fyne.TextWrapWord
		fp := widget.NewLabelWithStyle(e.Conn.Fingerprint, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		accept := widget.NewButtonWithIcon(lang.X("hosts.accept", "The fingerprints match: trust this host"), theme.ConfirmIcon(), func() { vm.AcceptKey(i) })
		accept.Importance = widget.HighImportance
		reject := widget.NewButtonWithIcon(lang.X("hosts.reject", "They differ: do not trust"), theme.CancelIcon(), func() { vm.RejectKey(i) })
		box := container.NewVBox(msg, fp)
		if jumpAddr != "" {
			// Both fingerprints side by side: the one just accepted and the one to compare now.
			via := widget.NewLabel(lang.X("hosts.jump.via", "Reached through the jump host {{.Jump}}, whose key you accepted: {{.FP}}", map[string]any{"Jump": jumpAddr, "FP": e.Conn.Jump.Fingerprint}))
			via.Wrapping = fyne.TextWrapWord
			via.Importance = widget.LowImportance
			box.Add(via)
		}
		box.Add(container.NewHBox(accept, reject))
		box.Add(widget.NewSeparator())
		return box
	case e.State == ConnKeyChanged && e.Conn.Jump != nil && e.Conn.Jump.Status == engine.KeyChanged:
		stop := widget.NewLabelWithStyle(lang.X("hosts.jump.changed.title", "STOP: the identity key of the jump host {{.Jump}} has changed.", map[string]any{"Jump": jumpAddr}), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		stop.Importance = widget.DangerImportance
		stop.Wrapping = fyne.TextWrapWord
		p := explain(fmt.Errorf("%w", engine.ErrHostKeyMismatch))
		if e.Err != nil {
			p.Details = e.Err.Error()
		}
		p.Details += "\n" + lang.X("hosts.changed.presented", "presented: {{.FP}}", map[string]any{"FP": e.Conn.Jump.Fingerprint})
		return container.NewVBox(container.NewBorder(nil, nil, widget.NewIcon(theme.ErrorIcon()), nil, stop), w.problemCard(p), widget.NewSeparator())
	case e.State == ConnKeyChanged:
		stop := widget.NewLabelWithStyle(lang.X("hosts.changed.title", "STOP: the identity key of {{.Host}} has changed.", map[string]any{"Host": e.Host.Name}), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		stop.Importance = widget.DangerImportance
		stop.Wrapping = fyne.TextWrapWord
		p := explain(fmt.Errorf("%w", engine.ErrHostKeyMismatch))
		if e.Err != nil {
			p.Details = e.Err.Error()
		}
		p.Details += "\n" + lang.X("hosts.changed.presented", "presented: {{.FP}}", map[string]any{"FP": e.Conn.Fingerprint})
		return container.NewVBox(container.NewBorder(nil, nil, widget.NewIcon(theme.ErrorIcon()), nil, stop), w.problemCard(p), widget.NewSeparator())
	case e.State == ConnFailed:
		return container.NewVBox(w.problemCard(explain(e.Err)), widget.NewSeparator())
	case e.State == ConnOK:
		text := lang.X("hosts.ok", "Connected: {{.OS}} ({{.Arch}}), key {{.FP}}", map[string]any{"OS": e.Conn.OS, "Arch": e.Conn.Arch, "FP": e.Conn.Fingerprint})
		if jumpAddr != "" {
			text += "\n" + lang.X("hosts.jump.ok", "through the jump host {{.Jump}}, key {{.FP}}", map[string]any{"Jump": jumpAddr, "FP": e.Conn.Jump.Fingerprint})
		}
		l := widget.NewLabel(text)
		l.Importance = widget.SuccessImportance
		l.Wrapping = fyne.TextWrapWord
		return container.NewVBox(l, widget.NewSeparator())
	}
	return nil
}
