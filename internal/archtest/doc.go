// Package archtest holds tests that guard the shape of the repository: the engine stays free of the GUI
// toolkit, so everything the wizard does can be done and tested without a window.
package archtest
