package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// DefaultConfigFile is where k3s reads its configuration.
const DefaultConfigFile = "/etc/rancher/k3s/config.yaml"

// ErrUnknownKey is returned for a config key that k3s has no flag for.
var ErrUnknownKey = errors.New("unknown config key")

type kind int

const (
	str kind = iota
	boolean
	list
)

type keyInfo struct {
	kind   kind
	server bool // valid for `k3s server`
	agent  bool // valid for `k3s agent`
	env    string
}

// keys lists the k3s flags the stand-in understands. Many are accepted and only recorded (flannel,
// kube-proxy...), since the stand-in runs no network; they are listed so configs written for real
// k3s load unchanged.
var keys = map[string]keyInfo{
	"config":                            {str, true, true, "K3S_CONFIG_FILE"},
	"debug":                             {boolean, true, true, "K3S_DEBUG"},
	"v":                                 {str, true, true, ""},
	"log":                               {str, true, true, ""},
	"alsologtostderr":                   {boolean, true, true, ""},
	"data-dir":                          {str, true, true, "K3S_DATA_DIR"},
	"token":                             {str, true, true, "K3S_TOKEN"},
	"token-file":                        {str, true, true, "K3S_TOKEN_FILE"},
	"agent-token":                       {str, true, false, "K3S_AGENT_TOKEN"},
	"agent-token-file":                  {str, true, false, "K3S_AGENT_TOKEN_FILE"},
	"server":                            {str, true, true, "K3S_URL"},
	"cluster-init":                      {boolean, true, false, "K3S_CLUSTER_INIT"},
	"cluster-reset":                     {boolean, true, false, "K3S_CLUSTER_RESET"},
	"cluster-reset-restore-path":        {str, true, false, ""},
	"tls-san":                           {list, true, false, ""},
	"tls-san-security":                  {boolean, true, false, ""},
	"bind-address":                      {str, true, true, ""},
	"https-listen-port":                 {str, true, false, ""},
	"supervisor-port":                   {str, true, false, ""},
	"advertise-address":                 {str, true, false, ""},
	"advertise-port":                    {str, true, false, ""},
	"node-ip":                           {list, true, true, ""},
	"node-external-ip":                  {list, true, true, ""},
	"node-name":                         {str, true, true, "K3S_NODE_NAME"},
	"with-node-id":                      {boolean, true, true, ""},
	"node-label":                        {list, true, true, ""},
	"node-taint":                        {list, true, true, ""},
	"write-kubeconfig":                  {str, true, false, "K3S_KUBECONFIG_OUTPUT"},
	"write-kubeconfig-mode":             {str, true, false, "K3S_KUBECONFIG_MODE"},
	"write-kubeconfig-group":            {str, true, false, "K3S_KUBECONFIG_GROUP"},
	"disable":                           {list, true, false, ""},
	"disable-scheduler":                 {boolean, true, false, ""},
	"disable-cloud-controller":          {boolean, true, false, ""},
	"disable-kube-proxy":                {boolean, true, false, ""},
	"disable-network-policy":            {boolean, true, false, ""},
	"disable-helm-controller":           {boolean, true, false, ""},
	"disable-apiserver":                 {boolean, true, false, ""},
	"disable-controller-manager":        {boolean, true, false, ""},
	"disable-etcd":                      {boolean, true, false, ""},
	"disable-agent":                     {boolean, true, false, ""},
	"embedded-registry":                 {boolean, true, false, ""},
	"disable-default-registry-endpoint": {boolean, true, true, ""},
	"selinux":                           {boolean, true, true, "K3S_SELINUX"},
	"helm-job-image":                    {str, true, false, ""},
	"system-default-registry":           {str, true, false, ""},
	"private-registry":                  {str, true, true, ""},
	"kubelet-arg":                       {list, true, true, ""},
	"kube-proxy-arg":                    {list, true, true, ""},
	"kube-apiserver-arg":                {list, true, false, ""},
	"kube-controller-manager-arg":       {list, true, false, ""},
	"kube-scheduler-arg":                {list, true, false, ""},
	"kube-cloud-controller-manager-arg": {list, true, false, ""},
	"etcd-arg":                          {list, true, false, ""},
	"resolv-conf":                       {str, true, true, "K3S_RESOLV_CONF"},
	"cluster-cidr":                      {list, true, false, ""},
	"service-cidr":                      {list, true, false, ""},
	"cluster-dns":                       {list, true, false, ""},
	"cluster-domain":                    {str, true, false, ""},
	"service-node-port-range":           {str, true, false, ""},
	"flannel-backend":                   {str, true, false, ""},
	"flannel-iface":                     {str, true, true, ""},
	"flannel-ipv6-masq":                 {boolean, true, false, ""},
	"secrets-encryption":                {boolean, true, false, ""},
	"protect-kernel-defaults":           {boolean, true, true, ""},
	"container-runtime-endpoint":        {str, true, true, ""},
	"pause-image":                       {str, true, true, ""},
	"snapshotter":                       {str, true, true, ""},
	"prefer-bundled-bin":                {boolean, true, true, ""},
	"default-local-storage-path":        {str, true, false, ""},
	"egress-selector-mode":              {str, true, false, ""},
	"etcd-expose-metrics":               {boolean, true, false, ""},
	"etcd-disable-snapshots":            {boolean, true, false, ""},
	"etcd-snapshot-schedule-cron":       {str, true, false, ""},
	"etcd-snapshot-retention":           {str, true, false, ""},
	"etcd-snapshot-dir":                 {str, true, false, ""},
	"etcd-snapshot-compress":            {boolean, true, false, ""},
	"datastore-endpoint":                {str, true, false, "K3S_DATASTORE_ENDPOINT"},
	"lb-server-port":                    {str, true, true, ""},
	"image-credential-provider-bin-dir": {str, true, true, ""},
	"image-credential-provider-config":  {str, true, true, ""},
	"airgap-extra-registry":             {list, true, true, ""},
}

