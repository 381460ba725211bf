package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/janitorhq/janitor/cmd/config"
	"github.com/janitorhq/janitor/internal/testprom"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
)

// rendered is one overlay's output, decoded strictly.
type rendered struct {
	cronJobs    []batchv1.CronJob
	jobs        []batchv1.Job
	deployments []appsv1.Deployment
	configMaps  []corev1.ConfigMap
	services    []corev1.Service
	accounts    []corev1.ServiceAccount
	monitors    []serviceMonitor
	rules       []prometheusRule
	// labels are every object's metadata.labels, by "Kind/name".
	labels map[string]map[string]string
}

// prometheusRule is the part of monitoring.coreos.com/v1 PrometheusRule the tests read.
type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec json.RawMessage `json:"spec"`
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor janitor uses;
// decoding is strict, so an unknown field is still an error.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	r := rendered{labels: map[string]map[string]string{}}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var meta struct {
			Kind     string
			Metadata struct {
				Name   string
				Labels map[string]string
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		r.labels[meta.Kind+"/"+meta.Metadata.Name] = meta.Metadata.Labels
		strict := func(v any) {
			t.Helper()
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Fatalf("%s: %s does not decode strictly: %v", dir, meta.Kind, err)
			}
		}
		switch meta.Kind {
		case "CronJob":
			var o batchv1.CronJob
			strict(&o)
			r.cronJobs = append(r.cronJobs, o)
		case "Job":
			var o batchv1.Job
			strict(&o)
			r.jobs = append(r.jobs, o)
		case "Deployment":
			var o appsv1.Deployment
			strict(&o)
			r.deployments = append(r.deployments, o)
		case "ConfigMap":
			var o corev1.ConfigMap
			strict(&o)
			r.configMaps = append(r.configMaps, o)
		case "Service":
			var o corev1.Service
			strict(&o)
			r.services = append(r.services, o)
		case "ServiceAccount":
			var o corev1.ServiceAccount
			strict(&o)
			r.accounts = append(r.accounts, o)
		case "ServiceMonitor":
			var o serviceMonitor
			strict(&o)
			r.monitors = append(r.monitors, o)
		case "PrometheusRule":
			var o prometheusRule
			strict(&o)
			r.rules = append(r.rules, o)
		default:
			t.Fatalf("%s: unexpected kind %q", dir, meta.Kind)
		}
	}
	return r
}

// checkPod checks the pod-level and container-level safety fields.
func checkPod(t *testing.T, where string, spec corev1.PodSpec) {
	t.Helper()
	fail := func(field string) { t.Errorf("%s: %s", where, field) }
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		fail("automountServiceAccountToken must be false")
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("pod securityContext: runAsNonRoot and seccomp RuntimeDefault")
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			fail(c.Name + ": no securityContext")
			continue
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			fail(c.Name + ": readOnlyRootFilesystem")
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			fail(c.Name + ": allowPrivilegeEscalation false")
		case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL":
			fail(c.Name + ": capabilities drop ALL")
		case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
			fail(c.Name + ": seccomp RuntimeDefault")
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				fail(c.Name + ": resources.requests." + string(r))
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				fail(c.Name + ": resources.limits." + string(r))
			}
		}
		for _, m := range c.VolumeMounts {
			if !m.ReadOnly {
				fail(c.Name + ": mount " + m.Name + " must be read-only")
			}
		}
	}
	secretMounted := false
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secretMounted = true
			// What kubelet lays down, read by the user the container runs as.
			f := kubeletSecretFile(spec.SecurityContext, v.Secret)
			uid, gid, groups := podProcess(spec.SecurityContext)
			if !f.readableBy(uid, gid, groups) {
				fail(fmt.Sprintf("secret volume %s: files %s owned %d:%d are not readable by uid %d gid %d groups %v (set fsGroup)",
					v.Name, f.mode, f.uid, f.gid, uid, gid, groups))
			}
			if f.mode&0o007 != 0 {
				fail(fmt.Sprintf("secret volume %s: files %s are readable by others", v.Name, f.mode))
			}
		}
		if v.ConfigMap != nil {
			for _, c := range spec.Containers {
				for _, m := range c.VolumeMounts {
					if m.Name == v.Name && m.SubPath != "" {
						fail("ConfigMap " + v.Name + " mounted with subPath: kubelet never updates a subPath mount")
					}
				}
			}
		}
	}
	if !secretMounted {
		fail("DSNs must come from a Secret mounted as files")
	}
	for _, c := range spec.Containers {
		for _, e := range c.Env {
			if strings.Contains(strings.ToUpper(e.Name), "DSN") && e.Value != "" {
				fail("a DSN in a plain env value")
			}
		}
	}
}

