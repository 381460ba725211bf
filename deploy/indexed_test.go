package deploy

import (
	"reflect"
	"regexp"
	"strconv"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

// indexedPods checks one of the indexed overlays against the base: an Indexed Job whose
// pods all read the base's config.yaml and secrets and pass --partition
// $(JOB_COMPLETION_INDEX)/COUNT, COUNT being completions; everything else inherited.
// It returns the rendered CronJob and the partition count.
func indexedPods(t *testing.T, dir string) (batchv1.CronJob, int) {
	t.Helper()
	r, base := render(t, dir), render(t, "kustomize/base")
	if len(r.cronJobs) != 1 || len(r.configMaps) != 1 {
		t.Fatalf("%s: %d CronJobs, %d ConfigMaps", dir, len(r.cronJobs), len(r.configMaps))
	}
	cj, bj := r.cronJobs[0], base.cronJobs[0]
	checkCronJob(t, cj)
	js := cj.Spec.JobTemplate.Spec
	if js.CompletionMode == nil || *js.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("%s: not an Indexed Job", dir)
	}
	m := regexp.MustCompile(`--partition \$\(JOB_COMPLETION_INDEX\)/(\d+) `).FindStringSubmatch(args(cj))
	if m == nil {
		t.Fatalf("%s: args %q do not pass --partition $(JOB_COMPLETION_INDEX)/COUNT", dir, args(cj))
	}
	count, _ := strconv.Atoi(m[1])
	if js.Completions == nil || int(*js.Completions) != count || js.Parallelism == nil || int(*js.Parallelism) != count {
		t.Errorf("%s: completions %v, parallelism %v, --partition …/%d: all three must agree", dir, js.Completions, js.Parallelism, count)
	}
	// One configuration for every pod: the base's, unchanged.
	if !reflect.DeepEqual(r.configMaps[0].Data, base.configMaps[0].Data) {
		t.Errorf("%s: the ConfigMap differs from the base's", dir)
	}
	_, _ = loadConfigs(t, r.configMaps[0], 1)
	// The pod is the base's but for args: same mounts (secret path), limits, security.
	pod, bpod := js.Template.Spec, bj.Spec.JobTemplate.Spec.Template.Spec
	c, bc := pod.Containers[0], bpod.Containers[0]
	c.Args, bc.Args = nil, nil
	if !reflect.DeepEqual(c, bc) || !reflect.DeepEqual(pod.Volumes, bpod.Volumes) ||
		!reflect.DeepEqual(pod.SecurityContext, bpod.SecurityContext) {
		t.Errorf("%s: the pod differs from the base's beyond its args", dir)
	}
	if !reflect.DeepEqual(js.ActiveDeadlineSeconds, bj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds) || cj.Spec.Schedule != bj.Spec.Schedule {
		t.Errorf("%s: deadline or schedule differ from the base's", dir)
	}
	return cj, count
}

func TestIndexedOverlayReports(t *testing.T) {
	cj, _ := indexedPods(t, "kustomize/overlays/indexed")
	if a := args(cj); !regexp.MustCompile(`^report `).MatchString(a) {
		t.Errorf("indexed args %q: want report", a)
	}
}

func TestIndexedExecuteOverlayDrops(t *testing.T) {
	cj, _ := indexedPods(t, "kustomize/overlays/indexed-execute")
	if a := args(cj); !regexp.MustCompile(`^run --execute `).MatchString(a) {
		t.Errorf("indexed-execute args %q: want run --execute", a)
	}
}
