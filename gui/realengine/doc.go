// Package realengine adapts Ferry's engine packages (payload, installer, appliance) to the wizard's
// contract in gui/engine. It translates types and errors and nothing more: decisions stay in the engine
// and in the wizard's view-models.
//
// So far it covers opening and verifying a bundle (OpenBundle, on payload). The installer and the
// appliance calls are to be added as those packages' facades settle; until then cmd/ferry runs on
// gui/fakeengine. It must not import fyne.io.
package realengine