func checkCronJob(t *testing.T, cj batchv1.CronJob) {
	t.Helper()
	where := "CronJob " + cj.Name
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("%s: concurrencyPolicy Forbid", where)
	}
	if s.StartingDeadlineSeconds == nil || s.TimeZone == nil || *s.TimeZone == "" {
		t.Errorf("%s: startingDeadlineSeconds and an explicit timeZone", where)
	}
	if s.SuccessfulJobsHistoryLimit == nil || s.FailedJobsHistoryLimit == nil {
		t.Errorf("%s: history limits", where)
	}
	js := s.JobTemplate.Spec
	if js.ActiveDeadlineSeconds == nil || (js.BackoffLimit == nil && js.BackoffLimitPerIndex == nil) {
		t.Errorf("%s: activeDeadlineSeconds and backoffLimit", where)
	}
	if js.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy Never", where)
	}
	checkPod(t, where, js.Template.Spec)
	// Exit 2 (bad configuration) fails at once: a retry would fail the same way.
	exit2 := false
	if p := js.PodFailurePolicy; p != nil {
		for _, rule := range p.Rules {
			if rule.OnExitCodes != nil && rule.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn &&
				slices.Contains(rule.OnExitCodes.Values, 2) &&
				(rule.Action == batchv1.PodFailurePolicyActionFailJob || rule.Action == batchv1.PodFailurePolicyActionFailIndex) {
				exit2 = true
			}
		}
	}
	if !exit2 {
		t.Errorf("%s: podFailurePolicy must fail the Job (or index) on exit code 2", where)
	}
	// janitor learns how many attempts a Job run has from JANITOR_JOB_MAX_ATTEMPTS.
	limit := js.BackoffLimit
	if js.BackoffLimitPerIndex != nil {
		limit = js.BackoffLimitPerIndex
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range js.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	if limit == nil || env["JANITOR_JOB_MAX_ATTEMPTS"].Value != fmt.Sprint(*limit+1) {
		t.Errorf("%s: JANITOR_JOB_MAX_ATTEMPTS %q, want backoffLimit + 1", where, env["JANITOR_JOB_MAX_ATTEMPTS"].Value)
	}
	if e := env["JANITOR_JOB_UID"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/controller-uid']" {
		t.Errorf("%s: JANITOR_JOB_UID must come from the pod's controller-uid label", where)
	}
}

// checkGrace: on SIGTERM janitor lets the DROP in flight finish (lock_wait_timeout +
// drop_timeout), then posts to Slack (at most 2 × slack.timeout + 5s, postSlack) and
// pushes the metrics (at most 30s, push): the grace period must cover all of it, or
// kubelet kills janitor mid-DROP and the run's report and metrics are lost.
func checkGrace(t *testing.T, where string, spec corev1.PodSpec, cfgs map[string]janitor.Config) {
	t.Helper()
	if spec.TerminationGracePeriodSeconds == nil {
		t.Errorf("%s: no terminationGracePeriodSeconds", where)
		return
	}
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	for name, cfg := range cfgs {
		need := cfg.Execute.LockWaitTimeout + cfg.Execute.DropTimeout + 2*cfg.Slack.Timeout + 5*time.Second + 30*time.Second
		if grace < need {
			t.Errorf("%s: terminationGracePeriodSeconds %s < %s's lock_wait_timeout %s + drop_timeout %s + Slack and push %s",
				where, grace, name, cfg.Execute.LockWaitTimeout, cfg.Execute.DropTimeout, need-cfg.Execute.LockWaitTimeout-cfg.Execute.DropTimeout)
		}
	}
}

// checkLabels: every object carries the recommended labels.
func checkLabels(t *testing.T, where string, r rendered) {
	t.Helper()
	for obj, l := range r.labels {
		for _, k := range []string{"name", "instance", "version", "component", "managed-by"} {
			if l["app.kubernetes.io/"+k] == "" {
				t.Errorf("%s: %s has no app.kubernetes.io/%s label", where, obj, k)
			}
		}
		if l["app.kubernetes.io/version"] != "v0.1.0" {
			t.Errorf("%s: %s: app.kubernetes.io/version %q, the image's tag is v0.1.0", where, obj, l["app.kubernetes.io/version"])
		}
	}
	for _, cj := range r.cronJobs {
		if l := cj.Spec.JobTemplate.Spec.Template.Labels; l["app.kubernetes.io/component"] == "" || l["app.kubernetes.io/name"] == "" {
			t.Errorf("%s: CronJob %s's pods lack the labels: %v", where, cj.Name, l)
		}
	}
}

