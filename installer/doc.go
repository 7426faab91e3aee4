// Package installer brings target hosts from bare Linux to a Ready k3s cluster over SSH, using only the
// payloads inside a verified bundle: it connects (host keys always verified), runs preflight checks and
// their consented fixes, uploads each host's platform payload with resumable verified transfers, installs
// and starts k3s as its install script would, joins servers and agents, fetches the kubeconfig, and resets
// hosts to clean.
//
// Operations are ordered lists of phases that talk to hosts through a narrow Host interface and report
// through an injected progress sink. It must not import the GUI toolkit.
package installer
