// Package testappliance is a test fixture for the appliance's callers (cmd/ferryctl, gui/realengine): an
// appliance.Cluster on client-go's and helm-controller's fake clientsets with appliancetest's simulated
// helm-controller running, the "shop" bundle those tests deploy, and deploying a list of versions in order.
// Charts are built with appliancetest.ChartArchive.
//
// It lives apart from appliancetest because it needs package appliance, which appliancetest must not
// import (the appliance's own tests import appliancetest). It is for tests only: product code must not
// import it (internal/archtest checks).
package testappliance