func args(cj batchv1.CronJob) string {
	return strings.Join(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, " ")
}

func TestBaseIsADryRunCronJob(t *testing.T) {
	r := render(t, "kustomize/base")
	if len(r.cronJobs) != 1 || len(r.accounts) != 1 || len(r.configMaps) != 1 {
		t.Fatalf("base renders %d CronJobs, %d ServiceAccounts, %d ConfigMaps", len(r.cronJobs), len(r.accounts), len(r.configMaps))
	}
	checkCronJob(t, r.cronJobs[0])
	if a := args(r.cronJobs[0]); !strings.HasPrefix(a, "report ") || strings.Contains(a, "--execute") {
		t.Errorf("base args %q: want report, never --execute", a)
	}
	if sa := r.accounts[0]; sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount must not automount a token")
	}
	_, cfgs := loadConfigs(t, r.configMaps[0], 1)
	checkGrace(t, "CronJob", r.cronJobs[0].Spec.JobTemplate.Spec.Template.Spec, cfgs)
	checkLabels(t, "base", r)
}

func TestExecuteOverlayDrops(t *testing.T) {
	r := render(t, "kustomize/overlays/execute")
	if len(r.cronJobs) != 2 {
		t.Fatalf("%d CronJobs, want the nightly run and the hold watch", len(r.cronJobs))
	}
	if r.cronJobs[0].Name != "janitor" {
		r.cronJobs[0], r.cronJobs[1] = r.cronJobs[1], r.cronJobs[0]
	}
	// The hold watch: a held table an application asks for is restored within 15
	// minutes (issue 18): every 5 minutes, restoring only.
	if w := r.cronJobs[1]; w.Name != "janitor-holds" || w.Spec.Schedule != "*/5 * * * *" || !strings.HasPrefix(args(w), "holds --execute ") {
		t.Errorf("hold watch CronJob %s: schedule %q, args %q", w.Name, w.Spec.Schedule, args(w))
	}
	checkCronJob(t, r.cronJobs[0])
	if a := args(r.cronJobs[0]); !strings.HasPrefix(a, "run --execute ") {
		t.Errorf("execute args %q", a)
	}
	// The Job's hard deadline must leave room for discovery, the drop window, the last
	// table's throttle wait and its DROP, and a margin for re-checks and a reconnect, or
	// Kubernetes kills janitor mid-DROP instead of it stopping cleanly.
	_, cfgs := loadConfigs(t, r.configMaps[0], 1)
	checkGrace(t, "CronJob", r.cronJobs[0].Spec.JobTemplate.Spec.Template.Spec, cfgs)
	cfg := cfgs["config.yaml"]
	need := cfg.Discovery.ShardTimeout + cfg.Execute.MaxDuration + cfg.Throttle.MaxWait + cfg.Execute.LockWaitTimeout +
		cfg.Execute.DropTimeout + 15*time.Minute
	deadline := time.Duration(*r.cronJobs[0].Spec.JobTemplate.Spec.ActiveDeadlineSeconds) * time.Second
	if cfg.Execute.MaxDuration == 0 || need > deadline {
		t.Errorf("activeDeadlineSeconds %s < shard_timeout + max_duration + max_wait + lock_wait_timeout + drop_timeout + 15m = %s (max_duration %s must be set)",
			deadline, need, cfg.Execute.MaxDuration)
	}
}

func TestServeOverlay(t *testing.T) {
	// Without the Prometheus Operator's CRDs the overlay must still apply: no
	// ServiceMonitor in it; serve-operator adds it (and the alerts and dashboard).
	if r := render(t, "kustomize/overlays/serve"); len(r.monitors) != 0 || len(r.rules) != 0 {
		t.Error("the serve overlay needs the Prometheus Operator's CRDs: the ServiceMonitor belongs in a component")
	}
	r := render(t, "kustomize/overlays/serve-operator")
	if len(r.cronJobs) != 0 || len(r.deployments) != 1 || len(r.services) != 1 || len(r.monitors) != 1 || len(r.rules) != 1 {
		t.Fatalf("serve renders %d CronJobs, %d Deployments, %d Services, %d ServiceMonitors",
			len(r.cronJobs), len(r.deployments), len(r.services), len(r.monitors))
	}
	d := r.deployments[0]
	checkPod(t, "Deployment", d.Spec.Template.Spec)
	_, cfgs := loadConfigs(t, r.configMaps[0], 1)
	checkGrace(t, "Deployment", d.Spec.Template.Spec, cfgs)
	checkLabels(t, "serve-operator", r)
	dashboards := 0
	for _, cm := range r.configMaps {
		if cm.Labels["grafana_dashboard"] == "1" {
			dashboards++
			if !json.Valid([]byte(cm.Data["janitor-dashboard.json"])) {
				t.Error("the dashboard ConfigMap does not hold the dashboard's JSON")
			}
		}
	}
	if dashboards != 1 {
		t.Errorf("%d dashboard ConfigMaps, want 1", dashboards)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Error("Deployment: one replica, Recreate, so two never run at once")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Args[0] != "serve" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("serve container: args %v, probes %+v %+v", c.Args, c.LivenessProbe, c.ReadinessProbe)
	}
	for k, v := range r.monitors[0].Spec.Selector.MatchLabels {
		if r.services[0].Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, the Service does not carry it", k, v)
		}
	}
	for k, v := range r.services[0].Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Service selects %s=%s, the pods do not carry it", k, v)
		}
	}
	if r.monitors[0].Spec.Endpoints[0].Port != c.Ports[0].Name {
		t.Error("ServiceMonitor scrapes a port the container does not name")
	}
}

