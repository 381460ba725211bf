package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/internal/testprom"
	"github.com/janitorhq/janitor/report"
)

// overlayDirs is the base and every directory under kustomize/overlays: a new overlay is
// covered by the tests below without editing them.
func overlayDirs(t *testing.T) []string {
	t.Helper()
	dirs := []string{"kustomize/base"}
	entries, err := os.ReadDir("kustomize/overlays")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("kustomize/overlays", e.Name()))
		}
	}
	return dirs
}

// object is any rendered object's identity.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
}

func renderObjects(t *testing.T, dir string) []object {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	var objs []object
	for _, r := range res.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var o object
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	return objs
}

// clusterScoped are the kinds that have no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"CustomResourceDefinition": true, "PriorityClass": true, "StorageClass": true, "PersistentVolume": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true}

// docsSecret is the Secret docs/kubernetes.md tells the reader to create: its
// namespace, name and keys (the --from-file names).
type docsSecret struct {
	namespace, name string
	keys            []string
}

func readDocsSecret(t *testing.T) docsSecret {
	t.Helper()
	b, err := os.ReadFile("../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	// The command, its continuation lines joined.
	cmd := regexp.MustCompile(`kubectl -n \S+ create secret generic (?:[^\n]*\\\n)*[^\n]*`).FindString(string(b))
	m := regexp.MustCompile(`^kubectl -n (\S+) create secret generic (\S+)`).FindStringSubmatch(cmd)
	if m == nil {
		t.Fatal("docs/kubernetes.md: no `kubectl -n NAMESPACE create secret generic NAME --from-file=…` command")
	}
	s := docsSecret{namespace: m[1], name: m[2]}
	for _, f := range regexp.MustCompile(`--from-file=(\S+)`).FindAllStringSubmatch(cmd, -1) {
		s.keys = append(s.keys, filepath.Base(f[1]))
	}
	return s
}

// podTemplate is one pod a rendered overlay makes: a CronJob's Job's pod, a Job's, or a
// Deployment's.
type podTemplate struct {
	where     string
	namespace string
	tmpl      corev1.PodTemplateSpec
	// completions is the number of indexes of an Indexed Job, 0 for any other pod.
	completions int
	job         bool
}

func podTemplates(r rendered) []podTemplate {
	var pods []podTemplate
	jobPods := func(where, ns string, js batchv1.JobSpec) podTemplate {
		p := podTemplate{where: where, namespace: ns, tmpl: js.Template, job: true}
		if js.CompletionMode != nil && *js.CompletionMode == batchv1.IndexedCompletion && js.Completions != nil {
			p.completions = int(*js.Completions)
		}
		return p
	}
	for _, cj := range r.cronJobs {
		pods = append(pods, jobPods("CronJob "+cj.Name, cj.Namespace, cj.Spec.JobTemplate.Spec))
	}
	for _, j := range r.jobs {
		pods = append(pods, jobPods("Job "+j.Name, j.Namespace, j.Spec))
	}
	for _, d := range r.deployments {
		pods = append(pods, podTemplate{where: "Deployment " + d.Name, namespace: d.Namespace, tmpl: d.Spec.Template})
	}
	return pods
}

// TestOverlaysResolveInOneNamespace: in every overlay every namespaced object is in one
// namespace (the one the docs create the Secret in), and every reference resolves inside
// it: a pod's ServiceAccount and ConfigMaps, its Secret (the docs' one), a Service's
// selector and target port, a ServiceMonitor's selector and port. Applied from any
// namespace, an object outside it could use none of these.
func TestOverlaysResolveInOneNamespace(t *testing.T) {
	secret := readDocsSecret(t)
	release := releaseLabel(t)
	for _, dir := range overlayDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			namespaces := map[string][]string{}
			for _, o := range renderObjects(t, dir) {
				if !clusterScoped[o.Kind] {
					namespaces[o.Metadata.Namespace] = append(namespaces[o.Metadata.Namespace], o.Kind+"/"+o.Metadata.Name)
				}
			}
			if len(namespaces) != 1 || namespaces[secret.namespace] == nil {
				t.Errorf("%s: objects by namespace %v; want all in %q, where docs/kubernetes.md creates the Secret", dir, namespaces, secret.namespace)
			}
			r := render(t, dir)
			accounts, configMaps, services := map[string]bool{}, map[string]bool{}, map[string]corev1.Service{}
			for _, a := range r.accounts {
				accounts[a.Namespace+"/"+a.Name] = true
			}
			for _, c := range r.configMaps {
				configMaps[c.Namespace+"/"+c.Name] = true
			}
			for _, s := range r.services {
				services[s.Namespace+"/"+s.Name] = s
			}
			pods := podTemplates(r)
			for _, p := range pods {
				where := dir + ": " + p.where
				spec := p.tmpl.Spec
				checkPod(t, where, spec)
				for _, c := range spec.Containers {
					checkMemoryLimit(t, where, c)
				}
				if sa := spec.ServiceAccountName; sa == "" || !accounts[p.namespace+"/"+sa] {
					t.Errorf("%s: serviceAccountName %q is no ServiceAccount of the overlay in %s", where, sa, p.namespace)
				}
				for _, v := range spec.Volumes {
					switch {
					case v.ConfigMap != nil && !configMaps[p.namespace+"/"+v.ConfigMap.Name]:
						t.Errorf("%s: volume %s: ConfigMap %s is not in the overlay's namespace %s", where, v.Name, v.ConfigMap.Name, p.namespace)
					case v.Secret != nil && (v.Secret.SecretName != secret.name || p.namespace != secret.namespace):
						t.Errorf("%s: volume %s: Secret %s/%s, but docs/kubernetes.md creates %s/%s", where, v.Name, p.namespace, v.Secret.SecretName, secret.namespace, secret.name)
					}
				}
			}
			for _, d := range r.deployments {
				if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
					t.Errorf("%s: Deployment %s's selector %v does not select its own pods %v", dir, d.Name, d.Spec.Selector, d.Spec.Template.Labels)
				}
			}
			for _, s := range r.services {
				var target *podTemplate
				for i, p := range pods {
					if p.namespace == s.Namespace && len(s.Spec.Selector) > 0 && selects(s.Spec.Selector, p.tmpl.Labels) {
						target = &pods[i]
					}
				}
				if target == nil {
					t.Errorf("%s: Service %s/%s selects %v: no pod of the overlay in its namespace carries it", dir, s.Namespace, s.Name, s.Spec.Selector)
					continue
				}
				for _, port := range s.Spec.Ports {
					if !containerPort(target.tmpl.Spec, port.TargetPort.String()) {
						t.Errorf("%s: Service %s port %s: targetPort %s is no port of %s", dir, s.Name, port.Name, port.TargetPort.String(), target.where)
					}
				}
			}
			// kube-prometheus-stack's Prometheus loads only what carries its release label.
			selected := map[string]map[string]string{}
			for _, m := range r.monitors {
				selected["ServiceMonitor/"+m.Metadata.Name] = m.Metadata.Labels
			}
			for _, pr := range r.rules {
				selected["PrometheusRule/"+pr.Metadata.Name] = pr.Metadata.Labels
			}
			for obj, l := range selected {
				if l["release"] != release {
					t.Errorf("%s: %s has release=%q; kube-prometheus-stack selects release=%q (components/prometheus-release)", dir, obj, l["release"], release)
				}
			}
			for _, m := range r.monitors {
				found := false
				for _, s := range r.services {
					if s.Namespace != m.Metadata.Namespace || !selects(m.Spec.Selector.MatchLabels, s.Labels) {
						continue
					}
					found = true
					for _, e := range m.Spec.Endpoints {
						if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
							t.Errorf("%s: ServiceMonitor %s scrapes port %q, which Service %s does not name", dir, m.Metadata.Name, e.Port, s.Name)
						}
					}
				}
				if !found {
					t.Errorf("%s: ServiceMonitor %s/%s selects %v: no Service in its namespace carries it", dir, m.Metadata.Namespace, m.Metadata.Name, m.Spec.Selector.MatchLabels)
				}
			}
		})
	}
}

