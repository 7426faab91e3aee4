package appliance

// Progress phases. Every event a verb emits carries one of these in progress.Event.Phase, so the wizard
// can draw the verb's steps from Phases and tick them off as events arrive.
const (
	PhaseCheck    = "check"
	PhasePlan     = "plan"
	PhaseChart    = "chart"
	PhaseImages   = "images"
	PhaseApply    = "apply"
	PhaseWait     = "wait"
	PhaseRollback = "rollback"
	PhaseRecord   = "record"
)

// Step is one phase of a verb with the title the wizard shows for it.
type Step struct {
	Phase string
	Title string
}

// Phases lists, in order, the steps of a verb ("deploy", "upgrade", "rollback"); nil for others.
func Phases(verb string) []Step {
	switch verb {
	case "deploy":
		return []Step{
			{PhaseCheck, "Check the bundle and the cluster"},
			{PhaseChart, "Place a large chart on the servers"},
			{PhaseImages, "Send the images each node lacks"},
			{PhaseApply, "Apply the HelmChart"},
			{PhaseWait, "Wait until every workload is ready"},
		}
	case "upgrade":
		return []Step{
			{PhaseCheck, "Check the bundle against the installed version"},
			{PhasePlan, "Compare the images with each node"},
			{PhaseChart, "Place a large chart on the servers"},
			{PhaseImages, "Send only the missing image layers"},
			{PhaseApply, "Apply the new HelmChart"},
			{PhaseWait, "Wait until every workload is ready"},
			{PhaseRollback, "Roll back by itself if it is not"},
		}
	case "rollback":
		return []Step{
			{PhaseCheck, "Find the kept version in the cluster's records"},
			{PhaseApply, "Re-apply its recorded HelmChart"},
			{PhaseWait, "Wait until every workload is ready"},
		}
	}
	return nil
}
