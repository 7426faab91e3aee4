package realengine

import (
	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// Operations whose steps the real engine reports (the keys of PhaseLists).
const (
	OpInstall  = "install"
	OpUpgrade  = "upgrade"
	OpRollback = "rollback"
)

// Phase id prefixes. The wizard translates a step's title by its id, so ids must be stable and name one
// step only. The engines' own ids are not that across operations: the installer and the appliance both
// have a "wait", and the appliance's "check" is a different step in each verb ("Check the bundle and the
// cluster", "... against the installed version", "Find the kept version ..."). Each id is therefore the
// engine's own id under the part that runs it: "k3s.connect", "deploy.check", "upgrade.check".
const (
	k3sPrefix = "k3s."
)

// PhaseLists returns every step list the real engine reports, by operation (OpInstall, OpUpgrade,
// OpRollback), built from the engines' own lists (installer.InstallPhases, appliance.Phases), never
// copied. Every event of those operations that names a listed step carries its id in Event.Phase.
func PhaseLists() map[string][]engine.Phase {
	return map[string][]engine.Phase{
		OpInstall:  installPhases(),
		OpUpgrade:  appliancePhases("upgrade"),
		OpRollback: appliancePhases("rollback"),
	}
}

// installPhases: the installer's bootstrap, then the appliance's deploy.
func installPhases() []engine.Phase {
	var out []engine.Phase
	for _, s := range installer.InstallPhases() {
		out = append(out, engine.Phase{ID: k3sPrefix + s.ID, Title: s.Title})
	}
	return append(out, appliancePhases("deploy")...)
}

// appliancePhases lists an appliance verb's steps under the verb's prefix.
func appliancePhases(verb string) []engine.Phase {
	var out []engine.Phase
	for _, s := range appliance.Phases(verb) {
		out = append(out, engine.Phase{ID: verb + "." + s.Phase, Title: s.Title})
	}
	return out
}

// k3sSink hands the installer's events to sink under the wizard's ids: the installer names a phase by
// its Title in Event.Phase (what its CLI prints). An event naming no known phase passes unchanged.
func k3sSink(sink progress.Sink) progress.Sink {
	if sink == nil {
		return nil
	}
	ids := map[string]string{}
	for _, s := range installer.InstallPhases() {
		ids[s.Title] = k3sPrefix + s.ID
	}
	return func(e progress.Event) {
		if id, ok := ids[e.Phase]; ok {
			e.Phase = id
		}
		sink.Emit(e)
	}
}

// applianceSink hands an appliance verb's events to sink under the wizard's ids (the verb's prefix).
func applianceSink(verb string, sink progress.Sink) progress.Sink {
	if sink == nil {
		return nil
	}
	return func(e progress.Event) {
		if e.Phase != "" {
			e.Phase = verb + "." + e.Phase
		}
		sink.Emit(e)
	}
}
