package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrOffLab means an address is outside the lab's subnet or its bridge is missing: connecting could send
// a packet off the machine, so the lab refuses.
var ErrOffLab = errors.New("address is not on the site lab's bridge")

// Inventory describes a site: the lab writes one for the hosts it runs, and a user can write one for real
// VMs (leave Lab, Bridge and Subnet empty), so the same scenarios run against both.
type Inventory struct {
	Lab    string `json:"lab,omitempty"`
	Bridge string `json:"bridge,omitempty"`
	Subnet string `json:"subnet,omitempty"`
	// KnownHostsFile holds every host's known_hosts line, for ssh -o UserKnownHostsFile=.
	KnownHostsFile string `json:"known_hosts_file,omitempty"`
	Hosts          []Host `json:"hosts"`
}

// Host is one target host as the installer sees it.
type Host struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	Arch    string `json:"arch"`
	// User logs in with the private key in KeyFile (root in the lab).
	User    string `json:"user"`
	KeyFile string `json:"key_file"`
	// SudoUser logs in with the password in PasswordFile; its sudo asks for that password.
	SudoUser     string `json:"sudo_user,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	// HostKey is the host's public key in authorized_keys form; connections verify it.
	HostKey     string `json:"host_key"`
	Fingerprint string `json:"host_key_fingerprint"`
	KnownHosts  string `json:"known_hosts"`
}

// LoadInventory reads an inventory file.
func LoadInventory(path string) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading inventory: %w", err)
	}
	var inv Inventory
	if err := json.Unmarshal(b, &inv); err != nil {
		return nil, fmt.Errorf("reading inventory %s: %w", path, err)
	}
	if len(inv.Hosts) == 0 {
		return nil, fmt.Errorf("reading inventory %s: no hosts", path)
	}
	for i, h := range inv.Hosts {
		if h.Name == "" || h.Address == "" || h.HostKey == "" {
			return nil, fmt.Errorf("reading inventory %s: host %d needs name, address and host_key", path, i+1)
		}
	}
	return &inv, nil
}

// Write saves the inventory as indented JSON (0600: it points at the lab's secrets).
func (inv *Inventory) Write(path string) error {
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return err
	}
	return writeSecret(path, append(b, '\n'))
}

// Host returns the host named name.
func (inv *Inventory) Host(name string) (Host, bool) {
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// CheckNetwork refuses a lab inventory whose bridge is missing or down, or whose hosts lie outside its
// subnet. Call it before connecting; an inventory of real hosts (no Bridge) passes.
func (inv *Inventory) CheckNetwork() error {
	if inv.Bridge == "" {
		return nil
	}
	_, subnet, err := net.ParseCIDR(inv.Subnet)
	if err != nil {
		return fmt.Errorf("checking lab network: subnet %q: %w", inv.Subnet, err)
	}
	ifc, err := net.InterfaceByName(inv.Bridge)
	if err != nil {
		return fmt.Errorf("checking lab network: bridge %s: %w: %w (is the lab up?)", inv.Bridge, ErrOffLab, err)
	}
	if ifc.Flags&net.FlagUp == 0 {
		return fmt.Errorf("checking lab network: bridge %s is down: %w", inv.Bridge, ErrOffLab)
	}
	addrs, _ := ifc.Addrs()
	onBridge := false
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && subnet.Contains(ipn.IP) {
			onBridge = true
		}
	}
	if !onBridge {
		return fmt.Errorf("checking lab network: bridge %s has no address in %s: %w", inv.Bridge, inv.Subnet, ErrOffLab)
	}
	for _, h := range inv.Hosts {
		ip := net.ParseIP(h.Address)
		if ip == nil || !subnet.Contains(ip) {
			return fmt.Errorf("checking lab network: host %s at %s: %w %s", h.Name, h.Address, ErrOffLab, inv.Subnet)
		}
	}
	return nil
}

// SSHPort is the host's SSH port: 22 when the inventory leaves it out.
func (h Host) SSHPort() int {
	if h.Port == 0 {
		return 22
	}
	return h.Port
}

// Addr is host:port for dialing.
func (h Host) Addr() string { return net.JoinHostPort(h.Address, strconv.Itoa(h.SSHPort())) }

// SiteHosts is the hosts: list of a Ferry site file for the inventory: the first servers hosts are
// servers, the others agents, each named and addressed as here. The caller writes the rest of the file
// (name, defaults and auth, k3s settings), which differs per scenario.
func (inv *Inventory) SiteHosts(servers int) string {
	var b strings.Builder
	b.WriteString("hosts:\n")
	for i, h := range inv.Hosts {
		role := "agent"
		if i < servers {
			role = "server"
		}
		fmt.Fprintf(&b, "  - {name: %s, address: %s, port: %d, role: %s}\n", h.Name, h.Address, h.SSHPort(), role)
	}
	return b.String()
}

// HostKeyCallback accepts exactly the host's recorded key.
func (h Host) HostKeyCallback() (ssh.HostKeyCallback, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
	if err != nil {
		return nil, fmt.Errorf("parsing host key of %s: %w", h.Name, err)
	}
	return ssh.FixedHostKey(pk), nil
}

// KeyConfig is an SSH client config for User with the key in KeyFile, verifying the host key.
func (h Host) KeyConfig() (*ssh.ClientConfig, error) {
	cb, err := h.HostKeyCallback()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(h.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading key of %s: %w", h.Name, err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("parsing key of %s: %w", h.Name, err)
	}
	return &ssh.ClientConfig{User: h.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: cb}, nil
}

// KeyClient opens an SSH connection to h as User with the key in KeyFile (root in the lab), verifying the
// host key, within 10 s. It does not check the lab's network first; Lab.Client does.
func (h Host) KeyClient(ctx context.Context) (*ssh.Client, error) {
	cfg, err := h.KeyConfig()
	if err != nil {
		return nil, err
	}
	return Dial(ctx, h, cfg, 10*time.Second)
}

// Password reads the sudo user's password from PasswordFile.
func (h Host) Password() (string, error) {
	if h.PasswordFile == "" {
		return "", fmt.Errorf("host %s has no sudo user password file", h.Name)
	}
	b, err := os.ReadFile(h.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("reading password of %s: %w", h.Name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// PasswordConfig is an SSH client config for SudoUser with its password, verifying the host key.
func (h Host) PasswordConfig() (*ssh.ClientConfig, error) {
	cb, err := h.HostKeyCallback()
	if err != nil {
		return nil, err
	}
	pw, err := h.Password()
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{User: h.SudoUser, Auth: []ssh.AuthMethod{ssh.Password(pw)}, HostKeyCallback: cb}, nil
}

func knownHostsLine(addr string, port int, pub ssh.PublicKey) string {
	if port == 0 {
		port = 22
	}
	return knownhosts.Line([]string{net.JoinHostPort(addr, strconv.Itoa(port))}, pub)
}
