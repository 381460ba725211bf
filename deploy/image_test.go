package deploy

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	corev1 "k8s.io/api/core/v1"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/report"
)

// dockerfile is what the image test needs from deploy/Dockerfile.
type dockerfile struct {
	build      string            // the build stage's `go build …` command, as the RUN line has it
	copies     map[string]string // final stage: path in the image → path in the build stage
	uid, gid   int
	entrypoint []string
	cmd        []string
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{copies: map[string]string{}}
	copyFrom := regexp.MustCompile(`^COPY --from=build (\S+) (\S+)$`)
	user := regexp.MustCompile(`^USER (\d+):(\d+)$`)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build"):
			d.build = strings.TrimPrefix(line, "RUN ")
		case copyFrom.MatchString(line):
			m := copyFrom.FindStringSubmatch(line)
			d.copies[m[2]] = m[1]
		case user.MatchString(line):
			m := user.FindStringSubmatch(line)
			d.uid, _ = strconv.Atoi(m[1])
			d.gid, _ = strconv.Atoi(m[2])
		case strings.HasPrefix(line, "ENTRYPOINT "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "ENTRYPOINT ")), &d.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT is not an exec-form array: %v", err)
			}
		case strings.HasPrefix(line, "CMD "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "CMD ")), &d.cmd); err != nil {
				t.Fatalf("CMD is not an exec-form array: %v", err)
			}
		}
	}
	if d.build == "" || len(d.copies) == 0 || d.uid == 0 || len(d.entrypoint) == 0 || len(d.cmd) == 0 {
		t.Fatalf("Dockerfile: want a go build RUN line, COPY --from=build lines, a non-root USER uid:gid, ENTRYPOINT and CMD; got %+v", d)
	}
	return d
}

