// Package fsutil holds the small file helpers the engine and the tests share: the one way Ferry writes a
// file on the laptop that must never be seen half written (site records, kubeconfigs, tokens and history
// mirrors), and the one way a local file's sha256 is taken.
//
// It must not grow policy: where a file goes and what its content means belong to the callers.
package fsutil
