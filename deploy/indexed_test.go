package deploy

import (
	"math"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/janitorhq/janitor/janitor"
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
	c.Args, bc.Args, c.Env, bc.Env = nil, nil, nil, nil
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

// Per-shard costs measured on the simulated fleet (docs/benchmarks.md, "A fleet"), the
// worst of the runs: wall time of one shard's discovery on a server of its own, janitor
// CPU per shard, resident memory (the child's VmHWM: 21 MiB at 10 shards, 77 MiB for a
// pod's 585 of 2,048), and one drop's or hold's re-check, statement and throttle checks
// (an upper bound: the overlay's own settings hold 20 leftovers in 195 s, 10 s pauses
// included).
const (
	discoverPerShard = 120 * time.Millisecond
	cpuPerShard      = 31 * time.Millisecond
	rssBase          = 21 << 20
	rssPerShard      = 100 << 10
	dropCost         = time.Second
	// imbalance: the fullest partition's share over the fair one. Measured 1.18 with 512
	// names over 4 pods and 1.14 with 2,048 (585 of 512; the benchmark).
	imbalance = 1.2
)

// TestIndexedOverlayFitsItsFleet: the shipped overlay's numbers — pods, discovery and
// drop concurrency, pause, deadlines, limits — report and drop the fleet it states
// within the Job's deadline and the pod's limits.
func TestIndexedOverlayFitsItsFleet(t *testing.T) {
	cj, pods := indexedPods(t, "kustomize/overlays/indexed-execute")
	shards, err1 := strconv.Atoi(cj.Annotations["janitor.io/fleet-shards"])
	leftovers, err2 := strconv.Atoi(cj.Annotations["janitor.io/leftovers-per-shard"])
	if err1 != nil || err2 != nil || shards < 1 || leftovers < 1 {
		t.Fatalf("the overlay must state its fleet: annotations %v", cj.Annotations)
	}
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	cfg := loadWithEnv(t, render(t, "kustomize/overlays/indexed-execute").configMaps[0], c.Env)
	perPod := int(math.Ceil(float64(shards) / float64(pods) * imbalance))
	ex := cfg.Execute

	// Report: discovery of a pod's share, bounded by wall time and by its CPU limit.
	cpuLimit := c.Resources.Limits.Cpu().AsApproximateFloat64()
	wall := time.Duration(perPod) * discoverPerShard / time.Duration(cfg.Discovery.Concurrency)
	cpu := time.Duration(float64(time.Duration(perPod)*cpuPerShard) / cpuLimit)
	report := max(wall, cpu)
	if report > 2*time.Minute {
		t.Errorf("report of %d shards per pod takes about %s (wall %s, CPU at %.2f cores %s): over 2 minutes", perPod, report, wall, cpuLimit, cpu)
	}
	// Memory.
	if rss, limit := int64(rssBase+perPod*rssPerShard), c.Resources.Limits.Memory().Value(); rss > limit*3/4 {
		t.Errorf("about %d MiB per pod for %d shards, limit %d MiB: keep a quarter free", rss>>20, perPod, limit>>20)
	}
	// Drops: each shard's leftovers one after the other, execute.concurrency shards at once.
	perShard := time.Duration(leftovers) * (ex.PauseBetweenDrops + dropCost)
	if ex.MaxTablesPerRun > 0 && ex.MaxTablesPerRun < leftovers {
		t.Errorf("execute.max_tables_per_run %d < %d leftovers per shard", ex.MaxTablesPerRun, leftovers)
	}
	if ex.MaxDuration > 0 && ex.MaxDuration < perShard {
		t.Errorf("execute.max_duration %s < %s for one shard's %d drops", ex.MaxDuration, perShard, leftovers)
	}
	rounds := (perPod + ex.Concurrency - 1) / ex.Concurrency
	drops := report + time.Duration(rounds)*perShard
	if ex.Deadline == 0 || drops > ex.Deadline {
		t.Errorf("dropping %d shards × %d leftovers per pod takes about %s at execute.concurrency %d and pause %s; execute.deadline is %s",
			perPod, leftovers, drops.Round(time.Minute), ex.Concurrency, ex.PauseBetweenDrops, ex.Deadline)
	}
	// After the deadline the DROP in flight finishes: the Job must not kill it.
	job := time.Duration(*cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds) * time.Second
	if need := ex.Deadline + ex.LockWaitTimeout + ex.DropTimeout + 10*time.Minute; need > job {
		t.Errorf("execute.deadline %s + lock_wait_timeout + drop_timeout %s + 10m margin = %s > activeDeadlineSeconds %s", ex.Deadline, ex.DropTimeout, need, job)
	}
	t.Logf("%d shards over %d pods (≤ %d each): report ≈ %s, drops ≈ %s of execute.deadline %s, job deadline %s",
		shards, pods, perPod, report.Round(time.Second), drops.Round(time.Minute), ex.Deadline, job)
}

// loadWithEnv loads the ConfigMap's config.yaml with the real loader and the container's
// JANITOR_* environment, secrets replaced by dummy files.
func loadWithEnv(t *testing.T, cm corev1.ConfigMap, env []corev1.EnvVar) janitor.Config {
	t.Helper()
	for _, e := range env {
		if e.ValueFrom == nil {
			t.Setenv(e.Name, e.Value)
		}
	}
	_, cfgs := loadConfigs(t, cm, 1) // config.Load reads the environment set above
	cfg, ok := cfgs["config.yaml"]
	if !ok {
		t.Fatal("config.yaml does not load")
	}
	return cfg
}