// TestImageRunsFromScratch builds janitor with the Dockerfile's own build command, lays
// out the final stage's files in an otherwise empty root (what FROM scratch gives), mounts
// the base CronJob's volumes there as kubelet lays them down (the ConfigMap, and the
// Secret's files owned by root, group fsGroup, in the mode kubelet gives them), and runs
// the container's command as the pod's user, group and supplementary groups against the
// sandbox primary, the DSN read from a dsn_file in the Secret, with nothing in the root
// writable. No Docker daemon or kubelet runs here; this checks what the image holds (a
// static binary that needs no libc, no /etc/passwd, no time-zone files and no writable
// disk) and that the manifest's user can read the files the manifest mounts.
func TestImageRunsFromScratch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot into the image's file tree (CI runs as root)")
	}
	d := parseDockerfile(t)
	cj := render(t, "kustomize/base").cronJobs[0]
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	ctr := pod.Containers[0]
	dsn := testdb.PrimaryDSN(t)
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, "orders")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+dbconn.QualifiedName(s, "__orders_old")+" (id INT PRIMARY KEY)")

	root := imageRoot(t, d, buildImage(t, d))

	// The pod's volumes. The container's --config names a file in the ConfigMap's mount;
	// its shard reads its DSN from a file in the Secret's mount.
	cfgPath := flagValue(t, ctr.Args, "--config")
	if d.cmd[len(d.cmd)-1] != cfgPath {
		t.Errorf("the Dockerfile's CMD reads %s, the manifests mount the configuration at %s", d.cmd[len(d.cmd)-1], cfgPath)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var cfgMount, secretMount *corev1.VolumeMount
	var secretVol *corev1.SecretVolumeSource
	for i, m := range ctr.VolumeMounts {
		switch v := volumes[m.Name]; {
		case v.ConfigMap != nil && strings.HasPrefix(cfgPath, m.MountPath+"/"):
			cfgMount = &ctr.VolumeMounts[i]
		case v.Secret != nil:
			secretMount, secretVol = &ctr.VolumeMounts[i], v.Secret
		}
	}
	if cfgMount == nil || secretMount == nil || cfgMount.SubPath != "" {
		t.Fatalf("the base CronJob must mount a ConfigMap directory holding %s and a Secret: %+v", cfgPath, ctr.VolumeMounts)
	}
	body := "shards:\n  - name: image\n    dsn_file: " + secretMount.MountPath + "/image.dsn\n" +
		"discovery:\n  schemas: [" + s + "]\npolicy:\n  min_age: 0s\n"
	fsGroup := pod.SecurityContext.FSGroup != nil
	layVolume(t, filepath.Join(root, cfgMount.MountPath), map[string]string{filepath.Base(cfgPath): body}, 0, 0o644, false)
	f := kubeletSecretFile(pod.SecurityContext, secretVol)
	layVolume(t, filepath.Join(root, secretMount.MountPath), map[string]string{"image.dsn": dsn + "\n"}, f.gid, f.mode, fsGroup)
	// Parents the runtime creates for mount points.
	for p := filepath.Dir(filepath.Join(root, secretMount.MountPath)); p != root; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// readOnlyRootFilesystem, as far as a non-root user can tell: nothing is writable.
	if err := os.Chmod(root, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(root, 0o755) })

	// The pod's environment, downward-API fields resolved as kubelet does.
	vars, order := containerEnv(t, "base CronJob", jobPod("janitor", "janitor-29000000", "job-uid-image", cj.Spec.JobTemplate.Spec.Template, -1), ctr, nil, false)
	env := []string{}
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	uid, gid, groups := podProcess(pod.SecurityContext)
	if uid == 0 || uid != d.uid {
		t.Errorf("the pod runs as uid %d, the image's USER is %d", uid, d.uid)
	}
	run := func(args ...string) (string, string, error) {
		c := exec.Command(args[0], args[1:]...)
		c.Dir = "/"
		c.Env = env
		cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, g := range groups {
			cred.Groups = append(cred.Groups, uint32(g))
		}
		c.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: cred}
		var so, se strings.Builder
		c.Stdout, c.Stderr = &so, &se
		err := c.Run()
		return so.String(), se.String(), err
	}
	so, se, err := run(append(d.entrypoint, "version")...)
	if err != nil || !strings.Contains(so, "image-test") {
		t.Fatalf("version in the image: %v\nstdout: %s\nstderr: %s", err, so, se)
	}
	so, se, err = run(append(d.entrypoint, ctr.Args...)...)
	if err != nil {
		t.Fatalf("the CronJob's command as uid %d gid %d groups %v, secret files %s owned 0:%d: %v\nstdout: %s\nstderr: %s",
			uid, gid, groups, f.mode, f.gid, err, so, se)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(so), &rep); err != nil {
		t.Fatalf("the CronJob's command does not write a JSON report: %v\n%s", err, so)
	}
	found := false
	for _, sh := range rep.Shards {
		for _, tb := range sh.Tables {
			found = found || (tb.Schema == s && tb.Table == "__orders_old" && tb.Verdict == "drop")
		}
	}
	if !found {
		t.Errorf("the image's report does not list the leftover:\n%s", so)
	}
	if pc, err := mysql.ParseDSN(dsn); err == nil && pc.Passwd != "" && strings.Contains(so+se, pc.Passwd) {
		t.Error("the DSN's password reached the output")
	}
}

// buildImage runs the Dockerfile's build stage here: the same go build command, writing
// to a temporary /out, which it returns.
func buildImage(t *testing.T, d dockerfile) string {
	t.Helper()
	out := t.TempDir()
	build := exec.Command("sh", "-c", strings.ReplaceAll(d.build, "/out/", out+"/"))
	build.Dir = ".."
	build.Env = append(os.Environ(), "VERSION=image-test")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", d.build, err, b)
	}
	return out
}

// imageRoot lays out the final stage in a new, otherwise empty root owned by root: only
// the files the Dockerfile copies, from the build stage's /out (out) or its own root.
func imageRoot(t *testing.T, d dockerfile, out string) string {
	t.Helper()
	root := t.TempDir()
	for dst, src := range d.copies {
		from := src
		if strings.HasPrefix(src, "/out/") {
			from = filepath.Join(out, strings.TrimPrefix(src, "/out/"))
		}
		copyFile(t, from, filepath.Join(root, dst))
	}
	if err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, 0, 0)
	}); err != nil {
		t.Fatal(err)
	}
	return root
}

// flagValue returns the value of --name in args.
func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("args %v have no %s", args, name)
	return ""
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatalf("the image copies %s: %v", from, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm()|0o444)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
