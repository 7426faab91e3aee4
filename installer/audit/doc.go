// Package audit appends one JSON line per remote action (command or upload) to the site's audit log on
// the laptop, so a site's security reviewer can see exactly what Ferry did on each host and when.
//
// It records what it is given: callers redact secrets before recording. It must never record stdin.
package audit
