package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/crypto/ssh"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/ferry-delivery/ferry/internal/testimage"
	"github.com/ferry-delivery/ferry/test/lab"
)

// RollbackLabID is the broken-upgrade scenario's site lab (docs/testing.md).
const RollbackLabID = 10

// EnvRollback must be "1" for TestBrokenUpgradesRollBack to run (make test-e2e-rollback sets it), so
// make test-e2e (lab 4) does not also boot lab 10.
const EnvRollback = "FERRY_E2E_ROLLBACK"

const (
	webRef = "registry.example/shop/web"
	dbRef  = "registry.example/shop/db"
	// The PV the StatefulSet's claim binds to: the stand-in has no provisioner (real k3s would use
	// local-path), so the engineer creates a static hostPath volume on the server, as without local-path.
	pvName, pvDir, pvcName = "shop-data", "/var/lib/shop-data", "data-db-0"
	rbShort                = "45s" // ferryctl --timeout of the broken upgrades (and their rollbacks)
)

// shopChart is a small business system: a web Deployment (2 replicas, readiness probe from the values)
// with its Service, and a database StatefulSet whose volumeClaimTemplates claim persistent data, with
// its headless Service. extra templates are added as they are (the broken versions use them).
const shopWeb = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: {{ .Values.web.image }}
          ports: [{containerPort: 8080}]
          env: [{name: DB_HOST, value: db-0.db}]
          readinessProbe:
            exec: {command: {{ toJson .Values.web.readyCommand }}}
            periodSeconds: 5
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

const shopDB = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
        - name: db
          image: {{ .Values.db.image }}
          ports: [{containerPort: 5432}]
          volumeMounts: [{name: data, mountPath: /var/lib/db}]
          readinessProbe:
            exec: {command: {{ toJson .Values.db.readyCommand }}}
            periodSeconds: 5
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: {{ .Values.storageClass }}
        resources:
          requests: {storage: 1Gi}
