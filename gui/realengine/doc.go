// Package realengine adapts Ferry's engine packages (payload, installer, appliance) to the wizard's
// contract in gui/engine. It translates types and errors and nothing more: decisions stay in the engine
// and in the wizard's view-models.
//
// It covers opening and verifying a bundle (payload), testing a connection (directly or through a jump
// host, every key verified) and preflight with fixes (installer), install (installer.Install, then the
// app's deploy), and status with the app's components, history, upgrade plan, upgrade and rollback
// (appliance/remote: every host over the installer's SSH client, the API server through the first
// server's SSH connection, images landed on the nodes and pruned after a change).
// LoadSiteDraft reads a ferryctl site.yaml as the hosts the wizard starts with (ferry --site-draft).
// cmd/ferry uses this engine unless run with --demo. It must not import fyne.io.
package realengine
