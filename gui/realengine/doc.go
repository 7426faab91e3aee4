// Package realengine adapts Ferry's engine packages (payload, installer, appliance) to the wizard's
// contract in gui/engine. It translates types and errors and nothing more: decisions stay in the engine
// and in the wizard's view-models.
//
// It covers opening and verifying a bundle (payload), testing a connection and preflight with fixes
// (installer), and status, history, upgrade plan, upgrade and rollback (appliance, over an SSH-dialled
// connection to the first server's API server). Install returns ErrNotAvailable until the installer's
// bootstrap lands: it is never faked. cmd/ferry uses this engine unless run with --demo. It must not
// import fyne.io.
package realengine