---
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
`

// shopVersion is one bundle of the shop: what its chart renders and which images the bundle carries
// (which need not be those the chart names: v3c's chart names one the bundle lacks).
type shopVersion struct {
	version   string
	webImage  string   // the image the chart's Deployment names
	readyCmd  []string // the web container's readiness probe
	dbReady   []string // the db container's readiness probe (default true)
	extra     string   // an extra template (v3b: one the API server rejects)
	carry     map[string]v1.Image
	bundle    string
	cause     *regexp.Regexp // broken versions: what ferryctl's error must name
	causeKind string
}

// spec is what v's bundle holds: both templates (and v's extra one), the values naming v's images and
// readiness probes, and the images v carries.
func (v *shopVersion) spec() shopBundle {
	dbReady := v.dbReady
	if dbReady == nil {
		dbReady = []string{"true"}
	}
	values := fmt.Sprintf("web:\n  image: %s\n  readyCommand: %s\ndb:\n  image: %s:1.0.0\n  readyCommand: %s\nstorageClass: %s\n",
		v.webImage, yamlList(v.readyCmd), dbRef, yamlList(dbReady), pvName)
	tpl := []*chart.File{{Name: "templates/web.yaml", Data: []byte(shopWeb)}, {Name: "templates/db.yaml", Data: []byte(shopDB)}}
	if v.extra != "" {
		tpl = append(tpl, &chart.File{Name: "templates/extra.yaml", Data: []byte(v.extra)})
	}
	return shopBundle{version: v.version, images: v.carry, templates: tpl, values: values}
}

func yamlList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// rbSite reaches the lab's hosts over SSH as the engineer's own shell would (checks and faults only:
// every change of the app goes through ferryctl).
type rbSite struct {
	t   *testing.T
	ctx context.Context
	inv *lab.Inventory
}

func (s rbSite) sh(host int, cmd string) string {
	s.t.Helper()
	out, err := s.try(host, cmd)
	if err != nil {
		s.t.Fatalf("on %s: %s: %v\n%s", s.inv.Hosts[host].Name, cmd, err, out)
	}
	return out
}

func (s rbSite) try(host int, cmd string) (string, error) {
	out, errOut, err := onHost(s.ctx, s.inv.Hosts[host], "export PATH=$PATH:/usr/local/bin:/opt/bin; "+cmd)
	return out + errOut, err
}

func (s rbSite) client(host int) (*ssh.Client, error) {
	return s.inv.Hosts[host].KeyClient(s.ctx)
}

func (s rbSite) kubectl(args string) string { return strings.TrimSpace(s.sh(0, "k3s kubectl "+args)) }

// watchDeletes streams the API's watch events of kind (PVCs, HelmCharts) from the server until stop is
// called, which returns every DELETED event seen.
func (s rbSite) watchDeletes(kind string) (stop func() []string) {
	c, err := s.client(0)
	if err != nil {
		s.t.Fatal(err)
	}
	sess, err := c.NewSession()
	if err != nil {
		s.t.Fatal(err)
	}
	var buf syncBuffer
	sess.Stdout, sess.Stderr = &buf, &buf
	// kubectl ends a watch silently (exit 0, nothing printed) when the server closes it, as the API
	// server does for a custom resource's watches whenever its CRD is updated: watch again at once. A
	// deletion in the second between two watches would be missed here, which is why the test also
	// compares the objects' UIDs after every step.
	cmd := "export PATH=$PATH:/usr/local/bin:/opt/bin; while :; do k3s kubectl get " + kind +
		" -A --watch --output-watch-events --request-timeout=0; echo \"watch ended: $?\"; sleep 1; done"
	if err := sess.Start(cmd); err != nil {
		s.t.Fatal(err)
	}
	return func() []string {
		sess.Close()
		c.Close()
		out := buf.String()
		var del []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "DELETED") {
				del = append(del, l)
			}
		}
		if !strings.Contains(out, "ADDED") {
			s.t.Errorf("the %s watch saw nothing (not even the initial list):\n%s", kind, out)
		}
		if n := strings.Count(out, "watch ended"); n > 0 {
			s.t.Logf("the %s watch was closed by the server and re-opened %d time(s)", kind, n)
		}
		return del
	}
}

// syncBuffer is a bytes.Buffer the SSH session's copier writes into while the test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Deploy v1, upgrade v2, then three broken upgrades that must each roll back BY THEMSELVES to v2 (app
// Ready, PVC and its data intact, ferryctl failing with the cause), a manual rollback to v1, the history
// of all of it, and k3s restarted on both nodes with every kept version's images still pinned. Every step
// by the ferryctl binary over SSH on a 2-host lab (server + agent, k3s stand-in).
func TestBrokenUpgradesRollBack(t *testing.T) {
	s := bringUp(t, RollbackLabID, "test-e2e-rollback", EnvRollback, "broken-upgrade scenario")
	inv := s.inv
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	site := rbSite{t: t, ctx: ctx, inv: inv}

	// Bundles: v1; v2 with one web layer changed; v3a never Ready; v3b rejected in helm; v3c naming an
	// image it does not carry. The db image is the same in all.
	web1, db := testimage.Random(t, 1<<20, 3, "amd64"), testimage.Random(t, 1<<20, 2, "amd64")
	web2, fresh := testimage.NextVersion(t, web1, 1<<20)
	ok := []string{"true"}
	carry2 := map[string]v1.Image{webRef + ":2.0.0": web2, dbRef + ":1.0.0": db}
	v1s := &shopVersion{version: "1.0.0", webImage: webRef + ":1.0.0", readyCmd: ok, carry: map[string]v1.Image{webRef + ":1.0.0": web1, dbRef + ":1.0.0": db}}
	v2s := &shopVersion{version: "2.0.0", webImage: webRef + ":2.0.0", readyCmd: ok, carry: carry2}
	broken := []*shopVersion{
		{version: "3.0.0", causeKind: "pod never Ready", webImage: webRef + ":2.0.0", readyCmd: []string{"/bin/false"}, carry: carry2,
			cause: regexp.MustCompile(`timed out after ` + rbShort + ` waiting for Deployment shop/web`)},
		{version: "3.0.1", causeKind: "helm failure", webImage: webRef + ":2.0.0", readyCmd: ok, carry: carry2,
			extra: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop_settings\ndata: {mode: fast}\n",
			cause: regexp.MustCompile(`(?s)helm.*shop_settings.*is invalid`)},
		{version: "3.0.2", causeKind: "image missing", webImage: webRef + ":3.0.2", readyCmd: ok, carry: carry2,
			cause: regexp.MustCompile(`image "?` + regexp.QuoteMeta(webRef+":3.0.2") + `"? missing on node (` + regexp.QuoteMeta(inv.Hosts[0].Name) + `|` + regexp.QuoteMeta(inv.Hosts[1].Name) + `)`)},
		// The database's new version never Ready: a StatefulSet (OrderedReady) does not replace a pod that
		// is not Ready by itself when its template is reverted (kubernetes "forced rollback").
		{version: "3.0.3", causeKind: "database never Ready", webImage: webRef + ":2.0.0", readyCmd: ok, dbReady: []string{"false"}, carry: carry2,
			cause: regexp.MustCompile(`timed out after ` + rbShort + ` waiting for StatefulSet shop/db`)},
	}
	for _, v := range append([]*shopVersion{v1s, v2s}, broken...) {
		v.bundle = s.writeBundle(t, v.spec())
	}

	ferryctl, accept := s.cli(t, ctx, "e2e-rollback")
	pub := s.pub
	// ferry runs a step that may fail: its stdout and stderr (the error names the cause) and how it exited.
	ferry := func(step string, args ...string) (string, error) {
		t.Helper()
		out, errOut, err := ferryctl.try(step, args...)
		t.Logf("%s stdout:\n%s\nstderr:\n%s", step, out, errOut)
		return out + errOut, err
	}
	must := func(step string, args ...string) string {
		t.Helper()
		out, err := ferry(step, args...)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return out
	}
	ferryctl.install(v1s.bundle, pub, accept)

	// The static volume, created as an engineer would on a k3s without local-path: hostPath on the
	// server, pinned to it, kept when released.
	server := site.kubectl("get node -l node-role.kubernetes.io/control-plane -o jsonpath={.items[0].metadata.name}")
	if server == "" {
		t.Fatal("no server Node")
	}
	site.sh(0, fmt.Sprintf(`mkdir -p %[2]s && k3s kubectl apply -f - <<'EOF'