// loadConfigs loads config.yaml (want ≥ 1) or every config-N.yaml of a rendered
// ConfigMap with the real loader, secrets replaced by dummy files. It returns how many
// config-N.yaml files there are, and every configuration by file name.
func loadConfigs(t *testing.T, cm corev1.ConfigMap, want int) (int, map[string]janitor.Config) {
	t.Helper()
	dir := t.TempDir()
	parts := 0
	cfgs := map[string]janitor.Config{}
	for name, body := range cm.Data {
		if regexp.MustCompile(`^config-\d+\.yaml$`).MatchString(name) {
			parts++
		}
		// Point every mounted secret path at a dummy file in dir.
		re := regexp.MustCompile(`/etc/janitor(-secrets|/secrets)/([A-Za-z0-9._-]+)`)
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			dummy := "u:p@tcp(127.0.0.1:3306)/"
			if strings.Contains(m[2], "slack") {
				dummy = "https://hooks.example.invalid/services/T/B/x"
			}
			if err := os.WriteFile(filepath.Join(dir, m[2]), []byte(dummy), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		body = re.ReplaceAllString(body, dir+"/$2")
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p)
		if err != nil {
			t.Errorf("%s in ConfigMap %s does not load: %v", name, cm.Name, err)
			continue
		}
		if len(cfg.Shards) == 0 {
			t.Errorf("%s: no shards", name)
		}
		cfgs[name] = cfg
	}
	if _, ok := cm.Data["config.yaml"]; want > 0 && !ok {
		t.Error("ConfigMap has no config.yaml")
	}
	return parts, cfgs
}

// knownMetrics are the names janitor's registry exports, read from the registry itself
// so that an alert or a panel on a renamed metric fails here.
var knownMetrics = func() map[string]bool {
	m := metrics.New()
	m.Init([]string{"s"})
	m.ThrottleWait("s", "threads_running", time.Second)
	m.Observe(&report.Report{Mode: report.ModeExecute, Shards: []report.Shard{{Name: "s", Tables: []report.Table{{Verdict: "skip", ReasonCode: "young"}},
		Blocked: "replica r: …", BlockedCode: report.BlockedReplicaGrants}}}, time.Second)
	mfs, err := m.Registry().Gather()
	if err != nil {
		panic(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}()

var metricRef = regexp.MustCompile(`janitor_[a-z_]+`)

func checkMetricRefs(t *testing.T, where, expr string) {
	t.Helper()
	refs := metricRef.FindAllString(expr, -1)
	// The Pushgateway's own per-group push time stands for "janitor pushed".
	if len(refs) == 0 && !strings.Contains(expr, `push_time_seconds{job="janitor"}`) {
		t.Errorf("%s: %q references no janitor metric", where, expr)
	}
	for _, m := range refs {
		if !knownMetrics[m] {
			t.Errorf("%s: unknown metric %s", where, m)
		}
	}
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		t.Errorf("%s: unbalanced expression %q", where, expr)
	}
}

func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name, Namespace string
			Labels          map[string]string
		} `json:"metadata"`
		Spec struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Alert       string            `json:"alert"`
					Expr        string            `json:"expr"`
					For         string            `json:"for"`
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(b, &rule); err != nil {
		t.Fatal(err)
	}
	// Every alert links to its own section of docs/runbook.md (GitHub's anchor: the
	// heading lowercased), and that section says how to confirm, act and restore.
	runbook, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	for _, sec := range strings.Split(string(runbook), "\n## ")[1:] {
		heading, body, _ := strings.Cut(sec, "\n")
		sections[strings.ToLower(strings.TrimSpace(heading))] = body
	}
	const runbookURL = "https://github.com/janitorhq/janitor/blob/main/docs/runbook.md#"
	alerts := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookURL)
			if !ok || anchor != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook_url %q, want %s%s", r.Alert, r.Annotations["runbook_url"], runbookURL, strings.ToLower(r.Alert))
			}
			body, ok := sections[anchor]
			if !ok {
				t.Errorf("%s: docs/runbook.md has no section %q", r.Alert, r.Alert)
			}
			for _, part := range []string{"**What it means.**", "**How to confirm.**", "**What to do.**", "**How to restore.**"} {
				if ok && !strings.Contains(body, part) {
					t.Errorf("docs/runbook.md, %s: no %s", r.Alert, part)
				}
			}
			checkMetricRefs(t, r.Alert, r.Expr)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: severity, summary and description", r.Alert)
			}
		}
	}
	for _, a := range []string{"JanitorNoSuccessfulRun", "JanitorMetricsAbsent", "JanitorShardErrors", "JanitorThrottleKeepsDeferring", "JanitorShardBlocked"} {
		if !alerts[a] {
			t.Errorf("alert %s missing", a)
		}
	}
	// Every alert has a promtool unit test.
	tests, err := os.ReadFile("prometheus/rules.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for a := range alerts {
		if !strings.Contains(string(tests), "alertname: "+a+"\n") {
			t.Errorf("alert %s has no case in prometheus/rules.test.yaml", a)
		}
	}
	if !strings.Contains(string(b), "26 * 3600") {
		t.Error("no-success alert is not 26 h")
	}
}

