// Package preflight decides whether a host can take k3s before anything is changed on it. Gathering runs
// one read-only script over host.Host and parses its output into Facts; the checks are pure functions of
// Facts (and of all hosts' Facts, for cross-host rules such as unique hostnames), each returning pass,
// warn or fail with a plain-language fix. A few fixes Ferry can apply itself with the user's consent
// (set the clock from the laptop, set a unique hostname, add a dummy default route).
//
// It must not change a host except through ApplyFix, which callers invoke only after consent.
package preflight
