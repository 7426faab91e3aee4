// Package installer brings target hosts from bare Linux to a Ready k3s cluster over SSH, using only the
// payloads inside a verified bundle: it connects (host keys always verified), runs preflight checks and
// their consented fixes, uploads each host's platform payload with resumable verified transfers, installs
// and starts k3s as its install script would, joins servers and agents, fetches the kubeconfig, and resets
// hosts to clean.
//
// Operations are ordered lists of phases (installer/phase) sharing one state: connect, facts, preflight,
// upload, then (next) install first server, join servers one by one, join agents, wait ready, fetch
// kubeconfig. Phases talk to hosts through the narrow host.Host interface (installer/ssh in production,
// host/hosttest in unit tests) and report through an injected progress sink. Sub-packages: site (the site
// file), ssh (transport), transfer (verified upload), preflight (facts, checks, fixes), audit (the audit
// log). It must not import the GUI toolkit, prompt, or print: callers supply prompts and consent.
package installer