// releaseLabel is the release label components/prometheus-release gives the objects
// the Prometheus Operator selects.
func releaseLabel(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("kustomize/components/prometheus-release/release-label.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Labels     map[string]string `json:"labels"`
		FieldSpecs []struct {
			Kind string `json:"kind"`
		} `json:"fieldSpecs"`
	}
	if err := yaml.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Labels["release"] == "" {
		t.Fatal("components/prometheus-release sets no release label")
	}
	return tr.Labels["release"]
}

// selects says whether every pair of selector is in labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerPort says whether a pod's container has the port target (a name or a number).
func containerPort(spec corev1.PodSpec, target string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == target || strconv.Itoa(int(p.ContainerPort)) == target {
				return true
			}
		}
	}
	return false
}

// shippedConfig is what the pod test reads of the rendered config.yaml: the files it
// names in the Secret, and serve's listen address.
type shippedConfig struct {
	Shards []struct {
		Name     string `json:"name"`
		DSNFile  string `json:"dsn_file"`
		Replicas []struct {
			DSNFile string `json:"dsn_file"`
		} `json:"replicas"`
	} `json:"shards"`
	ShardDefaults struct {
		PasswordFile string `json:"password_file"`
	} `json:"shard_defaults"`
	Metrics struct {
		PushgatewayURL string `json:"pushgateway_url"`
	} `json:"metrics"`
	Slack struct {
		WebhookURLFile string `json:"webhook_url_file"`
	} `json:"slack"`
	Serve struct {
		Listen string `json:"listen"`
	} `json:"serve"`
}

