package appliance

import (
	"encoding/base64"
	"testing"

	hfake "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned/fake"
	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/types"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-delivery/ferry/appliance/appliancetest"
)

// testChart builds a real chart archive with helm's own writer. schema "" means no values.schema.json.
func testChart(t *testing.T, name, version, schema string, extra int) []byte {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version, AppVersion: version},
		Values:   map[string]any{"replicas": 1, "image": "registry.local/app:" + version},
		Templates: []*chart.File{
			{Name: "templates/web.yaml", Data: []byte(webTemplate)},
			{Name: "templates/db.yaml", Data: []byte(dbTemplate)},
			{Name: "templates/svc.yaml", Data: []byte(svcTemplate)},
		},
	}
	// helm's Save writes values.yaml from Raw, not from Values.
	c.Raw = []*chart.File{{Name: "values.yaml", Data: []byte("replicas: 1\nimage: registry.local/app:" + version + "\n")}}
	if schema != "" {
		c.Schema = []byte(schema)
	}
	if extra > 0 {
		// Incompressible padding makes a chart too big for chartContent.
		pad := make([]byte, extra)
		x := uint32(2463534242)
		for i := range pad {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			pad[i] = byte(x)
		}
		c.Files = []*chart.File{{Name: "files/blob.bin", Data: pad}}
	}
	return appliancetest.ChartArchive(t, c)
}

func fakeCluster(t *testing.T) (*Cluster, *kfake.Clientset, *hfake.Clientset) {
	t.Helper()
	k := kfake.NewClientset()
	h := hfake.NewSimpleClientset()
	return &Cluster{Kube: k, Helm: h}, k, h
}

// testValuesKey names values Secrets in tests that build specs without a cluster.
var testValuesKey = []byte("0123456789abcdef0123456789abcdef")

func typesUID(s string) types.UID { return types.UID(s) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// startSim runs the simulated helm-controller (appliancetest) against c's fake clientsets.
func startSim(t *testing.T, c *Cluster) *appliancetest.Sim {
	return appliancetest.Start(t, c.Kube, c.Helm, DefaultNamespace)
}

// simCluster is where most scenario tests start: a fake cluster with helm-controller simulated on it, and
// test options whose events go to the returned log.
func simCluster(t *testing.T) (*Cluster, Options, *eventLog) {
	t.Helper()
	c, _, _ := fakeCluster(t)
	startSim(t, c)
	log := &eventLog{}
	return c, testOptions(t, log), log
}

// The test app: a Deployment running the app image, a StatefulSet with a PVC, a Service. Asking for
// sim.mode=helmFail makes the chart itself fail in helm's templating, as a broken chart would.
const webTemplate = `{{- if .Values.sim }}{{ if eq (toString .Values.sim.mode) "helmFail" }}{{ fail "broken chart: web cannot render" }}{{ end }}{{ end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image | quote }}
`

const dbTemplate = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: registry.local/db:15
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`

const svcTemplate = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80}]
`
