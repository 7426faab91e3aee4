// Package engine is the contract between the desktop wizard and Ferry's engine (payload, installer,
// appliance). It holds only plain data types and one small interface, Engine, so the wizard can be built and
// tested against a fake (gui/fakeengine) while the real engine is written, and wiring the real engine later
// is a thin adapter that translates these types.
//
// It must not import fyne.io or any engine package: it is the seam between them.
package engine