apiVersion: v1
kind: PersistentVolume
metadata:
  name: %[1]s
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: %[1]s
  hostPath: {path: %[2]s, type: Directory}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [%[3]s]}]
EOF`, pvName, pvDir, server))
	must("deploy v1", "deploy", "--bundle", v1s.bundle, "--key", pub)
	// Watched from the first deploy on, so the watches' initial lists hold the claim and the HelmChart.
	stopPVC, stopHC := site.watchDeletes("persistentvolumeclaims"), site.watchDeletes("helmcharts.helm.cattle.io")
	watching := true
	defer func() {
		if watching {
			stopPVC()
			stopHC()
		}
	}()
	// What must never change from here on: the claim (same object, bound to the same volume), the
	// data in the volume, the HelmChart (deleting it uninstalls the app).
	pvc := site.kubectl("-n shop get pvc " + pvcName + " -o jsonpath={.metadata.uid}/{.status.phase}/{.spec.volumeName}")
	if !strings.HasSuffix(pvc, "/Bound/"+pvName) {
		t.Fatalf("PVC %s after deploy: %q, want Bound to %s", pvcName, pvc, pvName)
	}
	hcUID := site.kubectl("-n ferry-system get helmchart shop -o jsonpath={.metadata.uid}")
	markers := map[string]string{}
	mark := func(name string) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		markers[name] = hex.EncodeToString(b)
		site.sh(0, fmt.Sprintf("printf %%s %s > %s/%s", markers[name], pvDir, name))
	}
	mark("marker-v1")
	intact := func(step string) {
		t.Helper()
		if got := site.kubectl("-n shop get pvc " + pvcName + " -o jsonpath={.metadata.uid}/{.status.phase}/{.spec.volumeName}"); got != pvc {
			t.Errorf("%s: PVC %s is %q, was %q", step, pvcName, got, pvc)
		}
		if got := site.kubectl("-n ferry-system get helmchart shop -o jsonpath={.metadata.uid}"); got != hcUID {
			t.Errorf("%s: HelmChart shop has UID %q, was %q (deleted and re-created)", step, got, hcUID)
		}
		for name, want := range markers {
			if got := site.sh(0, "cat "+pvDir+"/"+name); got != want {
				t.Errorf("%s: %s/%s holds %q, want %q", step, pvDir, name, got, want)
			}
		}
	}
	// The app as the cluster sees it: the web image live and both web pods plus the db pod Ready.
	appAt := func(step, webImage string) {
		t.Helper()
		var got string
		for end := time.Now().Add(2 * time.Minute); ; {
			got = site.kubectl("-n shop get deploy web -o jsonpath={.spec.template.spec.containers[0].image}/{.status.readyReplicas}/{.status.updatedReplicas}/{.status.replicas}") +
				" " + site.kubectl("-n shop get statefulset db -o jsonpath={.status.readyReplicas}")
			if got == webImage+"/2/2/2 1" || time.Now().After(end) {
				break
			}
			time.Sleep(2 * time.Second)
		}
		if got != webImage+"/2/2/2 1" {
			t.Errorf("%s: web image/ready/updated/replicas and db ready = %q, want %q", step, got, webImage+"/2/2/2 1")
		}
	}
	appAt("deploy v1", v1s.webImage)
	intact("deploy v1")

	out := must("upgrade v2", "upgrade", "--bundle", v2s.bundle, "--key", pub)
	if !strings.Contains(out, "shop is at 2.0.0: Healthy") {
		t.Fatalf("upgrade v2 output:\n%s", out)
	}
	// One layer of one image changed: each node is sent that layer, web v2's manifest and config.
	checkSent(t, "upgrade v2", sentPerNode(t, out), 3, newBlobBytes(t, web2, fresh))
	appAt("upgrade v2", v2s.webImage)
	mark("marker-v2")
	intact("upgrade v2")

	for _, b := range broken {
		step := fmt.Sprintf("upgrade %s (%s)", b.version, b.causeKind)
		out, err := ferry(step, "upgrade", "--bundle", b.bundle, "--key", pub, "--timeout", rbShort)
		if err == nil {
			t.Fatalf("%s: ferryctl exited 0:\n%s", step, out)
		}
		if !b.cause.MatchString(out) {
			t.Errorf("%s: output does not name the cause (%s):\n%s", step, b.cause, out)
		}
		if !strings.Contains(out, "the change failed and was rolled back to 2.0.0") || !strings.Contains(out, "shop is at 2.0.0: Healthy") {
			t.Errorf("%s: not rolled back to a healthy 2.0.0 by itself:\n%s", step, out)
		}
		if st := must("status after "+step, "status"); !strings.Contains(st, "version: 2.0.0") || !strings.Contains(st, "health:  Healthy") {
			t.Errorf("status after %s:\n%s", step, st)
		}
		appAt(step, v2s.webImage)
		intact(step)
	}

	out = must("rollback to v1", "rollback", "--to", "1.0.0")
	if !strings.Contains(out, "shop is at 1.0.0: Healthy") {
		t.Fatalf("rollback output:\n%s", out)
	}
	appAt("rollback to v1", v1s.webImage)
	intact("rollback to v1")

	out = must("history", "history")
	// deploy, upgrade, (failed upgrade rolled back, auto-rollback) per broken version, rollback.
	want := []string{`(?m)^1 .*deploy\s+1\.0\.0\s+succeeded`, `(?m)^2 .*upgrade\s+2\.0\.0\s+succeeded`}
	for i, b := range broken {
		want = append(want,
			fmt.Sprintf(`(?m)^%d .*upgrade\s+%s\s+rolled-back\s+.*(%s).*; rolled back to 2\.0\.0`, 3+2*i, regexp.QuoteMeta(b.version), b.cause),
			fmt.Sprintf(`(?m)^%d .*auto-rollback\s+2\.0\.0\s+succeeded`, 4+2*i))
	}
	records := 3 + 2*len(broken)
	want = append(want, fmt.Sprintf(`(?m)^%d .*rollback\s+1\.0\.0\s+succeeded`, records), `kept for rollback: \[1\.0\.0 2\.0\.0\]`)
	for _, re := range want {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("history lacks %s:\n%s", re, out)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^\d+ `).FindAllString(out, -1)); n != records {
		t.Errorf("history has %d records, want %d:\n%s", n, records, out)
	}
	watching = false
	for kind, stop := range map[string]func() []string{"PVC": stopPVC, "HelmChart": stopHC} {
		if del := stop(); len(del) > 0 {
			t.Errorf("a %s was deleted during the scenario:\n%s", kind, strings.Join(del, "\n"))
		}
	}

	// k3s restarted on both nodes: every kept version's images stay pinned (Ferry pins them the CRI way,
	// which k3s's start-up pass leaves alone), and the app comes back Ready.
	start := time.Now()
	site.sh(0, "systemctl restart k3s")
	site.sh(1, "systemctl restart k3s-agent")
	t.Logf("MEASURE restart k3s + k3s-agent: %s", time.Since(start).Round(100*time.Millisecond))
	for i, h := range inv.Hosts {
		var ls string
		for end := time.Now().Add(time.Minute); ; {
			var err error
			ls, err = site.try(i, "k3s ctr -n k8s.io images ls")
			if err == nil || time.Now().After(end) {
				break
			}
			time.Sleep(2 * time.Second)
		}
		for _, ref := range []string{webRef + ":1.0.0", webRef + ":2.0.0", dbRef + ":1.0.0"} {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ref) + `\s.*io\.cri-containerd\.pinned=pinned`)
			if !re.MatchString(ls) {
				t.Errorf("after restart, %s on %s is not pinned:\n%s", ref, h.Name, ls)
			}
		}
	}
	var st string
	for end := time.Now().Add(3 * time.Minute); ; {
		var err error
		st, err = ferry("status after restart", "status")
		if err == nil && strings.Contains(st, "version: 1.0.0") && strings.Contains(st, "health:  Healthy") || time.Now().After(end) {
			break
		}
		time.Sleep(3 * time.Second)
	}
	if !strings.Contains(st, "version: 1.0.0") || !strings.Contains(st, "health:  Healthy") {
		t.Errorf("status after restart:\n%s", st)
	}
	// Both kubelets are back: each Node's Ready condition was posted after the restart began.
	for _, n := range []string{inv.Hosts[0].Name, inv.Hosts[1].Name} {
		var got string
		for end := time.Now().Add(time.Minute); ; {
			got = site.kubectl("get node " + n + ` '-o=jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}'`)
			f := strings.Fields(got)
			if len(f) == 2 && f[0] == "True" {
				if hb, err := time.Parse(time.RFC3339, f[1]); err == nil && !hb.Before(start.Add(-time.Second)) {
					break
				}
			}
			if time.Now().After(end) {
				t.Errorf("node %s after restart: Ready %q, want True with a heartbeat after %s", n, got, start.UTC().Format(time.RFC3339))
				break
			}
			time.Sleep(2 * time.Second)
		}
	}
	t.Logf("MEASURE restart to app Healthy: %s", time.Since(start).Round(100*time.Millisecond))
	appAt("after restart", v1s.webImage)
	intact("after restart")
	t.Logf("MEASURE whole scenario: %s", time.Since(s.began).Round(time.Second))
}