// Config is the merged configuration: each key's final value as k3s would see it.
type Config struct {
	values map[string]any // string, bool or []string
	// Files lists the files read, in order, for logs and errors.
	Files []string
	// Skipped lists keys that are valid for the other role and were ignored, as k3s does.
	Skipped []string
}

// String returns a string key's value ("" when unset).
func (c *Config) String(key string) string {
	s, _ := c.values[key].(string)
	return s
}

// Bool returns a boolean key's value.
func (c *Config) Bool(key string) bool {
	b, _ := c.values[key].(bool)
	return b
}

// List returns a list key's values.
func (c *Config) List(key string) []string {
	l, _ := c.values[key].([]string)
	return append([]string(nil), l...)
}

// Has reports whether a key was set anywhere.
func (c *Config) Has(key string) bool {
	_, ok := c.values[key]
	return ok
}

// Set records a value, for defaults decided by the caller.
func (c *Config) Set(key string, v any) { c.values[key] = v }

// Load merges, for role "server" or "agent": the environment, then the config file and its drop-ins,
// then args (k3s-style flags: --key value, --key=value, --flag for booleans). The config file is
// taken from --config/-c in args, then K3S_CONFIG_FILE, then DefaultConfigFile; a missing default
// file is fine, a missing named one is not.
func Load(role string, args []string, getenv func(string) string) (*Config, error) {
	flagVals, err := parseArgs(role, args)
	if err != nil {
		return nil, err
	}
	c := &Config{values: map[string]any{}}
	for k, info := range keys {
		if info.env == "" || !validFor(info, role) {
			continue
		}
		if v := getenv(info.env); v != "" {
			if err := c.setRaw(k, info, v, false); err != nil {
				return nil, fmt.Errorf("reading %s: %w", info.env, err)
			}
		}
	}

	path, named := DefaultConfigFile, false
	if v := getenv("K3S_CONFIG_FILE"); v != "" {
		path, named = v, true
	}
	for _, fv := range flagVals {
		if fv.key == "config" {
			path, named = fv.val.(string), true
		}
	}
	files, err := configFiles(path, named)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := c.mergeFile(role, f); err != nil {
			return nil, err
		}
		c.Files = append(c.Files, f)
	}
	for _, fv := range flagVals {
		if fv.key == "config" {
			continue
		}
		info := keys[fv.key]
		if info.kind == list {
			// Flags repeat to build a list, and replace what the files said, as urfave/cli does.
			if fv.first {
				delete(c.values, fv.key)
			}
			c.values[fv.key] = append(c.List(fv.key), fv.val.([]string)...)
			continue
		}
		c.values[fv.key] = fv.val
	}
	return c, nil
}