// TestAlertRulesWithPromtool parses the alerts with Prometheus' own promtool and runs
// their unit tests (prometheus/rules.test.yaml): each alert fires on the series janitor
// pushes when it should, and not otherwise.
func TestAlertRulesWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if testing.Short() {
			t.Skip("promtool not installed (-short)")
		}
		t.Fatal("promtool is not installed: apt-get install prometheus (scripts/test.sh does)")
	}
	b, err := os.ReadFile("prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// promtool reads plain rule files: the PrometheusRule's spec is one.
	var rule struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &rule); err != nil {
		t.Fatal(err)
	}
	plain, err := yaml.JSONToYAML(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), plain, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("prometheus/rules.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules.test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/janitor-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string
		Templating struct {
			List []struct{ Name string }
		}
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["job"] || !vars["cluster"] {
		t.Error("the dashboard needs $job and $cluster variables: one Prometheus sees many clusters")
	}
	// What Grafana sends for the variables: one job, every cluster, ten shards.
	expand := strings.NewReplacer(`"$job"`, `"janitor"`, `"$cluster"`, `".*"`, "$topk", "10")
	perShard := regexp.MustCompile(`by \([^)]*\bshard\b[^)]*\)`)
	var all []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			checkMetricRefs(t, p.Title, tg.Expr)
			if !strings.Contains(tg.Expr, `job="$job"`) || !strings.Contains(tg.Expr, `cluster=~"$cluster"`) {
				t.Errorf("%s: %q does not filter on $job and $cluster", p.Title, tg.Expr)
			}
			// A fleet has hundreds of shards: a per-shard panel shows the largest.
			if perShard.MatchString(tg.Expr) && !strings.HasPrefix(tg.Expr, "topk(") {
				t.Errorf("%s: %q is per shard without topk", p.Title, tg.Expr)
			}
			all = append(all, expand.Replace(tg.Expr))
		}
	}
	// Each panel's query must parse: ask a real Prometheus (Debian's, started here).
	prom := testprom.Start(t, "dashboard")
	client, err := api.NewClient(api.Config{Address: prom})
	if err != nil {
		t.Fatal(err)
	}
	q := promv1.NewAPI(client)
	for _, expr := range all {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, _, err := q.Query(ctx, expr, time.Now()); err != nil {
			t.Errorf("dashboard query %q: %v", expr, err)
		}
		cancel()
	}
	joined := strings.Join(all, " ")
	for _, m := range []string{"janitor_reclaimable_bytes", "janitor_reclaimed_bytes_total"} {
		if !strings.Contains(joined, m) {
			t.Errorf("dashboard does not show %s", m)
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"AS build", "CGO_ENABLED=0", "FROM scratch", "USER 65532:65532", "ENTRYPOINT [\"/janitor\"]"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(s, "\nFROM ") < 1 || !strings.HasPrefix(strings.TrimSpace(s[strings.Index(s, "FROM"):]), "FROM") {
		t.Error("not multi-stage")
	}
}
