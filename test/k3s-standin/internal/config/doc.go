// Package config reads k3s's configuration the way k3s does: /etc/rancher/k3s/config.yaml, then the
// drop-ins in config.yaml.d/ in name order (last wins, `key+:` appends to a list), then the command
// line on top. Environment variables (K3S_TOKEN, K3S_URL, ...) fill only what neither set.
//
// It must not start anything or touch the data dir: it only turns files and flags into a Config.
// Deliberate difference from k3s: a key that is neither a k3s server nor agent flag is refused (k3s
// logs "Unknown flag ... skipping"), so a typo in what Ferry writes fails a test instead of being lost.
package config