// TestEveryOverlayStarts runs every pod of every overlay as kubelet would start it: the
// image's root (the Dockerfile's build, nothing else), the pod's ConfigMaps and the
// Secret docs/kubernetes.md creates laid out as kubelet lays them (owner, group fsGroup,
// mode), the container's command and args with $(VAR) expanded, its environment with the
// downward API resolved (GOMEMLIMIT, JANITOR_JOB_UID, an Indexed Job's
// JOB_COMPLETION_INDEX), run as the pod's user. The shards' DSN files point at the
// sandbox. A one-shot pod must exit 0 with a JSON report in which every configured shard
// answered once over all of its indexes; a serve pod must serve /metrics with the first
// run's figures and /healthz, then exit 0 on SIGTERM.
//
// Two settings are the cluster's and are replaced here: the Pushgateway's address (a
// real Pushgateway on loopback) and, for serve, the listen port (a free one: the test
// checks the manifest's containerPort against the configured port instead).
func TestEveryOverlayStarts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot into the image's file tree and run as the pod's user (CI runs as root)")
	}
	d := parseDockerfile(t)
	out := buildImage(t, d)
	secret := readDocsSecret(t)
	primary, replica := testdb.PrimaryDSN(t), testdb.ReplicaDSN(t)
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, "orders")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+dbconn.QualifiedName(s, "__orders_old")+" (id INT PRIMARY KEY)")
	gateway := testprom.StartPushgateway(t)
	var posts atomic.Int64
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	t.Cleanup(slack.Close)

	for _, dir := range overlayDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := render(t, dir)
			configMaps := map[string]map[string]string{}
			for _, c := range r.configMaps {
				configMaps[c.Name] = c.Data
			}
			for _, p := range podTemplates(r) {
				pod := startablePod{t: t, where: dir + ": " + p.where, p: p, d: d, out: out, configMaps: configMaps,
					secret: secret, primary: primary, replica: replica, gateway: gateway, slack: slack.URL, schema: s}
				before := posts.Load()
				if p.job {
					// report and run post their summary to Slack at the end of a Job run.
					if cmd := pod.runJob(); (cmd == "report" || cmd == "run") && posts.Load() == before {
						t.Errorf("%s: %s posted nothing to Slack", pod.where, cmd)
					}
				} else {
					pod.runServe()
				}
			}
		})
	}
}

