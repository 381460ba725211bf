package deploy

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// podMeta is what the downward API can read of a pod: the template's labels and
// annotations plus what its controller adds, and the fields kubelet knows.
type podMeta struct {
	name, namespace, uid, serviceAccount string
	labels, annotations                  map[string]string
}

// jobPod is the metadata of a Job's pod as the Job controller makes it: the template's
// labels plus the controller's, and for an Indexed Job the completion index.
func jobPod(namespace, jobName, jobUID string, tmpl corev1.PodTemplateSpec, index int) podMeta {
	p := podMeta{name: fmt.Sprintf("%s-%d-x7k2p", jobName, max(index, 0)), namespace: namespace,
		uid: "pod-uid-" + jobName, serviceAccount: tmpl.Spec.ServiceAccountName,
		labels: map[string]string{}, annotations: map[string]string{}}
	for k, v := range tmpl.Labels {
		p.labels[k] = v
	}
	for k, v := range tmpl.Annotations {
		p.annotations[k] = v
	}
	for _, k := range []string{"batch.kubernetes.io/controller-uid", "controller-uid"} {
		p.labels[k] = jobUID
	}
	for _, k := range []string{"batch.kubernetes.io/job-name", "job-name"} {
		p.labels[k] = jobName
	}
	if index >= 0 {
		p.labels["batch.kubernetes.io/job-completion-index"] = fmt.Sprint(index)
		p.annotations["batch.kubernetes.io/job-completion-index"] = fmt.Sprint(index)
	}
	return p
}

// fieldPathRE is a downward-API fieldPath reading one label or annotation.
var fieldPathRE = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

// field resolves a fieldRef as kubelet does, failing where kubelet would give the
// container nothing useful: an unsupported path, or a label or annotation the pod will
// not carry (kubelet then sets an empty string, which janitor would read as unset).
func (p podMeta) field(t *testing.T, where, path string) string {
	t.Helper()
	switch path {
	case "metadata.name":
		return p.name
	case "metadata.namespace":
		return p.namespace
	case "metadata.uid":
		return p.uid
	case "spec.serviceAccountName":
		return p.serviceAccount
	case "spec.nodeName":
		return "node-1"
	case "status.podIP", "status.hostIP":
		return "10.0.0.5"
	}
	m := fieldPathRE.FindStringSubmatch(path)
	if m == nil {
		t.Errorf("%s: fieldRef %q is not a field the downward API gives a container", where, path)
		return ""
	}
	from := p.labels
	if m[1] == "annotations" {
		from = p.annotations
	}
	v, ok := from[m[2]]
	if !ok {
		t.Errorf("%s: fieldRef %q: the pod has no such %s (kubelet would set an empty string)", where, path, strings.TrimSuffix(m[1], "s"))
	}
	return v
}

// resourceField resolves a resourceFieldRef as kubelet does: the container's limit (or
// request) divided by the divisor (default 1), rounded up, as a whole number. A missing
// limit would be the node's allocatable: the manifests must set it.
func resourceField(t *testing.T, where string, c corev1.Container, r *corev1.ResourceFieldSelector) string {
	t.Helper()
	var q resource.Quantity
	var ok bool
	switch {
	case strings.HasPrefix(r.Resource, "limits."):
		q, ok = c.Resources.Limits[corev1.ResourceName(strings.TrimPrefix(r.Resource, "limits."))]
	case strings.HasPrefix(r.Resource, "requests."):
		q, ok = c.Resources.Requests[corev1.ResourceName(strings.TrimPrefix(r.Resource, "requests."))]
	}
	if !ok {
		t.Errorf("%s: resourceFieldRef %s: the container sets no such resource (kubelet would give the node's allocatable)", where, r.Resource)
		return ""
	}
	divisor := resource.MustParse("1")
	if !r.Divisor.IsZero() {
		divisor = r.Divisor
	}
	return fmt.Sprint(int64(math.Ceil(q.AsApproximateFloat64() / divisor.AsApproximateFloat64())))
}

// varRefRE is kubelet's $(VAR) reference; $$ escapes a dollar.
var varRefRE = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expand replaces $(VAR) with the value of VAR in env, as kubelet expands a container's
// env values, command and args; a reference to an unset variable is left as written.
func expand(s string, env map[string]string) string {
	return varRefRE.ReplaceAllStringFunc(s, func(ref string) string {
		if ref == "$$" {
			return "$"
		}
		name := ref[2 : len(ref)-1]
		if v, ok := env[name]; ok {
			return v
		}
		return ref
	})
}

// containerEnv is the environment kubelet gives container c of a pod with metadata p:
// literal values (with $(VAR) expanded from the variables before them), fieldRef and
// resourceFieldRef resolved, ConfigMap keys read from configMaps. indexed adds the
// JOB_COMPLETION_INDEX the Job controller appends for an Indexed Job.
func containerEnv(t *testing.T, where string, p podMeta, c corev1.Container, configMaps map[string]map[string]string, indexed bool) (map[string]string, []string) {
	t.Helper()
	vars := append([]corev1.EnvVar{}, c.Env...)
	if indexed {
		vars = append(vars, corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}})
	}
	env := map[string]string{}
	var order []string
	for _, e := range vars {
		v := expand(e.Value, env)
		if s := e.ValueFrom; s != nil {
			switch {
			case s.FieldRef != nil:
				v = p.field(t, where, s.FieldRef.FieldPath)
			case s.ResourceFieldRef != nil:
				v = resourceField(t, where, c, s.ResourceFieldRef)
			case s.ConfigMapKeyRef != nil:
				data, ok := configMaps[s.ConfigMapKeyRef.Name]
				if !ok {
					t.Errorf("%s: env %s reads ConfigMap %s, which the overlay does not have", where, e.Name, s.ConfigMapKeyRef.Name)
				}
				v = data[s.ConfigMapKeyRef.Key]
			default:
				t.Errorf("%s: env %s: a source this test does not model (%+v): add it here", where, e.Name, s)
			}
		}
		if _, seen := env[e.Name]; !seen {
			order = append(order, e.Name)
		}
		env[e.Name] = v
	}
	return env, order
}

// checkMemoryLimit: every container tells the Go runtime its memory limit (GOMEMLIMIT
// from limits.memory, in bytes), so that a fleet larger than the pod was sized for makes
// the garbage collector work harder instead of getting the container OOM-killed.
func checkMemoryLimit(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		r := (*corev1.ResourceFieldSelector)(nil)
		if e.ValueFrom != nil {
			r = e.ValueFrom.ResourceFieldRef
		}
		switch {
		case r == nil || r.Resource != "limits.memory":
			t.Errorf("%s: GOMEMLIMIT must come from resourceFieldRef limits.memory", where)
		case !r.Divisor.IsZero() && r.Divisor.Value() != 1:
			// Go reads a plain number as bytes: with divisor 1Mi, "256" is 256 bytes.
			t.Errorf("%s: GOMEMLIMIT's divisor %s: Go reads the number as bytes; leave the divisor out", where, r.Divisor.String())
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s: GOMEMLIMIT from limits.memory, but the container has no memory limit", where)
		}
		return
	}
	t.Errorf("%s: container %s does not set GOMEMLIMIT (from resourceFieldRef limits.memory)", where, c.Name)
}