func validFor(info keyInfo, role string) bool {
	if role == "server" {
		return info.server
	}
	return info.agent
}

// configFiles returns the main file (when present) and its drop-ins in name order.
func configFiles(path string, named bool) ([]string, error) {
	var files []string
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if named || !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading config file %s: %w", path, err)
	}
	dropins, err := filepath.Glob(filepath.Join(path+".d", "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dropins)
	for _, d := range dropins {
		if ext := filepath.Ext(d); ext == ".yaml" || ext == ".yml" {
			files = append(files, d)
		}
	}
	return files, nil
}

func (c *Config) mergeFile(role, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config file %s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("parsing config file %s: %w", path, err)
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, raw := range names {
		key, appendTo := strings.TrimSuffix(raw, "+"), strings.HasSuffix(raw, "+")
		info, ok := keys[key]
		if !ok {
			return fmt.Errorf("parsing config file %s: %w %q: k3s has no such flag; fix or remove it", path, ErrUnknownKey, raw)
		}
		if !validFor(info, role) {
			c.Skipped = append(c.Skipped, key)
			continue
		}
		if err := c.setRaw(key, info, m[raw], appendTo); err != nil {
			return fmt.Errorf("parsing config file %s: key %q: %w", path, raw, err)
		}
	}
	return nil
}

func (c *Config) setRaw(key string, info keyInfo, v any, appendTo bool) error {
	switch info.kind {
	case boolean:
		switch t := v.(type) {
		case bool:
			c.values[key] = t
		case string:
			b, err := strconv.ParseBool(t)
			if err != nil {
				return fmt.Errorf("want true or false, got %q", t)
			}
			c.values[key] = b
		default:
			return fmt.Errorf("want true or false, got %v", v)
		}
	case str:
		switch t := v.(type) {
		case string:
			c.values[key] = t
		case bool, float64, int, int64:
			// YAML numbers such as a port are strings to k3s's flags.
			c.values[key] = fmt.Sprint(t)
		default:
			return fmt.Errorf("want a single value, got %v", v)
		}
	case list:
		var items []string
		switch t := v.(type) {
		case []any:
			for _, i := range t {
				items = append(items, fmt.Sprint(i))
			}
		case string:
			items = splitList(t)
		default:
			items = []string{fmt.Sprint(t)}
		}
		if appendTo {
			items = append(c.List(key), items...)
		}
		c.values[key] = items
	}
	return nil
}

// splitList splits a comma-separated flag value as urfave/cli's StringSlice does.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type flagVal struct {
	key   string
	val   any
	first bool // first occurrence of a list flag
}

func parseArgs(role string, args []string) ([]flagVal, error) {
	var out []flagVal
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		name := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if j := strings.IndexByte(name, '='); j >= 0 {
			name, val, hasVal = name[:j], name[j+1:], true
		}
		if name == "c" {
			name = "config"
		}
		info, ok := keys[name]
		if !ok || !validFor(info, role) {
			return nil, fmt.Errorf("flag provided but not defined: -%s (k3s %s)", name, role)
		}
		if info.kind == boolean {
			b := true
			if hasVal {
				var err error
				if b, err = strconv.ParseBool(val); err != nil {
					return nil, fmt.Errorf("flag --%s: want true or false, got %q", name, val)
				}
			}
			out = append(out, flagVal{key: name, val: b})
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag needs an argument: --%s", name)
			}
			i++
			val = args[i]
		}
		if info.kind == list {
			out = append(out, flagVal{key: name, val: splitList(val), first: !seen[name]})
			seen[name] = true
			continue
		}
		out = append(out, flagVal{key: name, val: val})
	}
	return out, nil
}