type startablePod struct {
	t                        *testing.T
	where                    string
	p                        podTemplate
	d                        dockerfile
	out                      string
	configMaps               map[string]map[string]string
	secret                   docsSecret
	primary, replica         string
	gateway, slack, schema   string
	cfg                      shippedConfig
	configPath, secretsMount string
}

// lay makes the pod's root: the image, then its volumes as kubelet mounts them. It
// returns the root, the container, and the command line.
func (sp *startablePod) lay(index int) (string, corev1.Container, []string, []string) {
	t := sp.t
	t.Helper()
	spec := sp.p.tmpl.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers; this test runs one", sp.where, len(spec.Containers))
	}
	c := spec.Containers[0]
	root := imageRoot(t, sp.d, sp.out)
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	fsGroup := spec.SecurityContext != nil && spec.SecurityContext.FSGroup != nil
	// The container's environment, then its command line with $(VAR) expanded.
	meta := podMeta{name: "janitor-5d9f7c6b8-x7k2p", namespace: sp.p.namespace, uid: "pod-uid", serviceAccount: spec.ServiceAccountName,
		labels: map[string]string{"pod-template-hash": "5d9f7c6b8"}, annotations: map[string]string{}}
	for k, v := range sp.p.tmpl.Labels {
		meta.labels[k] = v
	}
	if sp.p.job {
		meta = jobPod(sp.p.namespace, "janitor-29000000", "job-uid-"+filepath.Base(sp.where), sp.p.tmpl, index)
	}
	env, order := containerEnv(t, sp.where, meta, c, sp.configMaps, sp.p.completions > 0)
	command := c.Command
	if len(command) == 0 {
		command = sp.d.entrypoint
	}
	args := c.Args
	if len(c.Command) == 0 && len(args) == 0 {
		args = sp.d.cmd
	}
	line := []string{}
	for _, a := range append(slices.Clone(command), args...) {
		line = append(line, expand(a, env))
	}
	for _, a := range line {
		if strings.Contains(a, "$(") {
			t.Errorf("%s: argument %q refers to a variable the container does not have", sp.where, a)
		}
	}
	sp.configPath = flagValue(t, line, "--config")
	// The ConfigMap holding --config, read first: it names the Secret's files.
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Fatalf("%s: mount %s has no volume", sp.where, m.Name)
		}
		if m.SubPath != "" {
			t.Fatalf("%s: mount %s uses subPath: not modelled (and never updated by kubelet)", sp.where, m.Name)
		}
		switch {
		case v.ConfigMap != nil:
			data, ok := sp.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Fatalf("%s: ConfigMap %s is not in the overlay", sp.where, v.ConfigMap.Name)
			}
			if body, ok := data[strings.TrimPrefix(sp.configPath, m.MountPath+"/")]; ok && strings.HasPrefix(sp.configPath, m.MountPath+"/") {
				if err := yaml.Unmarshal([]byte(body), &sp.cfg); err != nil {
					t.Fatalf("%s: %s: %v", sp.where, sp.configPath, err)
				}
			}
			f := kubeletFile(spec.SecurityContext, v.ConfigMap.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode)
			layVolume(t, filepath.Join(root, m.MountPath), data, f.gid, f.mode, fsGroup)
		case v.Secret != nil:
			sp.secretsMount = m.MountPath
		default:
			t.Fatalf("%s: volume %s: only ConfigMap and Secret volumes are modelled here", sp.where, v.Name)
		}
	}
	if sp.cfg.Shards == nil {
		t.Fatalf("%s: --config %s is in no mounted ConfigMap: the pod would exit 2", sp.where, sp.configPath)
	}
	// The Secret as the docs create it: each key's content is what the config reads it as.
	content := map[string]string{}
	for _, sh := range sp.cfg.Shards {
		content[sh.DSNFile] = sp.primary + "\n"
		for _, r := range sh.Replicas {
			content[r.DSNFile] = sp.replica + "\n"
		}
	}
	content[sp.cfg.Slack.WebhookURLFile] = sp.slack + "\n"
	for p := range content {
		if p != "" && !slices.Contains(sp.secret.keys, strings.TrimPrefix(p, sp.secretsMount+"/")) {
			t.Errorf("%s: the configuration reads %s, but docs/kubernetes.md's `kubectl create secret` makes no key %s in %s",
				sp.where, p, filepath.Base(p), sp.secretsMount)
		}
	}
	if sp.cfg.ShardDefaults.PasswordFile != "" {
		t.Errorf("%s: shard_defaults.password_file is not modelled here", sp.where)
	}
	files := map[string]string{}
	for _, k := range sp.secret.keys {
		files[k] = content[sp.secretsMount+"/"+k]
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			f := kubeletSecretFile(spec.SecurityContext, v.Secret)
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					layVolume(t, filepath.Join(root, m.MountPath), files, f.gid, f.mode, fsGroup)
				}
			}
		}
	}
	for _, m := range c.VolumeMounts {
		for p := filepath.Dir(filepath.Join(root, m.MountPath)); p != root; p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Chmod(root, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(root, 0o755) })

	// The cluster's own addresses, replaced (see TestEveryOverlayStarts).
	vars := []string{}
	for _, k := range order {
		if k != "JANITOR_METRICS_PUSHGATEWAY_URL" && k != "JANITOR_SERVE_LISTEN" {
			vars = append(vars, k+"="+env[k])
		}
	}
	if sp.cfg.Metrics.PushgatewayURL != "" {
		vars = append(vars, "JANITOR_METRICS_PUSHGATEWAY_URL="+sp.gateway)
	}
	return root, c, line, vars
}

