// Package archtest holds tests that guard the shape of the repository: the engine stays free of the GUI
// toolkit, so everything the wizard does can be done and tested without a window; and the product
// commands (ferry, ferryctl) never depend on test code (test/..., internal/test*, appliance/appliancetest),
// so the k3s stand-in, the simulated cluster and the demo bundle builder can never reach a user's build.
package archtest
