// Package fakeengine is a stand-in for Ferry's engine that satisfies gui/engine.Engine in memory. The wizard's
// tests script it (a phase that fails once, a phase that holds, a changed host key, an upgrade that rolls
// back), and cmd/ferry runs on it until the real engine is wired in, saying so on screen.
//
// It touches no network and no host. It must not import fyne.io.
package fakeengine