// start runs the pod's command in root as the pod's (or the container's) user.
func (sp *startablePod) start(ctx context.Context, root string, c corev1.Container, line, env []string, stdout, stderr io.Writer) *exec.Cmd {
	sp.t.Helper()
	psc := sp.p.tmpl.Spec.SecurityContext
	uid, gid, groups := podProcess(psc)
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = int(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = int(*sc.RunAsGroup)
		}
	}
	if uid == 0 {
		sp.t.Fatalf("%s: runs as root", sp.where)
	}
	cmd := exec.CommandContext(ctx, line[0], line[1:]...)
	cmd.Dir = "/"
	if c.WorkingDir != "" {
		cmd.Dir = c.WorkingDir
	}
	cmd.Env = env
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	for _, g := range groups {
		cred.Groups = append(cred.Groups, uint32(g))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: cred}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		sp.t.Fatalf("%s: start %v: %v", sp.where, line, err)
	}
	return cmd
}

// runJob runs each pod of the Job (each index of an Indexed Job) to its end, and returns
// the janitor command it runs.
func (sp *startablePod) runJob() (command string) {
	t := sp.t
	t.Helper()
	indexes := []int{-1}
	if sp.p.completions > 0 {
		indexes = nil
		for i := range sp.p.completions {
			indexes = append(indexes, i)
		}
	}
	seen := map[string]int{}
	for _, i := range indexes {
		root, c, line, env := sp.lay(i)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var so, se strings.Builder
		err := sp.start(ctx, root, c, line, env, &so, &se).Wait()
		cancel()
		if len(line) > 1 {
			command = line[1]
		}
		where := fmt.Sprintf("%s (index %d): %v", sp.where, i, line[1:])
		if err != nil {
			t.Errorf("%s: %v\nstderr: %s", where, err, se.String())
			continue
		}
		// Another command (a new overlay's) must exit 0 with output; report and run with
		// the JSON report of the shards, below.
		if command != "report" && command != "run" {
			if strings.TrimSpace(so.String()) == "" {
				t.Errorf("%s: exit 0 but no report on stdout\nstderr: %s", where, se.String())
			}
			continue
		}
		var rep report.Report
		if err := json.Unmarshal([]byte(so.String()), &rep); err != nil {
			t.Errorf("%s: no JSON report: %v\n%s", where, err, so.String())
			continue
		}
		for _, sh := range rep.Shards {
			seen[sh.Name]++
			if sh.Status != report.StatusOK || sh.Error != "" {
				t.Errorf("%s: shard %s: %s %s", where, sh.Name, sh.Status, sh.Error)
			}
			if !slices.ContainsFunc(sh.Tables, func(tb report.Table) bool { return tb.Schema == sp.schema && tb.Table == "__orders_old" }) {
				t.Errorf("%s: shard %s's report does not list the leftover %s.__orders_old", where, sh.Name, sp.schema)
			}
		}
	}
	for _, sh := range sp.cfg.Shards {
		if (command == "report" || command == "run") && seen[sh.Name] != 1 {
			t.Errorf("%s: shard %s reported %d times over the Job's pods, want once", sp.where, sh.Name, seen[sh.Name])
		}
	}
	return command
}

