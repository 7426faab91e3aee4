// Package phase runs a cluster operation as an ordered list of small phases, in the manner of k0sctl's
// phase manager: each phase has a Title and Run, and may implement Prepare, ShouldRun, DryRun and
// CleanUp. The Manager checks the context between phases, reports each phase's start and end through the
// injected progress sink, and on failure or cancellation cleans up the phases that had started, newest
// first. In a dry run it records what every phase would do on every host (Wet, and DryHost for commands)
// instead of doing it.
//
// It knows nothing of k3s, SSH or the GUI: phases bring their own behaviour.
package phase
