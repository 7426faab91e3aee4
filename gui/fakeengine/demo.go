package fakeengine

import "github.com/ferry-delivery/ferry/gui/engine"

// DemoSchema is the values.schema.json of the demo app: one field of every kind the wizard's form supports.
const DemoSchema = `{
  "$schema": "https://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["hostname"],
  "properties": {
    "hostname": {"type": "string", "title": "Public host name", "description": "Name users type to reach the shop", "default": "shop.local", "minLength": 1, "pattern": "^[a-z0-9.-]+$"},
    "replicas": {"type": "integer", "title": "Web replicas", "default": 2, "minimum": 1, "maximum": 9},
    "cpuLimit": {"type": "number", "title": "CPU limit (cores)", "default": 0.5, "minimum": 0.1},
    "tls": {"type": "boolean", "title": "Serve HTTPS", "default": true},
    "logLevel": {"type": "string", "title": "Log level", "enum": ["debug", "info", "warn", "error"], "default": "info"},
    "db": {"type": "object", "title": "Database", "properties": {
      "size": {"type": "string", "title": "Volume size", "default": "10Gi"}
    }}
  }
}`

// DemoBundle returns a signed demo bundle of the shop app at version.
func DemoBundle(path, version string) engine.Bundle {
	return engine.Bundle{
		Path:       path,
		App:        "shop",
		Version:    version,
		K3sVersion: "v1.33.4+k3s1",
		Platforms:  []string{"linux/amd64", "linux/arm64"},
		Signer:     "Acme Software (ed25519 5f:1c:9a:77)",
		Trust:      engine.TrustSigned,
		Images: []engine.Image{
			{Ref: "registry.local/shop/web:" + version, Bytes: 42 << 20},
			{Ref: "registry.local/shop/db:16.4", Bytes: 150 << 20},
		},
		ValuesSchema:  []byte(DemoSchema),
		DefaultValues: []byte("hostname: shop.local\nreplicas: 2\n"),
	}
}