// runServe starts a serve pod, reads /metrics once its first run is done and /healthz,
// then stops it with SIGTERM, as kubelet does.
func (sp *startablePod) runServe() {
	t := sp.t
	t.Helper()
	root, c, line, env := sp.lay(-1)
	// The manifest's port is the one janitor listens on.
	_, port, _ := strings.Cut(sp.cfg.Serve.Listen, ":")
	for _, e := range c.Env {
		if e.Name == "JANITOR_SERVE_LISTEN" {
			_, port, _ = strings.Cut(e.Value, ":")
		}
	}
	if !containerPort(sp.p.tmpl.Spec, port) {
		t.Errorf("%s: janitor listens on port %q (serve.listen), which the container does not declare", sp.where, port)
	}
	env = append(env, "JANITOR_SERVE_LISTEN=127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	var so strings.Builder
	cmd := sp.start(ctx, root, c, line, env, &so, pw)
	var mu sync.Mutex
	var stderr strings.Builder
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			stderr.WriteString(sc.Text() + "\n")
			mu.Unlock()
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "serving" {
				addr <- l.Addr
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); _ = pw.Close() }()
	logs := func() string { mu.Lock(); defer mu.Unlock(); return stderr.String() }
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-exited:
		t.Fatalf("%s: exited before serving: %v\n%s", sp.where, err, logs())
	case <-ctx.Done():
		t.Fatalf("%s: never served\n%s", sp.where, logs())
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The first run's figures: the run starts at once; poll until it is done.
	var metrics string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) { // polling a condition, with a deadline
		_, metrics = get("/metrics")
		if strings.Contains(metrics, "janitor_last_success_timestamp_seconds ") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(metrics, "janitor_last_success_timestamp_seconds ") {
		t.Errorf("%s: no successful run on /metrics\n%s\n%s", sp.where, grepLines(metrics, "janitor_"), logs())
	}
	for _, sh := range sp.cfg.Shards {
		if !strings.Contains(metrics, `janitor_shard_up{shard="`+sh.Name+`"} 1`) {
			t.Errorf("%s: /metrics: shard %s not up:\n%s", sp.where, sh.Name, grepLines(metrics, "janitor_shard_up"))
		}
		// Skipped: too young for the shipped min_age, or (MySQL) in use, when the other
		// shard, on the same sandbox server, was inspecting it at that moment.
		if !regexp.MustCompile(`janitor_tables_skipped\{reason="[a-z_]+",shard="` + regexp.QuoteMeta(sh.Name) + `"\} [1-9]`).MatchString(metrics) {
			t.Errorf("%s: /metrics: shard %s's leftover is not counted:\n%s", sp.where, sh.Name, grepLines(metrics, "janitor_tables_skipped"))
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Path == p {
				if code, body := get(p); code != http.StatusOK {
					t.Errorf("%s: %s answers %d %s", sp.where, p, code, body)
				}
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	grace := 30 * time.Second
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("%s: after SIGTERM: %v\n%s", sp.where, err, logs())
		}
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		t.Errorf("%s: still running %s after SIGTERM\n%s", sp.where, grace, logs())
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
