// Package gui is Ferry's desktop wizard, built with Fyne. It is a thin caller of the engine packages
// (payload, installer, appliance): every decision lives in view-models that are tested without a window,
// and engine work runs off the UI goroutine.
package gui
