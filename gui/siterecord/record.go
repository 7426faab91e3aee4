package siterecord

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ferry-delivery/ferry/gui/engine"

	"github.com/ferry-delivery/ferry/internal/fsutil"
)

// Record is one site as saved on disk.
type Record struct {
	Name       string           `json:"name"`
	App        string           `json:"app,omitempty"`
	Version    string           `json:"version,omitempty"`
	BundlePath string           `json:"bundlePath,omitempty"`
	AppURL     string           `json:"appURL,omitempty"`
	Hosts      []engine.Host    `json:"hosts"`
	History    []engine.Release `json:"-"` // in history.json
	Updated    time.Time        `json:"updated"`
}

// ErrBadName is returned for a site name that cannot be a folder name.
var ErrBadName = errors.New("site name must be 1-64 letters, digits, dot, dash or underscore, not starting with a dot")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$`)

// ValidName reports whether name is usable as a site folder.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return ErrBadName
	}
	return nil
}

// Store is the folder holding one sub-folder per site.
type Store struct{ Root string }

// DefaultStore is <user config dir>/ferry/sites.
func DefaultStore() (Store, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return Store{}, fmt.Errorf("finding the config dir: %w", err)
	}
	return Store{Root: filepath.Join(d, "ferry", "sites")}, nil
}

// Dir is the folder of site name.
func (s Store) Dir(name string) string { return filepath.Join(s.Root, name) }

// Save writes the record (site.json and history.json), creating the folder 0700.
func (s Store) Save(r Record) error {
	if err := ValidName(r.Name); err != nil {
		return fmt.Errorf("saving site %q: %w", r.Name, err)
	}
	dir := s.Dir(r.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving site %s: %w", r.Name, err)
	}
	var keys []string
	seen := map[string]bool{}
	for _, h := range r.Hosts {
		// A bastion shared by several hosts is recorded once.
		for _, k := range []string{h.HostKey, h.JumpHostKey} {
			if k != "" && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	files := map[string]any{"site.json": r, "history.json": r.History}
	for name, v := range files {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("saving site %s: %w", r.Name, err)
		}
		if err := writeFile(filepath.Join(dir, name), append(data, '\n')); err != nil {
			return fmt.Errorf("saving site %s: %w", r.Name, err)
		}
	}
	if err := writeFile(filepath.Join(dir, "known_hosts"), []byte(strings.Join(keys, "\n")+"\n")); err != nil {
		return fmt.Errorf("saving site %s: %w", r.Name, err)
	}
	return nil
}

// writeFile replaces path atomically with mode 0600, so a crash never leaves half a record.
func writeFile(path string, data []byte) error {
	return fsutil.WriteFileAtomic(path, data, 0o600)
}

// Load reads site name.
func (s Store) Load(name string) (Record, error) {
	if err := ValidName(name); err != nil {
		return Record{}, fmt.Errorf("loading site %q: %w", name, err)
	}
	var r Record
	data, err := os.ReadFile(filepath.Join(s.Dir(name), "site.json"))
	if err != nil {
		return Record{}, fmt.Errorf("loading site %s: %w", name, err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("loading site %s: %w", name, err)
	}
	if data, err := os.ReadFile(filepath.Join(s.Dir(name), "history.json")); err == nil {
		_ = json.Unmarshal(data, &r.History) // history is a cache of the engine's; a bad one is refetched
	}
	return r, nil
}

// List returns every site, most recently updated first. Folders without a readable record are skipped.
func (s Store) List() ([]Record, error) {
	ents, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing sites: %w", err)
	}
	var out []Record
	for _, e := range ents {
		if !e.IsDir() || ValidName(e.Name()) != nil {
			continue
		}
		if r, err := s.Load(e.Name()); err == nil {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Updated.After(out[j].Updated) })
	return out, nil
}

// SaveKubeconfig stores the cluster's admin kubeconfig with mode 0600.
func (s Store) SaveKubeconfig(name string, data []byte) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("saving kubeconfig: %w", err)
	}
	if err := os.MkdirAll(s.Dir(name), 0o700); err != nil {
		return fmt.Errorf("saving kubeconfig: %w", err)
	}
	if err := writeFile(filepath.Join(s.Dir(name), "kubeconfig"), data); err != nil {
		return fmt.Errorf("saving kubeconfig: %w", err)
	}
	return nil
}

// Audit appends one line to the site's audit log.
func (s Store) Audit(name string, when time.Time, line string) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	if err := os.MkdirAll(s.Dir(name), 0o700); err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir(name), "audit.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %s\n", when.UTC().Format(time.RFC3339), strings.ReplaceAll(line, "\n", " ")); err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	return nil
}
